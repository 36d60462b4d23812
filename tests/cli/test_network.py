"""``xops network import`` and ``xops network purge`` against a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.paths import REAL_FIXTURES
from xops_provider.cli import main, network
from xops_provider.store import Store
from xops_provider.store import tables as t
from xops_provider.store.evidence import NETWORK_EVENT_KIND, NETWORK_INTEGRATION

SEKOIA = REAL_FIXTURES / "network" / "cato_events_feed" / "records_sekoia.ndjson"
SAMPLES = Path(__file__).resolve().parents[1] / "store" / "network"
# Distinct events in the Sekoia export: one IPS event is in it twice.
SEKOIA_EVENTS = 10


@pytest.fixture
def store_env(store_url, monkeypatch):
    """The default store connection pointed at ``store_url``; the URL, to open it in the test."""
    from tests.faults.helpers import store_conn_env

    monkeypatch.setenv("AIRFLOW_CONN_XOPS_STORE", store_conn_env(store_url))
    monkeypatch.delenv("AIRFLOW__XOPS__NETWORK_RETENTION_DAYS", raising=False)
    return store_url


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["network", *argv])
    out, err = capsys.readouterr()
    return code, out.strip(), err


def all_events(url: str) -> list:
    """Every stored row, read plainly (not through the query under test)."""
    with Store.open(url) as store, store.engine.connect() as conn:
        return list(conn.execute(select(t.network_events).order_by(t.network_events.c.fact_key)))


class TestImport:
    @pytest.mark.parametrize("fmt", [pytest.param("cato", id="cato"), pytest.param("auto", id="auto")])
    def test_every_real_cato_record_imports_once(self, store_env, capsys, fmt):
        assert run(capsys, "import", str(SEKOIA), "--format", fmt)[:2] == (
            0,
            f"imported {SEKOIA_EVENTS}, duplicates 1, quarantined 0",
        )
        assert run(capsys, "import", str(SEKOIA))[:2] == (
            0,
            f"imported 0, duplicates {SEKOIA_EVENTS + 1}, quarantined 0",
        )

    @pytest.mark.parametrize(
        ("file", "fmt", "count"),
        [
            pytest.param("zeek_dns.log", "zeek-dns", 4, id="dns"),
            pytest.param("zeek_ssl.log", "zeek-ssl", 3, id="ssl"),
            pytest.param("zeek_dns.log", "auto", 4, id="dns-auto"),
            pytest.param("zeek_ssl.log", "auto", 3, id="ssl-auto"),
        ],
    )
    def test_zeek_samples_import(self, store_env, capsys, file, fmt, count):
        assert run(capsys, "import", str(SAMPLES / file), "--format", fmt)[:2] == (
            0,
            f"imported {count}, duplicates 0, quarantined 0",
        )
        assert {row.source for row in all_events(store_env)} == {file.removesuffix(".log")}

    def test_auto_reads_a_mixed_file_line_by_line(self, store_env, capsys, tmp_path):
        mixed = tmp_path / "mixed.log"
        mixed.write_bytes(
            b"\n".join(p.read_bytes() for p in (SEKOIA, SAMPLES / "zeek_dns.log", SAMPLES / "zeek_ssl.log"))
        )
        assert (
            run(capsys, "import", str(mixed))[1]
            == f"imported {SEKOIA_EVENTS + 7}, duplicates 1, quarantined 0"
        )
        assert {row.source for row in all_events(store_env)} == {"cato", "zeek_dns", "zeek_ssl"}

    def test_bad_lines_are_quarantined_with_their_reason_and_line(
        self, store_env, capsys, tmp_path, monkeypatch
    ):
        monkeypatch.setattr(network, "BATCH_LINES", 2)
        monkeypatch.setattr(network, "MAX_LINE_BYTES", 2000)
        good = (SAMPLES / "zeek_dns.log").read_bytes().splitlines()
        bad = {
            2: (b"{not json", "invalid JSON"),
            3: (b'{"ts": 1700000000, "uid": "Cx", "query": "\xff\xfe.example"}', "not UTF-8 text"),
            5: (b'{"uid": "Cy", "query": "a.example"}', "missing ts"),
            6: (
                b'{"ts": 1700000000, "uid": "Cz", "query": "b.example", "id.orig_h": "10.0.0.999"}',
                "not an IP",
            ),
            7: (b'{"hello": "world"}', "neither a Cato record nor a Zeek"),
            8: (b"[1, 2]", "not a JSON object"),
            9: (b'{"ts": 1700000000, "query": "' + b"x" * 3000 + b'"}', "longer than 2000 bytes"),
            10: (b'{"ts": 1700000000, "uid": "C\x00", "query": "c.example"}', "invalid JSON"),
            11: (b'{"ts": 1700000000, "uid": "Cw", "query": "d.example", "id.orig_h": 7}', "not an IP"),
        }
        lines = [
            good[0],
            bad[2][0],
            bad[3][0],
            good[1],
            bad[5][0],
            bad[6][0],
            bad[7][0],
            bad[8][0],
            bad[9][0],
        ]
        lines += [bad[10][0], bad[11][0], b"", good[2], b"   ", good[3]]
        path = tmp_path / "broken.log"
        path.write_bytes(b"\n".join(lines) + b"\n")

        code, out, _ = run(capsys, "import", str(path))
        assert (code, out) == (0, f"imported 4, duplicates 0, quarantined {len(bad)}")

        with Store.open(store_env) as store:
            records = store.sync.quarantined(NETWORK_INTEGRATION)
        by_line = {int(r.record_id.rsplit(":", 1)[1]): r for r in records}
        assert sorted(by_line) == sorted(bad)
        for number, (raw, reason) in bad.items():
            record = by_line[number]
            assert record.kind == NETWORK_EVENT_KIND
            assert record.record_id == f"broken.log:{number}"
            assert record.reason.startswith(f"line {number}: ")
            assert reason in record.reason
            assert "\x00" not in record.payload
        assert by_line[2].payload == "{not json"
        assert by_line[3].payload.startswith('{"ts": 1700000000, "uid": "Cx", "query": "\\xff\\xfe')
        assert len(by_line[9].payload) < 4100

        # A second import adds no event and no quarantine row.
        assert run(capsys, "import", str(path))[1] == f"imported 0, duplicates 4, quarantined {len(bad)}"
        with Store.open(store_env) as store:
            assert len(store.sync.quarantined(NETWORK_INTEGRATION)) == len(bad)

    def test_wrong_format_quarantines_every_line(self, store_env, capsys):
        assert run(capsys, "import", str(SAMPLES / "zeek_ssl.log"), "--format", "zeek-dns")[1] == (
            "imported 0, duplicates 0, quarantined 3"
        )
        with Store.open(store_env) as store:
            reasons = {r.reason.split(": ", 1)[1] for r in store.sync.quarantined(NETWORK_INTEGRATION)}
        assert reasons == {"zeek_dns: missing query"}

    def test_missing_file_fails_plainly(self, store_env, capsys, tmp_path):
        code, _, err = run(capsys, "import", str(tmp_path / "nowhere.log"))
        assert code == 1
        assert "no such file" in err
        assert "Traceback" not in err


class TestPurge:
    @pytest.fixture
    def imported(self, store_env, capsys):
        run(capsys, "import", str(SAMPLES / "zeek_dns.log"))
        run(capsys, "import", str(SAMPLES / "zeek_ssl.log"))
        return store_env

    def test_older_than_an_instant(self, imported, capsys):
        # Two lines of zeek_dns.log and one of zeek_ssl.log are before 22:15:00.
        code, out, _ = run(capsys, "purge", "--older-than", "2023-11-14T22:15:00Z")
        assert code == 0
        assert out == "purged 3 network events before 2023-11-14T22:15:00.0000000Z"
        assert len(all_events(imported)) == 4

    def test_default_is_the_retention_setting(self, imported, capsys, monkeypatch):
        monkeypatch.setenv("AIRFLOW__XOPS__NETWORK_RETENTION_DAYS", "36500")
        assert network.network_retention_days() == 36500
        assert run(capsys, "purge")[1].startswith("purged 0 network events before ")
        monkeypatch.delenv("AIRFLOW__XOPS__NETWORK_RETENTION_DAYS")
        assert network.network_retention_days() == network.DEFAULT_RETENTION_DAYS
        assert run(capsys, "purge")[1].startswith("purged 7 network events before ")
        assert all_events(imported) == []

    def test_a_duration(self, imported, capsys):
        assert run(capsys, "purge", "--older-than", "30d")[1].startswith("purged 7 network events before ")

    @pytest.mark.parametrize(
        ("argv", "retention", "message"),
        [
            pytest.param(["--older-than", "last tuesday"], None, "--older-than must be", id="unreadable"),
            pytest.param(["--older-than", "99999999d"], None, "out of range", id="before-year-one"),
            pytest.param([], "0", "network_retention_days must be a whole number", id="zero-retention"),
            pytest.param([], "a month", "network_retention_days", id="not-a-number"),
        ],
    )
    def test_unusable_cutoff_is_a_usage_error(self, imported, capsys, monkeypatch, argv, retention, message):
        if retention is not None:
            monkeypatch.setenv("AIRFLOW__XOPS__NETWORK_RETENTION_DAYS", retention)
        code, _, err = run(capsys, "purge", *argv)
        assert code == 2
        assert message in err
        assert len(all_events(imported)) == 7


class TestDetectSource:
    @pytest.mark.parametrize(
        ("record", "source"),
        [
            pytest.param({"fieldsMap": {}, "time": "1"}, "cato", id="cato-feed"),
            pytest.param({"event_type": "Security", "time": "1"}, "cato", id="cato-flat"),
            pytest.param({"ts": 1, "uid": "C", "query": "a.example"}, "zeek_dns", id="zeek-dns"),
            pytest.param({"ts": 1, "uid": "C", "server_name": "a.example"}, "zeek_ssl", id="zeek-ssl"),
        ],
    )
    def test_tells_the_source(self, record, source):
        assert network.detect_source(json.dumps(record)) == source
