"""Compare what Graph holds with what the store holds, for ``xops sync audit``.

Pure: the caller lists Graph and reads the store; this module only compares, so the rules can be
tested without a network or a database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from xops_provider.models.timestamps import GraphTime, InvalidTimestamp

_DURATION = re.compile(
    r"^\s*(?:(?P<d>\d+)d)?\s*(?:(?P<h>\d+)h)?\s*(?:(?P<m>\d+)m)?\s*(?:(?P<s>\d+)s)?\s*$", re.I
)
_UNIT_SECONDS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
#: How many ids of each kind a report shows; the counts are always complete.
SAMPLE_SIZE = 5


def parse_since(value: str, *, now: GraphTime) -> GraphTime:
    """The start of an audit window: an ISO 8601 instant, or a duration back from ``now``.

    :param value: ``2026-03-01T00:00:00Z``, or a duration such as ``7d``, ``12h``, ``30m``, ``1d12h``.
    :param now: the instant a duration counts back from.
    :raises ValueError: the value is neither.
    """
    match = _DURATION.match(value)
    if match and any(match.groupdict().values()):
        seconds = sum(int(n) * _UNIT_SECONDS[unit] for unit, n in match.groupdict().items() if n)
        return now.shift(seconds=-seconds)
    try:
        return GraphTime.parse(value)
    except InvalidTimestamp:
        raise ValueError(
            f"--since must be an ISO 8601 instant or a duration like 7d, 12h, 30m; got {value[:40]!r}"
        ) from None


@dataclass(frozen=True)
class AuditReport:
    """The differences between Graph and the store over one window.

    :param since: the window's start (``lastUpdateDateTime ge since``).
    :param graph_count: incidents Graph listed in the window.
    :param stored_count: incidents the store holds in the window.
    :param missing: ids in Graph but not stored, sorted.
    :param stale: ids stored with an older ``lastUpdateDateTime`` than Graph's, sorted.
    :param extra: ids stored in the window that Graph does not list, sorted.
    """

    since: GraphTime
    graph_count: int
    stored_count: int
    missing: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """Nothing missing, stale or extra."""
        return not (self.missing or self.stale or self.extra)

    def counts(self) -> dict[str, int]:
        """The three counts, keyed by kind."""
        return {"missing": len(self.missing), "stale": len(self.stale), "extra": len(self.extra)}

    def render(self, *, sample: int = SAMPLE_SIZE) -> str:
        """A short human report: the counts, and the first few ids of each kind.

        :param sample: how many ids to show per kind.
        """
        lines = [
            f"window: lastUpdateDateTime ge {self.since.isoformat()}",
            f"graph: {self.graph_count}  stored: {self.stored_count}",
        ]
        for kind, ids in (("missing", self.missing), ("stale", self.stale), ("extra", self.extra)):
            shown = ", ".join(ids[:sample])
            more = f" (+{len(ids) - sample} more)" if len(ids) > sample else ""
            lines.append(f"{kind}: {len(ids)}" + (f"  [{shown}{more}]" if ids else ""))
        return "\n".join(lines)


def _id_key(incident_id: str) -> tuple[int, int | str]:
    # Graph ids are numeric strings: sort them as numbers, anything else after them as text.
    return (0, int(incident_id)) if incident_id.isdigit() else (1, incident_id)


def compare(
    *,
    graph: Iterable[tuple[str, GraphTime]],
    stored: Mapping[str, GraphTime],
    since: GraphTime,
) -> AuditReport:
    """Compare Graph's listing of a window with the store's incident heads.

    A stored head newer than Graph's copy is not a difference: Graph's listing is a moment older than
    the store's read of it when an incident changes during the audit.

    :param graph: ``(incident id, lastUpdateDateTime)`` for every incident Graph lists with
        ``lastUpdateDateTime ge since``; a repeated id keeps its latest time (a page boundary moved).
    :param stored: the store's head ``lastUpdateDateTime`` for each incident id (of any age).
    :param since: the window's start.
    """
    listed: dict[str, GraphTime] = {}
    for incident_id, last_update in graph:
        if incident_id not in listed or listed[incident_id] < last_update:
            listed[incident_id] = last_update
    missing = [i for i in listed if i not in stored]
    stale = [i for i, t in listed.items() if i in stored and stored[i] < t]
    in_window = [i for i, t in stored.items() if t >= since]
    extra = [i for i in in_window if i not in listed]
    return AuditReport(
        since=since,
        graph_count=len(listed),
        stored_count=len(in_window),
        missing=sorted(missing, key=_id_key),
        stale=sorted(stale, key=_id_key),
        extra=sorted(extra, key=_id_key),
    )
