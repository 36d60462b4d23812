"""``xops sync audit``: the pure comparison, the window parsing, and the command against the simulator."""

from __future__ import annotations

import pytest

from xops_provider.models.timestamps import GraphTime
from xops_provider.sync_audit import compare, parse_since

NOW = GraphTime.parse("2026-03-10T12:00:00.0000000Z")
T0 = GraphTime.parse("2026-03-09T00:00:00.1234567Z")
T1 = T0.shift(seconds=60)
SINCE = GraphTime.parse("2026-03-08T00:00:00Z")


class TestParseSince:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            pytest.param("7d", NOW.shift(seconds=-7 * 86_400), id="days"),
            pytest.param("12h", NOW.shift(seconds=-12 * 3_600), id="hours"),
            pytest.param("30m", NOW.shift(seconds=-1_800), id="minutes"),
            pytest.param("1d12h", NOW.shift(seconds=-36 * 3_600), id="compound"),
            pytest.param("2026-03-01T00:00:00Z", GraphTime.parse("2026-03-01T00:00:00Z"), id="iso"),
            pytest.param(
                "2026-03-01T00:00:00.1234567Z",
                GraphTime(GraphTime.parse("2026-03-01T00:00:00Z").ticks + 1234567),
                id="iso-seven-digits",
            ),
        ],
    )
    def test_parses(self, text, expected):
        assert parse_since(text, now=NOW) == expected

    @pytest.mark.parametrize(
        "text",
        [pytest.param("", id="empty"), pytest.param("7w", id="weeks"), pytest.param("yesterday", id="word")],
    )
    def test_rejects(self, text):
        with pytest.raises(ValueError, match="ISO 8601 instant or a duration"):
            parse_since(text, now=NOW)


class TestCompare:
    def test_clean(self):
        report = compare(graph=[("1", T0), ("2", T1)], stored={"1": T0, "2": T1}, since=SINCE)
        assert report.clean
        assert report.counts() == {"missing": 0, "stale": 0, "extra": 0}
        assert (report.graph_count, report.stored_count) == (2, 2)

    def test_missing_stale_extra(self):
        report = compare(
            graph=[("10", T0), ("2", T1), ("3", T1)],
            stored={"2": T0, "3": T1, "4": T1, "old": SINCE.shift(seconds=-1)},
            since=SINCE,
        )
        assert (report.missing, report.stale, report.extra) == (["10"], ["2"], ["4"])
        assert not report.clean

    def test_stored_outside_window_is_not_extra(self):
        report = compare(graph=[], stored={"1": SINCE.shift(seconds=-0.0000001)}, since=SINCE)
        assert report.clean

    def test_store_ahead_of_listing_is_not_stale(self):
        report = compare(graph=[("1", T0)], stored={"1": T1}, since=SINCE)
        assert report.clean

    def test_repeated_listing_keeps_latest(self):
        report = compare(graph=[("1", T0), ("1", T1)], stored={"1": T0}, since=SINCE)
        assert report.stale == ["1"]
        assert report.graph_count == 1

    def test_seven_digit_difference_is_stale(self):
        report = compare(graph=[("1", GraphTime(T0.ticks + 1))], stored={"1": T0}, since=SINCE)
        assert report.stale == ["1"]

    def test_ids_sort_numerically(self):
        report = compare(graph=[(str(i), T0) for i in (100, 9, 20)], stored={}, since=SINCE)
        assert report.missing == ["9", "20", "100"]

    def test_render_samples_ids(self):
        report = compare(graph=[(str(i), T0) for i in range(1, 9)], stored={}, since=SINCE)
        text = report.render(sample=3)
        assert "missing: 8  [1, 2, 3 (+5 more)]" in text
        assert "stale: 0" in text
        assert "extra: 0" in text


@pytest.fixture
def store_url_env(tmp_path, monkeypatch):
    from tests.faults.helpers import store_conn_env

    url = f"sqlite:///{tmp_path}/stories.db"
    monkeypatch.setenv("AIRFLOW_CONN_XOPS_STORE", store_conn_env(url))
    return url


def _audit(capsys, *args: str) -> tuple[int, str, str]:
    from xops_provider.cli import main

    capsys.readouterr()
    code = main(["sync", "audit", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


class TestAuditCommand:
    @pytest.mark.simulator(scenario="generated", incidents=80, seed=61)
    def test_clean_after_sync(self, simulator, store_url_env, capsys):
        from tests.faults.helpers import synced

        synced(store_url_env)
        code, out, _ = _audit(capsys, "--integration", "default")
        assert code == 0, out
        assert "graph: 80  stored: 80" in out
        assert "missing: 0\nstale: 0\nextra: 0" in out

    @pytest.mark.simulator(scenario="generated", incidents=30, seed=62)
    def test_reports_missing_stale_and_extra(self, simulator, store_url_env, capsys):
        from tests.faults.helpers import synced

        synced(store_url_env)
        incidents = simulator.admin.incidents()
        simulator.admin.update_incident(incidents[0]["id"], severity="high")  # stale
        created = simulator.admin.create_incident()  # missing
        code, out, _ = _audit(capsys, "--integration", "default", "--since", "3650d")
        assert code == 3
        assert f"missing: 1  [{created['id']}]" in out
        assert f"stale: 1  [{incidents[0]['id']}]" in out
        assert "extra: 0" in out

        simulator.admin.load_scenario("empty")  # everything stored is now extra
        code, out, _ = _audit(capsys, "--integration", "default", "--since", "3650d")
        assert code == 3
        assert "extra: 30  [" in out
        assert "(+25 more)" in out

    @pytest.mark.simulator(scenario="generated", incidents=10, seed=63)
    def test_window_defaults_to_the_lookback_start(self, simulator, store_url_env, capsys):
        code, out, _ = _audit(capsys, "--integration", "never-synced")
        # Nothing stored and a 7-day default window: whatever Graph lists there is missing.
        assert code in (0, 3)
        assert "window: lastUpdateDateTime ge " in out

    def test_bad_since_is_a_usage_error(self, simulator, store_url_env, capsys):
        code, _, err = _audit(capsys, "--integration", "default", "--since", "last tuesday")
        assert code == 2
        assert "ISO 8601 instant or a duration" in err

    def test_unknown_connection_is_explained(self, simulator, store_url_env, capsys):
        code, _, err = _audit(capsys, "--integration", "default", "--conn-id", "no_such_tenant")
        assert code == 1
        assert "no_such_tenant" in err
        assert simulator.connection["password"] not in err

    def test_graph_error_is_explained_without_secret(self, simulator, store_url_env, capsys, monkeypatch):
        import json

        broken = {**simulator.connection, "password": "not-the-secret-123"}
        monkeypatch.setenv("AIRFLOW_CONN_BROKEN_TENANT", json.dumps(broken))
        code, out, err = _audit(capsys, "--integration", "default", "--conn-id", "broken_tenant")
        assert code == 1
        assert "not-the-secret-123" not in out + err
