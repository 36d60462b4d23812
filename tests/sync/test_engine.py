from __future__ import annotations

import datetime as dt
import json
import math
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.paths import REAL_GRAPH
from tests.sync.fakes import BASE, NOW, FakeGraph, backlog, snapshot, stored_heads
from xops_provider.models.timestamps import GraphTime
from xops_provider.store import LockTimeout, Store, TransientStoreError
from xops_provider.store.sync import SyncStore
from xops_provider.sync import Page, SyncReport, sync_incidents
from xops_provider.sync.records import page_end, parse_page, version_of


def texts(records: list[Any]) -> list[bytes]:
    """Records as a page holds them: each one's JSON text."""
    return [json.dumps(record).encode() for record in records]


REPO = Path(__file__).resolve().parents[2]


def reference_snapshot(graph: FakeGraph, tmp_path: Path) -> dict[str, Any]:
    """The store an uninterrupted run leaves (always on a fresh SQLite file)."""
    reference = Store.open(f"sqlite:///{tmp_path}/reference.db")
    try:
        sync_incidents(
            source=graph, repository=reference.sync, integration="default", tenant_id="tenant-a", now=NOW
        )
        return snapshot(reference)
    finally:
        reference.close()


def assert_complete(store: Store, graph: FakeGraph) -> None:
    """Every incident stored exactly once per version, its head at its latest version."""
    assert stored_heads(store) == graph.latest()


class TestParsePage:
    def test_valid_records_parse_once_with_their_facts(self):
        page = [
            {
                "id": " 12 ",
                "lastUpdateDateTime": "2026-03-01T10:00:00.12345678Z",
                "status": "Redirected",
                "redirectIncidentId": 13,
                "alerts": {"id": "a", "serviceSource": "MicrosoftDefenderForOffice365"},
            },
            {"id": 14, "lastUpdateDateTime": "2026-03-01T09:00:00Z", "alerts": []},
        ]
        batch = parse_page(texts(page))
        first, second = batch.versions
        assert (first.incident_id, first.status, first.redirect_incident_id, first.has_mdo_alert) == (
            "12",
            "redirected",
            "13",
            True,
        )
        assert first.last_update.isoformat() == "2026-03-01T10:00:00.1234567Z"
        assert json.loads(first.payload) == page[0]
        assert (second.incident_id, second.has_mdo_alert) == ("14", False)
        # The last record decides the keyset step; the latest one the watermark.
        assert page_end(page) == GraphTime.parse("2026-03-01T09:00:00Z")
        assert batch.latest == first.last_update

    def test_known_versions_are_counted_not_validated_again(self, monkeypatch):
        from xops_provider.sync import records as engine

        validated: list[Any] = []
        real = engine._parse_record
        monkeypatch.setattr(
            engine, "_parse_record", lambda record, payload: validated.append(record) or real(record, payload)
        )
        page = [
            {"id": 7, "lastUpdateDateTime": "2026-03-01T10:00:00Z"},
            {"id": "8", "lastUpdateDateTime": "2026-03-01T11:00:00Z"},
        ]
        known = {f"7@{GraphTime.parse('2026-03-01T10:00:00Z').ticks}"}
        batch = parse_page(texts(page), known=known)
        assert batch.rereads == 1
        assert [v.incident_id for v in batch.versions] == ["8"]
        assert validated == [page[1]]
        assert batch.latest == GraphTime.parse("2026-03-01T11:00:00Z")

    @pytest.mark.parametrize(
        ("records", "expected"),
        [
            pytest.param([], None, id="empty"),
            pytest.param([{"lastUpdateDateTime": "2026-03-01T00:00:01Z"}, "junk"], 10, id="skips-junk"),
            pytest.param(
                [{"lastUpdateDateTime": "2026-03-01T00:00:01Z"}, {"lastUpdateDateTime": "x"}], 10, id="bad"
            ),
            pytest.param([{"lastUpdateDateTime": None}], None, id="none"),
        ],
    )
    def test_page_end(self, records, expected):
        end = page_end(records)
        base = GraphTime.parse("2026-03-01T00:00:00Z")
        assert (None if end is None else (end.ticks - base.ticks) // 1_000_000) == expected

    @pytest.mark.parametrize(
        ("record", "record_id", "reason"),
        [
            pytest.param(["a"], None, "not a JSON object: got an array", id="array"),
            pytest.param("text", None, "not a JSON object: got a string", id="string"),
            pytest.param(None, None, "not a JSON object: got null", id="null"),
            pytest.param(
                {"lastUpdateDateTime": "2026-03-01T00:00:00Z"}, None, "id: Field required", id="no-id"
            ),
            pytest.param(
                {"id": "5", "lastUpdateDateTime": "yesterday"}, "5", "lastUpdateDateTime", id="bad-time"
            ),
            pytest.param(
                {"id": "6", "lastUpdateDateTime": ""}, "6", "lastUpdateDateTime is missing", id="blank-time"
            ),
            pytest.param(
                {"id": {"x": 1}, "lastUpdateDateTime": "2026-03-01T00:00:00Z"}, None, "id", id="id-object"
            ),
        ],
    )
    def test_malformed_records_are_quarantined_with_a_reason(self, record, record_id, reason):
        batch = parse_page(texts([record, {"id": "1", "lastUpdateDateTime": "2026-03-01T00:00:00Z"}]))
        [entry] = batch.quarantined
        assert entry.record_id == record_id
        assert reason in entry.reason
        assert [v.incident_id for v in batch.versions] == ["1"]


class TestWindow:
    def test_first_run_looks_back_then_reads_from_watermark_minus_overlap(self, graph, store, run_sync):
        graph.put("old", NOW.shift(seconds=-8 * 86_400))
        backlog(graph, 10)
        first = run_sync()
        assert graph.calls[0][1] == NOW.shift(seconds=-7 * 86_400)
        assert first.since == NOW.shift(seconds=-7 * 86_400).isoformat()
        assert (first.versions_stored, first.pages, first.requests) == (10, 1, 1)
        assert "old" not in stored_heads(store)
        watermark = BASE.shift(seconds=9)
        assert first.watermark == watermark.isoformat()

        graph.put("new", BASE.shift(seconds=100))
        second = run_sync(overlap=dt.timedelta(minutes=5))
        assert graph.calls[-1][1] == watermark.shift(seconds=-300)
        assert (second.versions_stored, second.duplicates) == (1, 10)
        state = store.sync.sync_state("default")
        assert state.watermark == BASE.shift(seconds=100)
        assert state.runs == 2
        del graph.records["old"]
        assert_complete(store, graph)

    def test_empty_listing(self, store, run_sync):
        report = run_sync()
        assert (report.pages, report.incidents_seen, report.watermark) == (1, 0, None)
        assert store.sync.sync_state("default").watermark is None

    def test_xcom_holds_only_counts_and_watermark(self, graph, run_sync):
        backlog(graph, 3)
        graph.put_raw("x", BASE, {"id": "evil", "lastUpdateDateTime": "<script>", "displayName": "s3cret"})
        xcom = run_sync().to_xcom()
        text = json.dumps(xcom)
        assert "script" not in text
        assert "s3cret" not in text
        assert set(xcom) == set(SyncReport.__dataclass_fields__)


class TestPaging:
    def test_keyset_paging_stays_within_request_budget(self, graph, store, run_sync):
        backlog(graph, 2000)
        report = run_sync()
        assert report.versions_stored == 2000
        minimum = math.ceil(2000 / graph.top)
        assert report.requests <= minimum * 1.05
        assert all(kind == "query" for kind, _, _ in graph.calls)
        assert_complete(store, graph)

    def test_tie_group_larger_than_a_page_follows_next_links(self, graph, store, run_sync):
        tie = BASE.shift(seconds=50)
        backlog(graph, 30)
        for n in range(150):
            graph.put(f"t{n:03d}", tie)
        backlog(graph, 100, start=BASE.shift(seconds=60), first_id=5000)
        report = run_sync()
        assert report.versions_stored == 280
        assert report.stalled_at == []
        follows = [(since, skip) for kind, since, skip in graph.calls if kind == "follow"]
        assert follows
        assert all(since == tie for since, _ in follows)
        assert_complete(store, graph)

    def test_skip_ceiling_below_backlog_is_never_hit(self, store, run_sync):
        graph = FakeGraph(skip_ceiling=100)
        backlog(graph, 1000)
        report = run_sync(source=graph)
        assert (report.versions_stored, report.restarts) == (1000, 0)
        assert_complete(store, graph)

    def test_tie_group_larger_than_skip_ceiling_is_reported_not_looped(self, store, run_sync):
        graph = FakeGraph(skip_ceiling=50)
        tie = BASE.shift(seconds=5)
        for n in range(150):
            graph.put(f"t{n:03d}", tie)
        backlog(graph, 100, start=BASE.shift(seconds=10))
        report = run_sync(source=graph)
        assert report.stalled_at == [tie.isoformat()]
        assert report.restarts == 1
        heads = stored_heads(store)
        # Everything after the group still arrives; of the group, what $skip could reach.
        assert sum(1 for key in heads if not key.startswith("t")) == 100
        assert sum(1 for key in heads if key.startswith("t")) == 100
        assert store.sync.sync_state("default").watermark == BASE.shift(seconds=109)

    def test_broken_chain_restarts_from_last_time_seen(self, graph, store, run_sync):
        tie = BASE.shift(seconds=5)
        for n in range(120):
            graph.put(f"t{n:03d}", tie)
        backlog(graph, 20, start=BASE.shift(seconds=10))
        graph.broken_links.add(f"https://graph.test/incidents?since={tie.ticks}&skip=50")
        report = run_sync()
        assert (report.restarts, report.stalled_at) == (1, [])
        assert report.versions_stored == 140
        assert_complete(store, graph)

    def test_updates_while_paging_are_not_missed(self, graph, store, run_sync):
        backlog(graph, 600)
        clock = [BASE.shift(seconds=1000)]
        listed: list[str] = []

        def update_some(g: FakeGraph) -> None:
            # Incidents already read jump to the end of the listing, as Graph's do.
            for incident_id in sorted(g.latest())[: len(g.calls) % 7]:
                clock[0] = clock[0].shift(seconds=1)
                g.put(incident_id, clock[0])
                listed.append(incident_id)

        graph.before_request = update_some
        report = run_sync()
        graph.before_request = None
        assert listed
        assert report.restarts == 0
        assert_complete(store, graph)
        latest = store.stories.incident_versions(tenant_id="tenant-a", incident_ids=sorted(set(listed)))
        for incident_id, versions in latest.items():
            assert versions[-1].payload == graph.records[incident_id][1]

    def test_update_inside_a_tie_group_while_it_is_paged(self, graph, store, run_sync):
        tie = BASE.shift(seconds=5)
        for n in range(150):
            graph.put(f"t{n:03d}", tie)
        backlog(graph, 20, start=BASE.shift(seconds=10))

        def update_once(g: FakeGraph) -> None:
            # Before the second page of the group: a member already read leaves it, so every later
            # member moves up one place and t050 slides under the offset already read.
            if len(g.calls) == 2:
                g.put("t010", BASE.shift(seconds=500))

        graph.before_request = update_once
        report = run_sync()
        graph.before_request = None
        assert report.rewalks == 1
        assert "t050" in stored_heads(store)
        assert_complete(store, graph)

    def test_rerun_reads_overlap_for_free(self, graph, store, run_sync):
        backlog(graph, 100, step_seconds=0.5)
        run_sync()
        before = snapshot(store)
        again = run_sync()
        # Every reread is a duplicate: the overlap window and the keyset steps' one-record overlap.
        assert again.versions_stored == 0
        assert again.duplicates == again.incidents_seen >= 100
        assert snapshot(store) == before


class TestQuarantine:
    def test_malformed_records_quarantined_rest_proceeds_and_rerun_adds_nothing(self, graph, store, run_sync):
        backlog(graph, 120)
        graph.put_raw("bad1", BASE.shift(seconds=3), ["not", "an", "object"])
        graph.put_raw("bad2", BASE.shift(seconds=60), {"lastUpdateDateTime": "2026-03-01T00:01:00Z"})
        graph.put_raw("bad3", BASE.shift(seconds=61), {"id": "77", "lastUpdateDateTime": "yesterday"})
        first = run_sync()
        assert (first.versions_stored, first.quarantined, first.newly_quarantined) == (120, 3, 3)
        second = run_sync()
        assert (second.quarantined, second.newly_quarantined) == (3, 0)
        records = store.sync.quarantined("default")
        assert len(records) == 3
        reasons = " | ".join(r.reason for r in records)
        assert "not a JSON object" in reasons
        assert "id: Field required" in reasons
        assert "lastUpdateDateTime" in reasons
        assert {r.record_id for r in records} == {None, "77"}
        assert json.loads(records[0].payload) == ["not", "an", "object"]
        assert_complete(store, graph)


class CrashingStore(SyncStore):
    """Fails inside the batch transaction, after the versions were inserted."""

    def __init__(self, *, engine: Any, crash_at: int, error: type[Exception] = RuntimeError) -> None:
        super().__init__(engine=engine)
        self.crash_at = crash_at
        self.error = error
        self.batches = 0

    def _save_state(self, conn: Any, **kwargs: Any) -> None:
        self.batches += 1
        if self.batches == self.crash_at:
            raise self.error("crash in the middle of a batch")
        super()._save_state(conn, **kwargs)


def crash_graph() -> FakeGraph:
    graph = FakeGraph()
    backlog(graph, 260)
    for n in range(70):
        graph.put(f"t{n:02d}", BASE.shift(seconds=100))
    graph.put_raw("bad", BASE.shift(seconds=150), {"id": "x", "lastUpdateDateTime": "garbage"})
    return graph


class TestCrashAndRerun:
    @pytest.mark.parametrize(
        "crash_at", [pytest.param(1, id="first-batch"), pytest.param(4, id="fourth-batch")]
    )
    def test_crash_inside_a_batch_then_rerun(self, store, tmp_path, crash_at):
        graph = crash_graph()
        crashing = CrashingStore(engine=store.engine, crash_at=crash_at)
        with pytest.raises(RuntimeError, match="crash in the middle"):
            sync_incidents(
                source=graph, repository=crashing, integration="default", tenant_id="tenant-a", now=NOW
            )
        sync_incidents(
            source=graph, repository=store.sync, integration="default", tenant_id="tenant-a", now=NOW
        )
        assert snapshot(store) == reference_snapshot(graph, tmp_path)

    @pytest.mark.parametrize(
        "fail_at", [pytest.param(2, id="second-request"), pytest.param(6, id="sixth-request")]
    )
    def test_source_failure_then_rerun(self, store, tmp_path, fail_at):
        graph = crash_graph()

        def fail(g: FakeGraph) -> None:
            if len(g.calls) + 1 == fail_at:
                raise ConnectionError("Graph went away")

        graph.before_request = fail
        with pytest.raises(ConnectionError):
            sync_incidents(
                source=graph, repository=store.sync, integration="default", tenant_id="tenant-a", now=NOW
            )
        graph.before_request = None
        sync_incidents(
            source=graph, repository=store.sync, integration="default", tenant_id="tenant-a", now=NOW
        )
        assert snapshot(store) == reference_snapshot(graph, tmp_path)

    def test_process_killed_mid_run_then_rerun(self, store_url, tmp_path):
        code = """
            import sys, time
            from tests.sync.test_engine import crash_graph
            from tests.sync.fakes import NOW
            from xops_provider.store import Store
            from xops_provider.sync import sync_incidents
            graph = crash_graph()
            def slow(g):
                print("request", flush=True)
                time.sleep(0.05)
            graph.before_request = slow
            sync_incidents(source=graph, repository=Store.open(sys.argv[1]).sync, integration="default",
                           tenant_id="tenant-a", now=NOW)
            print("finished", flush=True)
        """
        proc = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code), store_url],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4):
            assert proc.stdout.readline().strip() == "request"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        store = Store.open(store_url)
        try:
            assert 0 < store.reads.counts()["raw_versions"] < 331
            graph = crash_graph()
            sync_incidents(
                source=graph, repository=store.sync, integration="default", tenant_id="tenant-a", now=NOW
            )
            assert snapshot(store) == reference_snapshot(graph, tmp_path)
        finally:
            store.close()


class FlakyStore(SyncStore):
    """Raises a transient error on chosen batch attempts."""

    def __init__(self, *, engine: Any, failing_attempts: set[int]) -> None:
        super().__init__(engine=engine)
        self.failing_attempts = failing_attempts
        self.attempts = 0

    def commit_batch(self, **kwargs: Any) -> Any:
        self.attempts += 1
        if self.attempts in self.failing_attempts:
            raise TransientStoreError("store unavailable: OperationalError")
        return super().commit_batch(**kwargs)


class TestTransientFailures:
    def test_batches_are_retried_with_backoff(self, graph, store, tmp_path):
        backlog(graph, 200)
        flaky = FlakyStore(engine=store.engine, failing_attempts={2, 3})
        delays: list[float] = []
        report = sync_incidents(
            source=graph,
            repository=flaky,
            integration="default",
            tenant_id="tenant-a",
            now=NOW,
            retry_delays=(0.1, 0.2, 0.4),
            sleep=delays.append,
        )
        assert delays == [0.1, 0.2]
        assert report.retries == 2
        assert snapshot(store) == reference_snapshot(graph, tmp_path)

    def test_gives_up_when_retries_are_spent_and_rerun_completes(self, graph, store, tmp_path):
        backlog(graph, 200)
        flaky = FlakyStore(engine=store.engine, failing_attempts={2, 3, 4})
        with pytest.raises(TransientStoreError):
            sync_incidents(
                source=graph,
                repository=flaky,
                integration="default",
                tenant_id="tenant-a",
                now=NOW,
                retry_delays=(0.0, 0.0),
                sleep=lambda _s: None,
            )
        sync_incidents(
            source=graph, repository=store.sync, integration="default", tenant_id="tenant-a", now=NOW
        )
        assert snapshot(store) == reference_snapshot(graph, tmp_path)


class TestPostgresFaults:
    """PostgreSQL backends terminated and connections refused mid-run (the real server)."""

    def test_backends_terminated_between_and_inside_batches(self, pg_server, pg_store_url, tmp_path):
        name = pg_store_url.rsplit("/", 1)[1]
        graph = crash_graph()

        def terminate(g: FakeGraph) -> None:
            if len(g.calls) in (1, 3):
                pg_server.terminate_backends(name)

        class TerminatingStore(SyncStore):
            calls = 0

            def _save_state(self, conn: Any, **kwargs: Any) -> None:
                TerminatingStore.calls += 1
                if TerminatingStore.calls == 5:
                    pg_server.terminate_backends(name)
                super()._save_state(conn, **kwargs)

        graph.before_request = terminate
        store = Store.open(pg_store_url)
        terminating = TerminatingStore(engine=store.engine)
        try:
            report = sync_incidents(
                source=graph,
                repository=terminating,
                integration="default",
                tenant_id="tenant-a",
                now=NOW,
                sleep=lambda _s: None,
            )
            graph.before_request = None
            assert report.retries >= 1
            assert snapshot(store) == reference_snapshot(graph, tmp_path)
        finally:
            store.close()

    def test_refused_connections_are_retried(self, pg_server, pg_store_url, tmp_path):
        import psycopg

        name = pg_store_url.rsplit("/", 1)[1]
        graph = crash_graph()

        def allow(flag: bool) -> None:
            with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
                conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(flag).lower()}')

        def refuse(g: FakeGraph) -> None:
            if len(g.calls) == 2:
                allow(False)
                pg_server.terminate_backends(name)

        waits: list[float] = []

        def wait(seconds: float) -> None:
            waits.append(seconds)
            if len(waits) == 2:
                allow(True)

        graph.before_request = refuse
        store = Store.open(pg_store_url)
        try:
            report = sync_incidents(
                source=graph,
                repository=store.sync,
                integration="default",
                tenant_id="tenant-a",
                now=NOW,
                sleep=wait,
            )
            graph.before_request = None
            assert report.retries == 2
            assert snapshot(store) == reference_snapshot(graph, tmp_path)
        finally:
            allow(True)
            store.close()


class TestLockLoss:
    def test_lock_retaken_after_its_backend_was_terminated(self, pg_server, pg_store_url, tmp_path):
        name = pg_store_url.rsplit("/", 1)[1]
        graph = crash_graph()
        graph.before_request = lambda g: len(g.calls) == 2 and pg_server.terminate_backends(name)
        store = Store.open(pg_store_url)
        try:
            sync_incidents(
                source=graph, repository=store.sync, integration="default", tenant_id="tenant-a", now=NOW
            )
            graph.before_request = None
            assert snapshot(store) == reference_snapshot(graph, tmp_path)
        finally:
            store.close()

    def test_run_stops_when_another_process_took_the_lost_lock(self, pg_server, pg_store_url, tmp_path):
        import psycopg

        from xops_provider.store import LockLost
        from xops_provider.store.database import lock_key

        name = pg_store_url.rsplit("/", 1)[1]
        graph = crash_graph()
        rival: list[psycopg.Connection] = []

        def steal(g: FakeGraph) -> None:
            if len(g.calls) == 2:
                pg_server.terminate_backends(name)
                conn = psycopg.connect(pg_server.url(name), autocommit=True)
                conn.execute("SELECT pg_advisory_lock(%s)", (lock_key("sync:default"),))
                rival.append(conn)

        graph.before_request = steal
        store = Store.open(pg_store_url)
        try:
            with pytest.raises(LockLost, match="another process holds it"):
                sync_incidents(
                    source=graph, repository=store.sync, integration="default", tenant_id="tenant-a", now=NOW
                )
            rival[0].close()
            graph.before_request = None
            sync_incidents(
                source=graph, repository=store.sync, integration="default", tenant_id="tenant-a", now=NOW
            )
            assert snapshot(store) == reference_snapshot(graph, tmp_path)
        finally:
            store.close()


class TestConcurrentRuns:
    def test_two_processes_store_everything_once(self, store_url):
        code = """
            import json, sys, time
            from tests.sync.fakes import NOW, FakeGraph, backlog
            from xops_provider.store import Store
            from xops_provider.sync import sync_incidents
            graph = FakeGraph()
            backlog(graph, 400, step_seconds=0.5)
            graph.before_request = lambda g: time.sleep(0.02)
            store = Store.open(sys.argv[1])
            report = sync_incidents(
                source=graph, repository=store.sync, integration="default", tenant_id="tenant-a", now=NOW
            )
            print(json.dumps(report.to_xcom()))
        """
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", textwrap.dedent(code), store_url],
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outputs = [proc.communicate(timeout=300) for proc in procs]
        failed = [err for proc, (_, err) in zip(procs, outputs, strict=True) if proc.returncode]
        assert not failed, "\n---\n".join(failed)
        reports = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
        assert sum(r["versions_stored"] for r in reports) == 400
        # The lock serialised them: exactly one run started from the lookback window.
        assert sorted(r["since"] == NOW.shift(seconds=-7 * 86_400).isoformat() for r in reports) == [
            False,
            True,
        ]
        store = Store.open(store_url)
        try:
            assert store.reads.counts()["raw_versions"] == 400
            assert store.sync.sync_state("default").runs == 2
        finally:
            store.close()

    def test_lock_timeout(self, graph, store, run_sync):
        with store.sync.sync_lock("default"), pytest.raises(LockTimeout):
            run_sync(lock_timeout=0.3)
        # Another integration is not blocked.
        with store.sync.sync_lock("default"):
            assert run_sync(integration="other").pages == 1


class TestPageProtocol:
    def test_page_defaults(self):
        assert Page(incidents=[]).next_link is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=10,
)
REAL_INCIDENTS = json.loads((REAL_GRAPH / "incidents_expand_alerts_msdocs.json").read_text())["value"]
INCIDENT_KEYS = sorted(
    {key for incident in REAL_INCIDENTS for key in incident} | {"tags", "customTags", "comments"}
)
ALERT_KEYS = sorted(
    {key for incident in REAL_INCIDENTS for alert in incident.get("alerts") or [] for key in alert}
    | {"evidence", "comments", "serviceSource", "id"}
)


class TestEnvelope:
    """The sync validates only the fields it reads: its decisions and the facts it stores must be
    exactly those of the full model, whatever the other fields hold."""

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        base=st.sampled_from(REAL_INCIDENTS),
        incident_junk=st.dictionaries(st.sampled_from(INCIDENT_KEYS), json_values, max_size=3),
        alert_junk=st.dictionaries(st.sampled_from(ALERT_KEYS), json_values, max_size=3),
        evidence=json_values,
    )
    def test_same_decision_as_the_full_model(self, base, incident_junk, alert_junk, evidence):
        from pydantic import ValidationError

        from xops_provider.models.incident import Incident

        record = json.loads(json.dumps(base))
        record.update(incident_junk)
        if (
            isinstance(record.get("alerts"), list)
            and record["alerts"]
            and isinstance(record["alerts"][0], dict)
        ):
            record["alerts"][0].update(alert_junk)
            record["alerts"][0]["evidence"] = evidence
        try:
            full = Incident.model_validate(record)
        except ValidationError:
            full = None
        # A record received as JSON text is read through its envelope alone; decided the same way.
        text = json.dumps(record).encode()
        for received in (text,):
            batch = parse_page([received])
            if full is None:
                assert len(batch.quarantined) == 1
            else:
                [version] = batch.versions
                assert (
                    version.incident_id,
                    version.last_update,
                    version.status,
                    version.redirect_incident_id,
                    version.has_mdo_alert,
                ) == (full.id, full.last_update, full.status, full.redirect_incident_id, full.has_mdo_alert)
                assert json.loads(version.payload) == record
        if full is not None:
            assert version.payload == text.decode()

    @pytest.mark.parametrize(
        "alerts",
        [
            pytest.param([{"serviceSource": "x"}], id="alert-without-id"),
            pytest.param([7], id="alert-not-object"),
            pytest.param("text", id="alerts-text"),
            pytest.param({"id": "a", "evidence": "junk"}, id="lone-alert"),
            pytest.param([{"id": "a", "evidence": [1, "x", None], "comments": {"c": 1}}], id="junk-evidence"),
            pytest.param([{"id": {"x": 1}}], id="alert-id-object"),
        ],
    )
    def test_alert_shapes(self, alerts):
        from pydantic import ValidationError

        from xops_provider.models.incident import Incident

        record = {"id": "1", "lastUpdateDateTime": "2026-03-01T00:00:00Z", "alerts": alerts}
        try:
            Incident.model_validate(record)
            accepted = True
        except ValidationError:
            accepted = False
        assert (len(parse_page([json.dumps(record).encode()]).versions) == 1) is accepted


class TestRecordsAsText:
    """Expanded pages arrive as each record's JSON text (see ``CollectionPage``)."""

    def test_the_text_is_stored_exactly_as_received(self):
        text = (
            r'{"id": "9", "displayName": "Caf\u00e9 \u202e\u0000 Café", "lastUpdateDateTime": '
            '"2026-03-01T00:00:00.1234567Z", '
            '"alerts": [{"id": "a", "serviceSource": "MicrosoftDefenderForOffice365"}]}'
        )
        [version] = parse_page([text.encode()]).versions
        assert version.payload == text
        assert (version.incident_id, version.has_mdo_alert) == ("9", True)
        assert version.last_update == GraphTime.parse("2026-03-01T00:00:00.1234567Z")

    @pytest.mark.parametrize(
        ("text", "reason"),
        [
            pytest.param(b'{"id": "1", "x": "\xff"}', "not valid UTF-8 at byte 18", id="not-utf8"),
            pytest.param(b'{"id": "1", ', "not valid JSON", id="truncated"),
            pytest.param(b"null", "not a JSON object: got null", id="null"),
            pytest.param(b'["a"]', "not a JSON object: got an array", id="array"),
            pytest.param(b'{"lastUpdateDateTime": "2026-03-01T00:00:00Z"}', "id: Field required", id="no-id"),
        ],
    )
    def test_unreadable_text_is_quarantined_and_the_page_goes_on(self, text, reason):
        batch = parse_page([text, b'{"id": "2", "lastUpdateDateTime": "2026-03-01T00:00:00Z"}'])
        [entry] = batch.quarantined
        assert entry.reason.startswith(reason)
        assert entry.payload
        assert [v.incident_id for v in batch.versions] == ["2"]

    def test_what_only_a_lenient_parser_reads_is_still_accepted(self):
        # NaN is not JSON, but Python's parser (and so the store's readers) take it.
        [version] = parse_page(
            [b'{"id": "3", "lastUpdateDateTime": "2026-03-01T00:00:00Z", "x": NaN}']
        ).versions
        assert version.incident_id == "3"


class TestHostileRecords:
    def test_ids_no_database_can_key_are_quarantined_not_fatal(self, graph, store, run_sync):
        backlog(graph, 5)
        graph.put_raw(
            "long", BASE.shift(seconds=1.5), {"id": "9" * 300, "lastUpdateDateTime": BASE.isoformat()}
        )
        graph.put_raw(
            "nul", BASE.shift(seconds=2.5), {"id": "12\x0034", "lastUpdateDateTime": BASE.isoformat()}
        )
        graph.put_raw(
            "redirect",
            BASE.shift(seconds=3.5),
            {"id": "77", "lastUpdateDateTime": BASE.isoformat(), "redirectIncidentId": "x\x00"},
        )
        graph.put_raw(
            "status",
            BASE.shift(seconds=4.5),
            {"id": "78", "lastUpdateDateTime": BASE.isoformat(), "status": "s\x00" + "x" * 100},
        )
        report = run_sync()
        assert (report.versions_stored, report.quarantined) == (6, 3)
        assert {r.record_id for r in store.sync.quarantined("default")} == {"9" * 200, "1234", "77"}
        assert (
            store.sync.incident_heads(tenant_id="tenant-a", incident_ids=["78"])["78"].status
            == "s" + "x" * 63
        )

    def test_story_text_with_nul_is_stored(self, store):
        document = {
            "story_id": "mdo:t:1",
            "tenant_id": "t",
            "source_incident_id": "1",
            "title": "bad\x00title",
            "criticality": 3,
            "status": "Open",
            "verdict": "Malicious\x00",
            "entities": [
                {"type": "user\x00", "value": "a\x00@b.c", "roles": "not-a-list", "verdict": "x" * 50}
            ],
        }
        store.stories.save_stories(integration="d", stories=[document], produced_version_ids=[])
        assert store.reads.get_story("mdo:t:1")["title"] == "bad\x00title"
        assert store.reads.list_stories()[0]["title"] == "badtitle"
        assert store.reads.list_stories(entity=("user", "a@b.c"))[0]["story_id"] == "mdo:t:1"


class TestVersionOf:
    def test_versions_skip_unreadable(self):
        records = [
            {"id": "1", "lastUpdateDateTime": "2026-03-01T00:00:00Z"},
            {"id": 2, "lastUpdateDateTime": "2026-03-01T00:00:00.5Z"},
            {"id": "", "lastUpdateDateTime": "2026-03-01T00:00:00Z"},
            {"id": "3", "lastUpdateDateTime": "yesterday"},
            {"id": True, "lastUpdateDateTime": "2026-03-01T00:00:00Z"},
            "not a dict",
        ]
        assert [v[0] for record in records if (v := version_of(record))] == ["1", "2"]
