"""The new-version probe: does Graph hold an incident version the store has not stored yet?

The deferrable sensor and both triggers ask it. It looks at the window the next sync would read
(:func:`~xops_provider.sync.engine.window_start`) in at most two requests, whatever the tenant's
volume, and never follows a ``nextLink``: Graph's 150 requests a minute per app and tenant are
shared with the ingest.

1. ``lastUpdateDateTime gt <watermark>``, newest first: anything there the store has not stored is
   new. When this finds something, it is the only request.
2. The overlap below the watermark, ``ge <window start> and le <watermark>``, newest first, with
   ``$count``: ties at the watermark and late arrivals (versions Graph lists after a newer one) show
   there. Late arrivals lag by seconds, so the newest page is where they sit; when the overlap holds
   more than one page, the count of Graph's incidents there, compared with the store's heads there,
   catches one deeper down.

Before the first sync there is no watermark: the newest page of the lookback window answers.
The newest incident, once stored, no longer counts, so it does not wake the sensor forever.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from xops_provider.models.timestamps import GraphTime
from xops_provider.sync.engine import DEFAULT_LOOKBACK, DEFAULT_OVERLAP, window_start
from xops_provider.sync.ports import SyncState
from xops_provider.sync.records import version_of

#: Graph's largest incidents page: a probe's cost is its request count, not its size.
PROBE_PAGE_SIZE = 50
#: The only properties a probe reads.
PROBE_SELECT = ("id", "lastUpdateDateTime")


@dataclass(frozen=True)
class ProbeListing:
    """One probe read: the newest incidents of a range, without following ``nextLink``.

    :param records: the decoded records (``id`` and ``lastUpdateDateTime``), newest first.
    :param total: how many incidents the range holds (``@odata.count``), when asked and given.
    """

    records: Sequence[Any] = field(default_factory=tuple)
    total: int | None = None


class ProbeSource(Protocol):
    """Where the probe reads the listing (the Defender hook)."""

    def newest_after(self, *, watermark: GraphTime, top: int) -> ProbeListing:
        """The ``top`` newest incidents with ``lastUpdateDateTime gt watermark``."""
        ...

    def newest_between(self, *, since: GraphTime, until: GraphTime | None, top: int) -> ProbeListing:
        """The ``top`` newest incidents with ``since <= lastUpdateDateTime <= until`` (no upper bound
        for ``None``), with their total count when ``until`` is given."""
        ...


@dataclass(frozen=True)
class UnseenProbe:
    """What :func:`find_unseen` found.

    :param since: the window's start that was read.
    :param watermark: the integration's watermark, ``None`` before its first sync.
    :param checked: incidents read.
    :param unseen: dedup keys (``<id>@<ticks>``) of the versions not stored yet, from the first read
        that had any; or, when only the overlap's count tells, one key for the overlap
        (``overlap@<watermark ticks>#<count>``), which changes when the count does.
    :param requests: Graph requests the check cost.
    """

    since: GraphTime
    watermark: GraphTime | None
    checked: int
    unseen: tuple[str, ...]
    requests: int = 0

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
    stored_count: Callable[[GraphTime, GraphTime], int] | None = None,
    lookback: dt.timedelta = DEFAULT_LOOKBACK,
    overlap: dt.timedelta = DEFAULT_OVERLAP,
    top: int = PROBE_PAGE_SIZE,
    ignore: Collection[str] = (),
) -> UnseenProbe:
    """Whether Graph holds an incident version the store has not stored yet, in at most two requests.

    :param source: the listing.
    :param state: the integration's sync state.
    :param stored_heads: the store's latest ``lastUpdateDateTime`` of each given incident it holds.
    :param now: the clock.
    :param stored_count: how many of the tenant's incidents the store holds with their latest
        ``lastUpdateDateTime`` between two times, both included; without it, an overlap larger than
        one page is only checked on its newest page.
    :param lookback: the window's start before the first sync, back from ``now``.
    :param overlap: how far below the watermark to look.
    :param top: the page size of each read.
    :param ignore: dedup keys already announced; not counted again.
    """
    since = window_start(state, now=now, lookback=lookback, overlap=overlap)
    watermark = state.watermark if state else None
    checked = requests = 0

    def done(unseen: tuple[str, ...]) -> UnseenProbe:
        return UnseenProbe(
            since=since, watermark=watermark, checked=checked, unseen=unseen, requests=requests
        )

    if watermark is not None:
        newer = source.newest_after(watermark=watermark, top=top)
        requests += 1
        checked += len(newer.records)
        if unseen := _unseen(newer.records, stored_heads=stored_heads, ignore=ignore):
            return done(unseen)
    window = source.newest_between(since=since, until=watermark, top=top)
    requests += 1
    checked += len(window.records)
    if unseen := _unseen(window.records, stored_heads=stored_heads, ignore=ignore):
        return done(unseen)
    # The page held the whole overlap, and all of it is stored: nothing deeper to count.
    if (
        watermark is None
        or stored_count is None
        or window.total is None
        or window.total <= len(window.records)
    ):
        return done(())
    if window.total > stored_count(since, watermark):
        key = f"overlap@{watermark.ticks}#{window.total}"
        return done(() if key in ignore else (key,))
    return done(())


def _unseen(
    records: Sequence[Any],
    *,
    stored_heads: Callable[[Sequence[str]], Mapping[str, GraphTime]],
    ignore: Collection[str],
) -> tuple[str, ...]:
    """Dedup keys of the versions the store holds no head for, or an older one; ``ignore`` left out."""
    versions = [version for record in records if (version := version_of(record)) is not None]
    if not versions:
        return ()
    heads = stored_heads(list(dict.fromkeys(incident_id for incident_id, _ in versions)))
    return tuple(
        key
        for incident_id, last_update in versions
        if (incident_id not in heads or heads[incident_id] < last_update)
        and (key := f"{incident_id}@{last_update.ticks}") not in ignore
    )
