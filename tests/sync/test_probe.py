"""The new-version probe against the in-memory listing and a real store: bounded and exact."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.sync.fakes import BASE, NOW, FakeGraph, backlog, stored_heads
from xops_provider.store import Store
from xops_provider.sync import PROBE_PAGE_SIZE, UnseenProbe, find_unseen, sync_incidents

OVERLAP = dt.timedelta(minutes=5)


def probe(graph: FakeGraph, store: Store, **kwargs) -> UnseenProbe:
    """One check, the way ``probe_unseen`` wires it, that must cost at most two reads."""
    graph.calls.clear()

    def heads(incident_ids):
        found = store.sync.incident_heads(tenant_id="tenant-a", incident_ids=incident_ids)
        return {incident_id: head.last_update for incident_id, head in found.items()}

    found = find_unseen(
        source=graph,
        state=store.sync.sync_state("default"),
        stored_heads=heads,
        stored_count=lambda since, until: store.sync.count_heads(
            tenant_id="tenant-a", since=since, until=until
        ),
        now=NOW,
        overlap=OVERLAP,
        **kwargs,
    )
    assert found.requests == len(graph.calls) <= 2
    return found


def synced(graph: FakeGraph, store: Store) -> None:
    sync_incidents(source=graph, repository=store.sync, integration="default", tenant_id="tenant-a", now=NOW)


def anything_new(graph: FakeGraph, store: Store) -> bool:
    """The full comparison the probe stands for: every version of the next sync's window, one by one."""
    watermark = store.sync.sync_state("default").watermark
    heads = stored_heads(store)
    since = watermark.shift(seconds=-OVERLAP.total_seconds())
    return any(
        incident_id not in heads or heads[incident_id] < when
        for incident_id, when in graph.latest().items()
        if when >= since
    )


class TestBounded:
    def test_before_the_first_sync_one_read(self, graph, store):
        backlog(graph, 120)
        found = probe(graph, store)
        assert found.requests == 1
        assert len(found.unseen) == PROBE_PAGE_SIZE
        assert found.watermark is None

    def test_announced_newer_versions_fall_through_to_the_overlap(self, graph, store):
        backlog(graph, 80)
        synced(graph, store)
        watermark = store.sync.sync_state("default").watermark
        for n in range(60):
            graph.put(str(1000 + n), watermark.shift(seconds=1 + n))
        first = probe(graph, store)
        assert first.requests == 1
        assert len(first.unseen) == PROBE_PAGE_SIZE
        # All announced: the check reads the overlap and stops there; the ingest they queued reads the rest.
        again = probe(graph, store, ignore=first.unseen)
        assert again.requests == 2
        assert again.unseen == ()

    def test_a_late_arrival_under_a_crowded_watermark(self, graph, store):
        backlog(graph, 20)
        for n in range(3 * PROBE_PAGE_SIZE):
            graph.put(str(5000 + n), BASE.shift(seconds=3600))
        synced(graph, store)
        watermark = store.sync.sync_state("default").watermark
        assert probe(graph, store).unseen == ()
        graph.put("9001", watermark.shift(seconds=-1))
        found = probe(graph, store)
        assert found.unseen == (f"overlap@{watermark.ticks}#{3 * PROBE_PAGE_SIZE + 1}",)
        assert probe(graph, store, ignore=found.unseen).unseen == ()
        # A second one changes the count, and is announced in turn.
        graph.put("9002", watermark.shift(seconds=-2))
        assert probe(graph, store, ignore=found.unseen).unseen == (
            f"overlap@{watermark.ticks}#{3 * PROBE_PAGE_SIZE + 2}",
        )
        synced(graph, store)
        assert probe(graph, store).unseen == ()

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(
        backlog_size=st.integers(min_value=1, max_value=140),
        tie_group=st.integers(min_value=0, max_value=120),
        changed=st.lists(st.integers(min_value=0, max_value=139), max_size=3),
        late=st.lists(st.integers(min_value=0, max_value=300), max_size=3),
    )
    # Ties fill the overlap's newest page; the late arrival sits just under it.
    @example(backlog_size=1, tie_group=50, changed=[], late=[1])
    def test_says_what_the_full_comparison_says(
        self, tmp_path_factory, backlog_size, tie_group, changed, late
    ):
        graph = FakeGraph()
        store = Store.open(f"sqlite:///{tmp_path_factory.mktemp('probe')}/s.db")
        try:
            backlog(graph, backlog_size, step_seconds=2.0)
            crowd = BASE.shift(seconds=2.0 * backlog_size)
            for n in range(tie_group):
                graph.put(str(5000 + n), crowd)
            synced(graph, store)
            assert probe(graph, store).unseen == ()
            watermark = store.sync.sync_state("default").watermark
            ids = sorted(graph.latest())
            for n, index in enumerate(changed):
                graph.put(ids[index % len(ids)], watermark.shift(seconds=10 + n))
            for n, seconds_below in enumerate(late):
                graph.put(str(9000 + n), watermark.shift(seconds=-seconds_below))
            assert bool(probe(graph, store).unseen) is anything_new(graph, store)
        finally:
            store.close()
