"""DefenderIncidentsHook against the simulator: paging, failure translation, fallback, write-back."""

from __future__ import annotations

import json

import pytest

from xops_provider.hooks.defender import (
    DefenderIncidentsHook,
    _has_skip,
    _segment,
    _without_expand,
    incidents_filter,
)
from xops_provider.models.timestamps import GraphTime


class TestHelpers:
    def test_filter_keeps_seven_digits(self):
        since = GraphTime.parse("2026-03-01T10:00:33.1234567Z")
        assert incidents_filter(since) == "lastUpdateDateTime ge 2026-03-01T10:00:33.1234567Z"

    def test_filter_pads_to_seven_digits(self):
        assert incidents_filter(GraphTime.parse("2026-03-01T10:00:33.1Z")).endswith("33.1000000Z")

    @pytest.mark.parametrize(
        ("link", "expected"),
        [
            pytest.param(
                "https://g.example/v1.0/security/incidents?$top=50&$expand=alerts&$skip=50",
                "https://g.example/v1.0/security/incidents?$top=50&$skip=50",
                id="middle",
            ),
            pytest.param(
                "https://g.example/v1.0/security/incidents?%24expand=alerts&%24skiptoken=a%2Bb%3D%3D",
                "https://g.example/v1.0/security/incidents?%24skiptoken=a%2Bb%3D%3D",
                id="encoded-keeps-token-bytes",
            ),
            pytest.param(
                "https://g.example/v1.0/security/incidents?$top=5",
                "https://g.example/v1.0/security/incidents?$top=5",
                id="absent",
            ),
        ],
    )
    def test_without_expand(self, link, expected):
        assert _without_expand(link) == expected

    @pytest.mark.parametrize(
        ("link", "expected"),
        [
            pytest.param("https://g.example/x?$top=50&$skip=100", True, id="skip"),
            pytest.param("https://g.example/x?%24skip=100", True, id="encoded"),
            pytest.param("https://g.example/x?$skiptoken=abc", False, id="skiptoken"),
        ],
    )
    def test_has_skip(self, link, expected):
        assert _has_skip(link) is expected

    @pytest.mark.parametrize(
        "value",
        [pytest.param("", id="empty"), pytest.param("1/../2", id="path"), pytest.param("1?x", id="query")],
    )
    def test_segment_refuses_non_ids(self, value):
        with pytest.raises(ValueError, match="not an incident id"):
            _segment(value)

    def test_page_size_bounds(self):
        with pytest.raises(ValueError, match="page_size must be between 1 and 50"):
            DefenderIncidentsHook(page_size=51)

    def test_update_needs_a_field(self):
        with pytest.raises(ValueError, match="at least one field"):
            DefenderIncidentsHook().update_incident("1")

    def test_comment_cannot_be_empty(self):
        with pytest.raises(ValueError, match="cannot be empty"):
            DefenderIncidentsHook().add_comment("1", "  ")


@pytest.fixture
def hook(simulator):
    hook = DefenderIncidentsHook(backoff=0.01, max_retries=3)
    yield hook
    hook.close()


EPOCH = GraphTime.parse("2000-01-01T00:00:00Z")
LIST_ROUTE = "/v1.0/security/incidents"


def _decoded(page) -> list:
    return [json.loads(record) if isinstance(record, bytes) else record for record in page.incidents]


class TestPageSource:
    @pytest.mark.simulator(scenario="generated", incidents=120, seed=51)
    def test_query_pages_of_50_with_alerts_oldest_first(self, hook, simulator):
        page = hook.query(since=EPOCH)
        # Expanded pages keep each record as the JSON text Graph sent, for the store to keep as is.
        assert all(isinstance(raw, bytes) for raw in page.incidents)
        incidents = _decoded(page)
        assert len(incidents) == 50
        assert page.next_link
        times = [GraphTime.parse(i["lastUpdateDateTime"]) for i in incidents]
        assert times == sorted(times)
        assert all(isinstance(i["alerts"], list) for i in incidents)
        # Redirected incidents lose their alerts to the survivor; the others are expanded.
        assert all(i["alerts"] for i in incidents if i["status"] != "redirected")
        follow = _decoded(hook.follow(page.next_link))
        assert len(follow) == 50
        assert {i["id"] for i in follow}.isdisjoint({i["id"] for i in incidents})
        assert not hook.expand_fallback

    @pytest.mark.simulator(scenario="generated", incidents=30, seed=52)
    def test_since_is_inclusive_at_seven_digits(self, hook, simulator):
        incidents = simulator.admin.incidents()
        pivot = GraphTime.parse(incidents[10]["lastUpdateDateTime"])
        page = _decoded(hook.query(since=pivot))
        assert page[0]["id"] == incidents[10]["id"]
        later = _decoded(hook.query(since=GraphTime(pivot.ticks + 1)))
        assert incidents[10]["id"] not in {i["id"] for i in later}

    @pytest.mark.simulator(scenario="generated", incidents=60, seed=53, faults="expand500=1")
    def test_expand_failure_reads_alerts_per_incident(self, hook, simulator):
        page = hook.query(since=EPOCH)
        assert hook.expand_fallback
        expected = {i["id"]: [a["id"] for a in i["alerts"]] for i in simulator.admin.incidents()}
        records = _decoded(page)
        assert {i["id"]: [a["id"] for a in i["alerts"]] for i in records} == {
            i["id"]: expected[i["id"]] for i in records
        }
        # The rest of the run stays in the fallback: no further expanded request is tried.
        before = simulator.admin.count(status=500)
        hook.follow(page.next_link)
        assert simulator.admin.count(status=500) == before

    @pytest.mark.simulator(scenario="generated", incidents=5, seed=54, faults="503=100x,retry_after=0.01")
    def test_unavailable_is_raised_not_a_fallback(self, hook):
        from xops_provider.clients.errors import GraphServerError

        with pytest.raises(GraphServerError, match="status=503"):
            hook.query(since=EPOCH)
        assert not hook.expand_fallback

    @pytest.mark.simulator(scenario="generated", incidents=160, seed=55, faults="skip_ceiling=100")
    def test_listing_restarts_past_the_skip_ceiling(self, hook, simulator):
        listed = [i for i, _ in hook.iter_versions(since=EPOCH)]
        assert set(listed) == {i["id"] for i in simulator.admin.incidents()}


class TestReadsAndWriteBack:
    @pytest.mark.simulator(scenario="company-xyz")
    def test_get_incident(self, hook, simulator):
        incident_id = simulator.admin.incidents()[0]["id"]
        full = hook.get_incident(incident_id)
        assert full["id"] == incident_id
        assert full["alerts"]
        bare = hook.get_incident(incident_id, expand_alerts=False)
        assert "alerts" not in bare or not bare["alerts"]

    @pytest.mark.simulator(scenario="company-xyz")
    def test_update_and_comment(self, hook, simulator):
        incident_id = simulator.admin.incidents()[0]["id"]
        hook.update_incident(
            incident_id,
            status="resolved",
            classification="truePositive",
            determination="phishing",
            assigned_to="soc@contoso.com",
            custom_tags=["xops"],
            resolving_comment="Closed from XOps",
        )
        hook.add_comment(incident_id, "<b>escalated</b> by XOps")
        after = simulator.admin.incident(incident_id)
        assert after["status"] == "resolved"
        assert after["classification"] == "truePositive"
        assert after["assignedTo"] == "soc@contoso.com"
        assert after["customTags"] == ["xops"]
        assert any(c["comment"] == "<b>escalated</b> by XOps" for c in after["comments"])

    def test_unknown_incident_is_not_found(self, hook):
        from xops_provider.clients.errors import GraphNotFoundError

        with pytest.raises(GraphNotFoundError):
            hook.get_incident("999999999")


class TestFindUnseen:
    @pytest.mark.simulator(scenario="generated", incidents=25, seed=56)
    def test_newest_incident_does_not_wake_it_forever(self, hook, simulator, tmp_path):
        import datetime as dt

        from xops_provider.operators.ingest import ingest_incidents
        from xops_provider.store import Store
        from xops_provider.triggers.defender import probe_unseen

        store = Store.open(f"sqlite:///{tmp_path}/s.db")
        try:
            before = probe_unseen(hook, store, integration="u", lookback=dt.timedelta(days=3650))
            assert before.unseen
            assert before.watermark is None
            ingest_incidents(hook, store, integration="u", lookback=dt.timedelta(days=3650))
            idle = probe_unseen(hook, store, integration="u")
            assert idle.unseen == ()
            assert idle.watermark is not None
            newest = simulator.admin.incidents()[-1]["id"]
            simulator.admin.update_incident(newest, severity="high")
            woken = probe_unseen(hook, store, integration="u", top=2)
            assert len(woken.unseen) == 1
            assert woken.unseen[0].startswith(f"{newest}@")
            assert probe_unseen(hook, store, integration="u", ignore=woken.unseen).unseen == ()
        finally:
            store.close()


class TestProbeCost:
    """A check costs at most two Graph requests, whatever the tenant's volume (150 a minute per app
    and tenant are shared with the ingest)."""

    @pytest.mark.parametrize(
        "crowd",
        [
            pytest.param(0, id="quiet-overlap"),
            # A burst sharing the watermark: the overlap holds more than two pages of 50.
            pytest.param(120, id="bulk-overlap"),
        ],
    )
    @pytest.mark.simulator(scenario="generated", incidents=2000, seed=57)
    def test_two_requests_at_most_on_a_2000_incident_tenant(self, hook, simulator, tmp_path, crowd):
        import datetime as dt

        from xops_provider.operators.ingest import ingest_incidents
        from xops_provider.store import Store
        from xops_provider.triggers.defender import probe_unseen

        if crowd:
            simulator.admin.bulk_create(crowd)
        store = Store.open(f"sqlite:///{tmp_path}/s.db")

        def probe(**kwargs):
            simulator.admin.reset_counters()
            found = probe_unseen(hook, store, integration="p", **kwargs)
            assert simulator.admin.count(route=LIST_ROUTE) == found.requests
            return found

        try:
            first = probe(lookback=dt.timedelta(days=3650))
            assert first.unseen
            assert first.requests == 1  # before the first sync
            ingest_incidents(hook, store, integration="p", lookback=dt.timedelta(days=3650))
            watermark = store.sync.sync_state("p").watermark

            idle = probe()
            assert idle.unseen == ()
            assert idle.requests == 2

            late = simulator.admin.create_incident(lastUpdateDateTime=watermark.shift(seconds=-1).isoformat())
            arrived = probe()
            assert arrived.requests == 2
            if crowd:
                # Under a page of ties at the watermark: the overlap's count tells.
                assert len(arrived.unseen) == 1
                assert arrived.unseen[0].startswith(f"overlap@{watermark.ticks}#")
            else:
                assert arrived.unseen == (f"{late['id']}@{watermark.shift(seconds=-1).ticks}",)
            assert probe(ignore=arrived.unseen).unseen == ()

            ingest_incidents(hook, store, integration="p")
            assert probe().unseen == ()

            changed = simulator.admin.incidents()[0]["id"]
            simulator.admin.update_incident(changed, status="inProgress")
            woken = probe()
            assert woken.requests == 1
            assert len(woken.unseen) == 1
            assert woken.unseen[0].startswith(f"{changed}@")
        finally:
            store.close()
