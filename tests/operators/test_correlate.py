"""CorrelateOperator end to end: Company XYZ through the simulator, hunting and alerts_v2 over TLS."""

from __future__ import annotations

import json

import pytest

from tests.faults.helpers import store_conn_env, synced
from xops_provider.operators.correlate import CorrelateOperator
from xops_provider.simulator.scenarios.company_xyz import COMPANY_XYZ_CORRELATION_TRUTH as TRUTH
from xops_provider.store import Store
from xops_provider.stories.produce import produce

HUNTING_ROUTE = "/v1.0/security/runHuntingQuery"


@pytest.fixture
def correlated(simulator, tmp_path, monkeypatch):
    """Company XYZ ingested, produced and correlated once, in a real SQLite store."""
    url = f"sqlite:///{tmp_path}/stories.db"
    monkeypatch.setenv("AIRFLOW_CONN_XOPS_STORE", store_conn_env(url))
    synced(url)
    with Store.open(url) as store:
        produce(store.stories, integration="default", batch_size=50)
    simulator.admin.reset_counters()
    counts = CorrelateOperator(task_id="correlate").execute({})
    return url, counts


def _stories(url: str) -> list[dict]:
    with Store.open(url) as store:
        return [s for s in store.reads.iter_stories() if s.get("merged_into") is None]


@pytest.mark.simulator(scenario="company-xyz", seed=7)
class TestCompanyXyz:
    def test_clicked_through_and_blocked(self, correlated):
        url, _ = correlated
        clicks = [c for s in _stories(url) for c in s["correlation"]["clicks"]]
        through = {c["user"] for c in clicks if c.get("clicked_through")}
        blocked = {c["user"] for c in clicks if c.get("clicked_through") is False}
        assert through == set(TRUTH["clicked_through"])
        assert set(TRUTH["click_blocked"]) <= blocked
        assert not through & set(TRUTH["never_clicked"])

    def test_answers_cite_records(self, correlated):
        url, _ = correlated
        answered = [s["correlation"]["answers"] for s in _stories(url)]
        assert answered
        for answers in answered:
            assert set(answers) >= {"clicked", "related_activity", "broader_attack"}
            assert not any("has not run" in text for text in answers.values())
        assert any("bob.nguyen@companyxyz.com" in a["clicked"] for a in answered)

    def test_endpoint_detection_and_campaign(self, correlated):
        url, counts = correlated
        stories = _stories(url)
        alerts = {d["alert_id"] for s in stories for d in s["correlation"]["endpoint_detections"]}
        assert TRUTH["endpoint_alert_id"] in alerts
        campaigns = {s["correlation"].get("campaign_id") for s in stories} - {None}
        assert len(campaigns) == 1  # both waves, one campaign
        assert counts["campaigns"] == 1

    def test_hunting_is_batched_not_per_story(self, correlated, simulator):
        url, counts = correlated
        calls = simulator.admin.count(route=HUNTING_ROUTE)
        assert calls == counts["hunting_calls"]
        assert 0 < calls <= 5  # one query per table for every story at once
        assert len(_stories(url)) > 1

    def test_rerun_changes_nothing(self, correlated):
        url, _ = correlated
        before = json.dumps(_stories(url), sort_keys=True)
        again = CorrelateOperator(task_id="correlate").execute({})
        assert again["changed"] == 0
        assert json.dumps(_stories(url), sort_keys=True) == before

    def test_incident_update_keeps_the_correlation(self, correlated, simulator):
        url, _ = correlated
        bob = next(
            s for s in _stories(url) if "bob.nguyen@companyxyz.com" in json.dumps(s["correlation"]["clicks"])
        )
        simulator.admin.update_incident(bob["source_incident_id"], severity="high")
        synced(url)
        with Store.open(url) as store:
            produce(store.stories, integration="default", batch_size=50)
            rebuilt = store.reads.get_story(bob["story_id"])
        assert rebuilt["correlation"]["clicks"] == bob["correlation"]["clicks"]
        assert rebuilt["correlation"]["answers"] == bob["correlation"]["answers"]


@pytest.mark.simulator(scenario="company-xyz", seed=7)
class TestNetworkAndSources:
    def test_device_network_events_reach_the_domain(self, correlated):
        url, _ = correlated
        activity = [a for s in _stories(url) for a in s["correlation"]["network_activity"]]
        reached = {a.get("user") for a in activity if a.get("source") == "DeviceNetworkEvents"}
        assert reached == set(TRUTH["reached_domain_via_device"])

    def test_unconfigured_network_feed_is_named(self, correlated):
        url, _ = correlated
        answers = [s["correlation"]["answers"]["related_activity"] for s in _stories(url)]
        assert all("Cato" in text for text in answers if "Not known yet" in text)


class TestMissingPermissions:
    @pytest.mark.simulator(scenario="company-xyz", seed=7)
    def test_no_hunting_permission_still_succeeds_and_says_so(self, simulator, tmp_path, monkeypatch):
        url = f"sqlite:///{tmp_path}/stories.db"
        monkeypatch.setenv("AIRFLOW_CONN_XOPS_STORE", store_conn_env(url))
        synced(url)
        with Store.open(url) as store:
            produce(store.stories, integration="default", batch_size=50)
        simulator.admin.set_roles(simulator.client_id, ["SecurityIncident.Read.All"], revoke_tokens=True)
        counts = CorrelateOperator(task_id="correlate").execute({})
        assert counts["hunting_rows"] == 0
        texts = [s["correlation"]["answers"]["clicked"] for s in _stories(url)]
        assert texts
        assert all("Defender advanced hunting" in text for text in texts)


@pytest.mark.simulator(scenario="company-xyz", seed=7)
class TestShown:
    def test_stories_show_and_campaigns(self, correlated, capsys):
        from xops_provider.cli import main

        url, _ = correlated
        bob = next(s for s in _stories(url) if s["correlation"]["clicks"])
        assert main(["stories", "show", bob["story_id"]]) == 0
        out = capsys.readouterr().out
        for heading in ("Answers", "Clicks", "Endpoint detections", "Campaign"):
            assert heading in out
        assert main(["campaigns", "list"]) == 0
        listing = capsys.readouterr().out
        campaign_id = bob["correlation"]["campaign_id"]
        assert campaign_id in listing
        assert main(["campaigns", "show", campaign_id]) == 0
        shown = capsys.readouterr().out
        assert "bob.nguyen@companyxyz.com" in shown
        assert "Shared indicators" in shown


def _produced(simulator, tmp_path, monkeypatch) -> str:
    url = f"sqlite:///{tmp_path}/stories.db"
    monkeypatch.setenv("AIRFLOW_CONN_XOPS_STORE", store_conn_env(url))
    synced(url)
    with Store.open(url) as store:
        produce(store.stories, integration="default", batch_size=50)
    return url


@pytest.mark.simulator(scenario="company-xyz", seed=7)
class TestBadInput:
    def test_a_refused_query_is_quarantined_and_the_rest_goes_on(self, simulator, tmp_path, monkeypatch):
        from tests.faults.helpers import FAST_CLIENT
        from xops_provider.hooks.defender_evidence import DefenderEvidenceHook
        from xops_provider.operators.correlate import correlate

        url = _produced(simulator, tmp_path, monkeypatch)
        before = len(_stories(url))
        simulator.admin.set_faults("hunting_400=1x")
        hook = DefenderEvidenceHook(**FAST_CLIENT)
        with Store.open(url) as store:
            report = correlate(hook, store, integration="default")
            refused = [q for q in store.sync.quarantined("default") if q.kind == "hunting_query"]
        assert len(refused) == 1
        assert "injected error" in refused[0].reason
        assert report.hunting_calls > 1  # the other tables were still queried
        stories = _stories(url)
        assert len(stories) == before
        assert any("failed" in s["correlation"]["answers"]["clicked"] for s in stories) or any(
            s["correlation"]["clicks"] for s in stories
        )

    def test_a_429_storm_is_waited_out(self, simulator, tmp_path, monkeypatch):
        from tests.faults.helpers import FAST_CLIENT
        from xops_provider.hooks.defender_evidence import DefenderEvidenceHook
        from xops_provider.operators.correlate import correlate

        url = _produced(simulator, tmp_path, monkeypatch)
        simulator.admin.set_faults("hunting_429=12x,retry_after=0.01")
        waits: list[float] = []
        hook = DefenderEvidenceHook(**{**FAST_CLIENT, "max_retries": 3}, sleep=waits.append)
        with Store.open(url) as store:
            report = correlate(hook, store, integration="default")
        assert waits  # the client's retries ran out and the hook waited the quota out
        clicked = {
            c["user"] for s in _stories(url) for c in s["correlation"]["clicks"] if c.get("clicked_through")
        }
        assert clicked == set(TRUTH["clicked_through"])
        assert report.hunting_rows > 0
