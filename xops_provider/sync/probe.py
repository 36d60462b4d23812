"""The new-version probe: does Graph hold an incident version the store has not stored yet?

The deferrable sensor and both triggers ask it. It reads the window the next sync would read
(:func:`~xops_provider.sync.engine.window_start`), without alerts, and stops at the first page that
holds a version newer than the store's head of that incident, so the newest incident, once stored,
no longer counts, while ties at the watermark and late arrivals below it still do.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from xops_provider.models.timestamps import GraphTime
from xops_provider.sync.engine import DEFAULT_LOOKBACK, DEFAULT_OVERLAP, window_start
from xops_provider.sync.ports import Page, SyncState
from xops_provider.sync.records import read_records, version_of

#: The probe reads small pages: when idle, the window holds only the overlap.
PROBE_PAGE_SIZE = 10


class ProbeSource(Protocol):
    """Where the probe reads the listing (the Defender hook)."""

    def probe_page(self, *, since: GraphTime, top: int) -> Page:
        """The window's first page, without alerts."""
        ...

    def follow(self, next_link: str) -> Page:
        """The page a nextLink names."""
        ...


@dataclass(frozen=True)
class UnseenProbe:
    """What :func:`find_unseen` found.

    :param since: the window's start that was read.
    :param watermark: the integration's watermark, ``None`` before its first sync.
    :param checked: incidents read.
    :param unseen: dedup keys (``<id>@<ticks>``) of the versions not stored yet, on the first page
        that had any.
    """

    since: GraphTime
    watermark: GraphTime | None
    checked: int
    unseen: tuple[str, ...]

    def summary(self) -> dict[str, Any]:
        """Counts and the watermark only: what may travel in a trigger event or XCom."""
        return {
            "unseen": len(self.unseen),
            "checked": self.checked,
            "watermark": self.watermark.isoformat() if self.watermark else None,
        }


def find_unseen(
    *,
    source: ProbeSource,
    state: SyncState | None,
    stored_heads: Callable[[Sequence[str]], Mapping[str, GraphTime]],
    now: GraphTime,
    lookback: dt.timedelta = DEFAULT_LOOKBACK,
    overlap: dt.timedelta = DEFAULT_OVERLAP,
    top: int = PROBE_PAGE_SIZE,
    ignore: Collection[str] = (),
) -> UnseenProbe:
    """Whether Graph holds an incident version the store has not stored yet.

    :param source: the listing.
    :param state: the integration's sync state.
    :param stored_heads: the store's latest ``lastUpdateDateTime`` of each given incident it holds.
    :param now: the clock.
    :param lookback: the window's start before the first sync, back from ``now``.
    :param overlap: how far below the watermark to look.
    :param top: the page size.
    :param ignore: dedup keys already announced; not counted again.
    """
    since = window_start(state, now=now, lookback=lookback, overlap=overlap)
    watermark = state.watermark if state else None
    page = source.probe_page(since=since, top=top)
    checked = 0
    while True:
        records, _ = read_records(page.incidents)
        versions = [version for record in records if (version := version_of(record)) is not None]
        checked += len(records)
        heads = stored_heads(list(dict.fromkeys(incident_id for incident_id, _ in versions)))
        unseen = tuple(
            key
            for incident_id, last_update in versions
            if (incident_id not in heads or heads[incident_id] < last_update)
            and (key := f"{incident_id}@{last_update.ticks}") not in ignore
        )
        if unseen or not page.next_link:
            return UnseenProbe(since=since, watermark=watermark, checked=checked, unseen=unseen)
        page = source.follow(page.next_link)
