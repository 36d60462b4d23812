"""Feed markers: a page's events and the marker after it are committed together, or not at all."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from xops_provider.correlation import NetworkEvent, parse_network_line
from xops_provider.models.timestamps import GraphTime
from xops_provider.store import tables as t
from xops_provider.store.evidence import NETWORK_EVENT_KIND, FeedMarkerMoved
from xops_provider.sync.ports import QuarantineEntry

T0 = GraphTime.parse("2026-03-09T10:00:00Z")
FEED = "cato_default/4172"


def event(name: str) -> NetworkEvent:
    record = {
        "event_id": name,
        "account_id": "4172",
        "event_time": T0.isoformat(),
        "domain_name": "a.example",
    }
    return parse_network_line("cato", json.dumps(record))


def count(store, table) -> int:
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def page(store, previous: str | None, marker: str, *names: str, bad: tuple[QuarantineEntry, ...] = ()):
    return store.evidence.add_feed_page(
        source="cato",
        feed_id=FEED,
        previous_marker=previous,
        marker=marker,
        events=[event(n) for n in names],
        quarantined=bad,
    )


class TestFeedMarkers:
    def test_no_marker_before_the_first_page(self, store):
        assert store.evidence.feed_marker(source="cato", feed_id=FEED) is None

    def test_pages_move_the_marker_with_their_events(self, store):
        assert page(store, None, "m1", "a", "b") == (2, 0)
        assert page(store, "m1", "m2", "c", "b") == (1, 1)
        assert store.evidence.feed_marker(source="cato", feed_id=FEED) == "m2"
        assert store.evidence.feed_marker(source="cato", feed_id="other/1") is None
        assert count(store, t.network_events) == 3
        with store.engine.connect() as conn:
            row = conn.execute(select(t.feed_markers)).one()
        assert (row.pages, row.events) == (2, 4)

    def test_bad_records_are_quarantined_with_the_page(self, store):
        bad = QuarantineEntry(kind=NETWORK_EVENT_KIND, record_id=None, reason="cato: bad ip", payload="{}")
        page(store, None, "m1", "a", bad=(bad,))
        with store.engine.connect() as conn:
            (row,) = conn.execute(select(t.quarantine)).all()
        assert (row.kind, row.reason) == (NETWORK_EVENT_KIND, "cato: bad ip")

    @pytest.mark.parametrize(
        ("previous", "stored"),
        [
            pytest.param(None, "m1", id="first-page-twice"),
            pytest.param("m0", "m1", id="stale-marker"),
        ],
    )
    def test_a_moved_marker_stores_nothing(self, store, previous, stored):
        page(store, None, "m1", "a")
        with pytest.raises(FeedMarkerMoved, match="marker moved"):
            page(store, previous, "m9", "z")
        assert store.evidence.feed_marker(source="cato", feed_id=FEED) == stored
        assert count(store, t.network_events) == 1  # "z" was rolled back with the marker
