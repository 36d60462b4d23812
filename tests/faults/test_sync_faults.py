"""The sync under faults, against the real simulator (HTTPS, MSAL) and real databases.

Every test ends the same way: ``xops sync audit`` reports 0 missing, 0 stale and 0 extra, and no
version or incident is stored twice.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.faults.helpers import (
    FAST_CLIENT,
    LOOKBACK,
    assert_clean,
    graph_heads,
    start_child,
    stored_heads,
    stored_versions,
    synced,
)
from xops_provider.hooks.defender import DefenderIncidentsHook
from xops_provider.models.timestamps import GraphTime
from xops_provider.operators.ingest import ingest_incidents
from xops_provider.store import Store
from xops_provider.store import tables as t


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/stories.db"


def _sync_with(url: str, hook: DefenderIncidentsHook, **kwargs):
    store = Store.open(url)
    try:
        return ingest_incidents(hook, store, integration="default", lookback=LOOKBACK, **kwargs)
    finally:
        store.close()


class TestThrottlingAndOutages:
    @pytest.mark.parametrize(
        "faults",
        [
            pytest.param("429=0.3,retry_after=0.01", id="429-storm-30pct"),
            pytest.param("503=0.2,retry_after=0.01", id="intermittent-503"),
        ],
    )
    def test_storm(self, simulator, sqlite_url, capsys, faults):
        simulator.admin.reset(scenario="generated", incidents=250, seed=31, faults=faults)
        hook = DefenderIncidentsHook(**FAST_CLIENT)
        report = _sync_with(sqlite_url, hook)
        assert report.versions_stored == 250
        assert hook.get_graph_client().counters.throttled_waits > 0
        assert not hook.expand_fallback  # a 503 storm is not an expansion failure
        simulator.admin.clear_faults()
        assert_clean(sqlite_url, capsys=capsys)


class TestTokens:
    def test_token_revoked_mid_paging(self, simulator, sqlite_url, capsys):
        simulator.admin.reset(scenario="generated", incidents=200, seed=32)

        class RevokingHook(DefenderIncidentsHook):
            """Revokes every token after the second page: the next request meets a 401."""

            pages = 0

            def query(self, *, since: GraphTime):
                self.pages += 1
                if self.pages == 3:
                    assert simulator.admin.revoke_tokens() >= 1
                return super().query(since=since)

        hook = RevokingHook(**FAST_CLIENT)
        report = _sync_with(sqlite_url, hook)
        assert report.versions_stored == 200
        # The token cache is process-wide: an earlier test's token may be refused too.
        assert hook.get_graph_client().counters.token_refreshes >= 1
        assert simulator.admin.count(status=401) >= 1
        assert_clean(sqlite_url, capsys=capsys)

    def test_token_lifetime_of_seconds(self, simulator, sqlite_url, capsys):
        simulator.admin.reset(scenario="generated", incidents=200, seed=33, faults="slow=300ms")
        simulator.admin.set_token_lifetime(1)
        report = synced(sqlite_url)
        assert report.versions_stored == 200
        simulator.admin.clear_faults()
        assert_clean(sqlite_url, capsys=capsys)


class TestExpandFailure:
    def test_persistent_500_on_expand_falls_back(self, simulator, sqlite_url, capsys):
        # Every page holding an incident with more than one alert fails when expanded.
        simulator.admin.reset(scenario="generated", incidents=120, seed=34, faults="expand500=1")
        hook = DefenderIncidentsHook(**FAST_CLIENT)
        report = _sync_with(sqlite_url, hook)
        assert report.versions_stored == 120
        assert hook.expand_fallback
        assert hook.fallback_pages >= 3
        # The alerts read one incident at a time are the same as Graph's expansion.
        expected = {
            i["id"]: sorted(a["id"] for a in i.get("alerts") or []) for i in simulator.admin.incidents()
        }
        store = Store.open(sqlite_url, migrate=False)
        with store.engine.connect() as conn:
            rows = conn.execute(
                select(t.raw_incident_versions.c.incident_id, t.raw_incident_versions.c.payload)
            )
            got = {row[0]: sorted(a["id"] for a in json.loads(row[1]).get("alerts") or []) for row in rows}
        store.close()
        assert got == expected
        simulator.admin.clear_faults()
        assert_clean(sqlite_url, capsys=capsys)


class TestPaging:
    def test_150_incidents_share_one_timestamp_across_pages(self, simulator, sqlite_url, capsys):
        simulator.admin.reset(scenario="generated", incidents=40, seed=35)
        tie = GraphTime.parse(simulator.admin.incidents()[-1]["lastUpdateDateTime"]).shift(seconds=1)
        tied = simulator.admin.bulk_create(150, last_update=tie.isoformat())
        simulator.admin.bulk_create(30)  # later than the tie
        report = synced(sqlite_url)
        assert report.versions_stored == 220
        assert report.stalled_at == []
        heads = stored_heads(sqlite_url)
        assert all(heads[i] == tie.ticks for i in tied["ids"])
        assert_clean(sqlite_url, capsys=capsys)

    def test_skip_ceiling_lower_than_the_backlog(self, simulator, sqlite_url, capsys):
        simulator.admin.reset(scenario="generated", incidents=400, seed=36, faults="skip_ceiling=100")
        report = synced(sqlite_url)
        assert report.versions_stored == 400
        assert report.stalled_at == []
        # The audit lists the whole window with nextLinks and meets the ceiling itself.
        assert_clean(sqlite_url, capsys=capsys)

    def test_skip_ceiling_is_translated(self, simulator):
        simulator.admin.reset(scenario="generated", incidents=5, seed=37, faults="skip_ceiling=100")
        from xops_provider.sync import SkipCeilingReached

        hook = DefenderIncidentsHook(**FAST_CLIENT)
        link = f"{simulator.base_url}/v1.0/security/incidents?$top=50&$skip=100"
        with pytest.raises(SkipCeilingReached, match="cannot exceed"):
            hook.follow(link)

    def test_foreign_next_link_breaks_the_chain(self, simulator):
        from xops_provider.sync import BrokenChain

        hook = DefenderIncidentsHook(**FAST_CLIENT)
        with pytest.raises(BrokenChain, match="refusing to send the Graph token"):
            hook.follow("https://attacker.example/v1.0/security/incidents?$skip=50")

    def test_incidents_updated_and_merged_while_paging(self, simulator, sqlite_url, capsys):
        simulator.admin.reset(scenario="generated", incidents=300, seed=38, faults="slow=40ms")
        ids = [i["id"] for i in simulator.admin.incidents()]
        stop = threading.Event()
        changed: list[str] = []

        def churn() -> None:
            # Touch the oldest incidents first: they jump to the end of the listing mid-run.
            for n, incident_id in enumerate(ids[:60]):
                if stop.is_set():
                    return
                if n % 10 == 9:
                    simulator.admin.merge(incident_id, into=ids[n - 1])
                else:
                    simulator.admin.update_incident(incident_id, severity="high")
                changed.append(incident_id)
                time.sleep(0.01)

        worker = threading.Thread(target=churn)
        worker.start()
        try:
            synced(sqlite_url)
        finally:
            stop.set()
            worker.join()
        assert changed
        # Changes made after the run passed them are the next run's to read.
        synced(sqlite_url)
        simulator.admin.clear_faults()
        assert stored_heads(sqlite_url) == graph_heads(simulator.admin)
        assert_clean(sqlite_url, capsys=capsys)


class TestCrash:
    def test_sigkill_mid_batch_then_rerun(self, simulator, tmp_path, capsys):
        simulator.admin.reset(scenario="generated", incidents=600, seed=39, faults="slow=80ms")
        crashed = f"sqlite:///{tmp_path}/crashed.db"
        child = start_child("tests.faults.ingest_child", crashed)
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and child.poll() is None:
                if _batches(tmp_path / "crashed.db") >= 3:
                    break
                time.sleep(0.05)
            assert child.poll() is None, "the ingest ended before it could be killed"
            child.send_signal(signal.SIGKILL)
            assert child.wait(timeout=30) == -signal.SIGKILL
        finally:
            if child.poll() is None:
                child.kill()
            child.communicate()
        partial = stored_versions(crashed)
        assert 0 < len(partial) < 600

        simulator.admin.clear_faults()
        synced(crashed)  # the rerun
        uninterrupted = f"sqlite:///{tmp_path}/uninterrupted.db"
        synced(uninterrupted)
        assert stored_versions(crashed) == stored_versions(uninterrupted)
        assert stored_heads(crashed) == stored_heads(uninterrupted)
        assert_clean(crashed, capsys=capsys)


def _batches(path: Path) -> int:
    if not path.exists():
        return 0
    import sqlite3

    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as conn:
            row = conn.execute("SELECT batches FROM sync_state WHERE integration = 'default'").fetchone()
    except sqlite3.Error:
        return 0
    return int(row[0]) if row else 0


@pytest.mark.postgres
class TestPostgresOutage:
    def test_backends_terminated_and_refused_mid_run(self, simulator, pg_server, pg_template, capsys):
        simulator.admin.reset(scenario="generated", incidents=400, seed=40, faults="slow=100ms")
        name = pg_server.create(template=pg_template)
        url = pg_server.url(name)
        stop = threading.Event()
        terminated: list[int] = []

        def outage() -> None:
            import psycopg
            from psycopg import sql

            while not stop.wait(0.25):
                with psycopg.connect(pg_server.admin_url, autocommit=True) as admin:
                    # Refuse new connections to our own test database only, and drop the live ones.
                    admin.execute(
                        sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(sql.Identifier(name))
                    )
                    terminated.append(pg_server.terminate_backends(name))
                    time.sleep(0.1)
                    admin.execute(
                        sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(sql.Identifier(name))
                    )

        worker = threading.Thread(target=outage)
        worker.start()
        try:
            hook = DefenderIncidentsHook(**FAST_CLIENT)
            report = _sync_with(url, hook, retry_delays=(0.1,) * 30)
        finally:
            stop.set()
            worker.join()
        try:
            assert report.versions_stored + report.duplicates >= 400
            assert sum(terminated) > 0, "the outage never hit the run"
            simulator.admin.clear_faults()
            assert_clean(url, capsys=capsys)
            assert len(stored_heads(url)) == 400
        finally:
            pg_server.drop(name)
