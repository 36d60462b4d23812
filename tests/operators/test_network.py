"""CatoEventsOperator: the simulator's Cato feed over TLS into a real SQLite store, checked against the
simulator's own records."""

from __future__ import annotations

import json
import logging

import pytest
from airflow.sdk.exceptions import AirflowNotFoundException, AirflowSkipException
from sqlalchemy import select

from tests.faults.helpers import store_conn_env, synced
from tests.fixtures.simulator import cato_connection_of
from xops_provider.clients.cato import CatoClient
from xops_provider.correlation.facts import FactError
from xops_provider.correlation.network_feeds import parse_cato_record
from xops_provider.operators.correlate import CorrelateOperator
from xops_provider.operators.network import CatoEventsOperator, CatoFeedFailed, pull_cato_events
from xops_provider.simulator.scenarios.company_xyz import COMPANY_XYZ_CORRELATION_TRUTH as TRUTH
from xops_provider.store import Store
from xops_provider.store import tables as t
from xops_provider.store.evidence import NETWORK_EVENT_KIND
from xops_provider.stories.produce import produce

FEED_ID = "cato_default/4172"
BAD_RECORD = {"fieldsMap": {"event_type": "Internet Firewall", "src_ip": "999.1.1.1", "internalId": "bad-1"}}


@pytest.fixture
def store_url(tmp_path, monkeypatch) -> str:
    """A SQLite store file, as the default ``xops_store`` connection."""
    url = f"sqlite:///{tmp_path}/stories.db"
    monkeypatch.setenv("AIRFLOW_CONN_XOPS_STORE", store_conn_env(url))
    return url


def truth_keys(admin) -> set[str]:
    """The fact keys of every record the simulator's feed holds that parses."""
    keys = set()
    for record in admin.cato_events(limit=100_000):
        try:
            keys.add(parse_cato_record(record).fact_key)
        except FactError:
            continue
    return keys


def stored_keys(url: str) -> list[str]:
    with Store.open(url, migrate=False) as store, store.engine.connect() as conn:
        return list(
            conn.execute(
                select(t.network_events.c.fact_key).where(t.network_events.c.source == "cato")
            ).scalars()
        )


def pull() -> dict[str, int]:
    return CatoEventsOperator(task_id="pull_network_events").execute({})


class TestPull:
    def test_every_event_once_with_markers(self, simulator, cato_connection, store_url):
        simulator.admin.set_faults("cato_page=7")
        simulator.admin.generate_network_events(100, seed=5, cato=True, device=False)
        simulator.admin.add_cato_events([BAD_RECORD])
        counts = pull()
        assert counts["pages"] == 15  # 101 records, 7 a page
        assert (counts["fetched"], counts["added"], counts["duplicates"], counts["quarantined"]) == (
            101,
            100,
            0,
            1,
        )
        keys = stored_keys(store_url)
        assert len(keys) == len(set(keys)) == 100
        assert set(keys) == truth_keys(simulator.admin)
        with Store.open(store_url) as store:
            assert store.evidence.feed_marker(source="cato", feed_id=FEED_ID)
            with store.engine.connect() as conn:
                (bad,) = conn.execute(select(t.quarantine)).all()
        assert bad.kind == NETWORK_EVENT_KIND
        assert "src_ip is not an IP address" in bad.reason
        assert "bad-1" in bad.payload

    def test_rerun_reads_only_what_arrived_since(self, simulator, cato_connection, store_url):
        simulator.admin.set_faults("cato_page=10")
        simulator.admin.generate_network_events(25, seed=6, cato=True, device=False)
        assert pull()["added"] == 25
        assert pull()["pages"] == 0  # caught up: nothing read twice
        # Records of their own: a second generated batch may repeat the first one's ids and times.
        simulator.admin.add_cato_events(
            [
                {"fieldsMap": {"internalId": f"late-{n}", "account_id": "4172", "domain_name": "a.example"}}
                for n in range(4)
            ]
        )
        again = pull()
        assert (again["pages"], again["fetched"], again["added"], again["duplicates"]) == (1, 4, 4, 0)
        assert set(stored_keys(store_url)) == truth_keys(simulator.admin)

    def test_counts_only_in_the_xcom(self, simulator, cato_connection, store_url):
        simulator.admin.generate_network_events(3, seed=8, cato=True, device=False)
        counts = pull()
        assert set(counts) == {
            "pages",
            "fetched",
            "added",
            "duplicates",
            "quarantined",
            "requests",
            "retries",
        }
        assert all(isinstance(v, int) for v in counts.values())


class TestConfiguration:
    def test_skipped_without_the_default_connection(self, simulator, store_url, monkeypatch):
        monkeypatch.delenv("AIRFLOW_CONN_CATO_DEFAULT", raising=False)
        with pytest.raises(AirflowSkipException, match="Cato is not configured"):
            pull()

    def test_a_named_connection_that_is_missing_fails(self, simulator, store_url):
        with pytest.raises(AirflowNotFoundException):
            CatoEventsOperator(task_id="pull", cato_conn_id="cato_missing").execute({})

    def test_bad_key_fails_clearly_without_the_key(self, simulator, store_url, monkeypatch, caplog):
        connection = {**cato_connection_of(simulator), "password": "wrong-key-0123456789"}
        monkeypatch.setenv("AIRFLOW_CONN_CATO_DEFAULT", json.dumps(connection))
        caplog.set_level(logging.DEBUG)
        with pytest.raises(CatoFeedFailed, match="permission denied") as raised:
            pull()
        assert "API key" in str(raised.value)
        for text in (str(raised.value), caplog.text):
            assert "wrong-key-0123456789" not in text
            assert simulator.cato["api_key"] not in text


class TestCatoErrors:
    def test_rate_limit_errors_are_retried_and_nothing_is_lost(self, simulator, cato_connection, store_url):
        simulator.admin.set_faults("cato_page=9,cato_error=0.3")
        simulator.admin.generate_network_events(120, seed=9, cato=True, device=False)
        client = _client(simulator, max_retries=10)
        with Store.open(store_url) as store:
            report = pull_cato_events(client, store, feed_id=FEED_ID)
        assert report.retries > 0
        assert (report.added, report.duplicates) == (120, 0)
        assert set(stored_keys(store_url)) == truth_keys(simulator.admin)

    def test_a_lasting_error_fails_and_the_rerun_resumes(self, simulator, cato_connection, store_url, caplog):
        simulator.admin.set_faults("cato_page=10")
        simulator.admin.generate_network_events(50, seed=10, cato=True, device=False)
        with Store.open(store_url) as store:
            first = pull_cato_events(_client(simulator), store, feed_id=FEED_ID, max_pages=2)
            simulator.admin.set_faults("cato_page=10,cato_error=1.0")
            with pytest.raises(CatoFeedFailed, match="rate limit for operation: eventsFeed reached"):
                pull_cato_events(_client(simulator, max_retries=2), store, feed_id=FEED_ID)
        assert first.added == 20
        simulator.admin.set_faults("cato_page=10")
        caplog.set_level(logging.ERROR)
        counts = pull()
        assert (counts["added"], counts["duplicates"]) == (30, 0)
        assert set(stored_keys(store_url)) == truth_keys(simulator.admin)


def _client(simulator, **kwargs) -> CatoClient:
    cato = simulator.cato
    return CatoClient(
        endpoint=cato["endpoint"],
        api_key=cato["api_key"],
        account_id=cato["account_id"],
        verify=cato["verify"],
        **{"backoff": 0.01, **kwargs},
    )


@pytest.mark.simulator(scenario="company-xyz", seed=7)
class TestCorrelationThroughCato:
    def test_bob_reached_the_phishing_domain_via_cato(self, simulator, cato_connection, store_url):
        synced(store_url)
        with Store.open(store_url) as store:
            produce(store.stories, integration="default", batch_size=50)
        counts = pull()
        assert counts["added"] == len(simulator.admin.cato_events())
        CorrelateOperator(task_id="correlate").execute({})
        with Store.open(store_url) as store:
            stories = [s for s in store.reads.iter_stories() if s.get("merged_into") is None]
        activity = [a for s in stories for a in s["correlation"]["network_activity"]]
        reached = {
            a["user"] for a in activity if a["source"] == "cato" and a["reached"] and a["towards_email"]
        }
        assert reached == set(TRUTH["reached_domain_via_cato"])
        answers = [s["correlation"]["answers"]["related_activity"] for s in stories]
        assert not any("Cato events feed is not configured" in text for text in answers)
        assert any("Cato events feed" in text for text in answers)
