"""The advanced hunting tables the simulator serves, with Microsoft's column names and types.

Rows are dicts keyed by column; ``Timestamp`` (and any other ``datetime`` column) is held in 100 ns
ticks and written as Graph writes it (``2026-03-02T09:14:05.1234567Z``) only when answered. A
table keeps its rows ordered by ``Timestamp``, so a query bounded in time reads only its window,
and may also hold generated segments: rows computed from their index, never stored.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Iterable, Iterator, Mapping
from operator import itemgetter
from typing import Any, Protocol

from xops_provider.models.timestamps import GraphTime, InvalidTimestamp

_S, _T, _I, _B = "string", "datetime", "int", "bool"

#: Table -> column -> type (``string``, ``datetime``, ``int`` or ``bool``), in Microsoft's order.
TABLES: dict[str, dict[str, str]] = {
    "EmailEvents": {
        "Timestamp": _T, "NetworkMessageId": _S, "InternetMessageId": _S, "SenderFromAddress": _S,
        "SenderMailFromAddress": _S, "SenderFromDomain": _S, "SenderIPv4": _S, "RecipientEmailAddress": _S,
        "RecipientObjectId": _S, "Subject": _S, "EmailDirection": _S, "DeliveryAction": _S,
        "DeliveryLocation": _S, "ThreatTypes": _S, "DetectionMethods": _S, "UrlCount": _I,
        "AttachmentCount": _I, "ReportId": _S,
    },
    "EmailUrlInfo": {
        "Timestamp": _T, "NetworkMessageId": _S, "Url": _S, "UrlDomain": _S, "UrlLocation": _S,
        "ReportId": _S,
    },
    "EmailPostDeliveryEvents": {
        "Timestamp": _T, "NetworkMessageId": _S, "InternetMessageId": _S, "Action": _S, "ActionType": _S,
        "ActionTrigger": _S, "ActionResult": _S, "RecipientEmailAddress": _S, "DeliveryLocation": _S,
        "ThreatTypes": _S, "DetectionMethods": _S, "ReportId": _S,
    },
    "UrlClickEvents": {
        "Timestamp": _T, "Url": _S, "ActionType": _S, "AccountUpn": _S, "Workload": _S,
        "NetworkMessageId": _S, "IPAddress": _S, "ThreatTypes": _S, "DetectionMethods": _S,
        "IsClickedThrough": _B, "UrlChain": _S, "ReportId": _S,
    },
    "DeviceNetworkEvents": {
        "Timestamp": _T, "DeviceId": _S, "DeviceName": _S, "ActionType": _S, "RemoteIP": _S,
        "RemotePort": _I, "RemoteUrl": _S, "LocalIP": _S, "LocalPort": _I, "Protocol": _S,
        "InitiatingProcessAccountUpn": _S, "InitiatingProcessAccountName": _S,
        "InitiatingProcessFileName": _S, "ReportId": _S,
    },
}  # fmt: skip
#: How the answer's ``schema`` names each type.
SCHEMA_TYPES = {_S: "String", _T: "DateTime", _I: "Int32", _B: "Boolean"}
_DEFAULTS: dict[str, Any] = {_S: "", _I: 0, _B: False}


class RowError(ValueError):
    """A row the admin API cannot store: an unknown column or a value of the wrong type."""


def coerce_row(table: str, data: Mapping[str, Any], *, default_time: int) -> dict[str, Any]:
    """A stored row from JSON: every column present, typed; missing columns take blanks.

    :param table: the table.
    :param data: column -> value, datetimes as ISO 8601 text.
    :param default_time: ``Timestamp`` ticks when none is given.
    """
    columns = TABLES[table]
    unknown = sorted(set(data) - set(columns))
    if unknown:
        raise RowError(f"{table} has no column {', '.join(unknown)}")
    row: dict[str, Any] = {}
    for name, kind in columns.items():
        value = data.get(name)
        if value is None:
            row[name] = default_time if kind == _T else _DEFAULTS[kind]
        elif kind == _T:
            try:
                row[name] = GraphTime.parse(value).ticks if isinstance(value, str) else None
            except InvalidTimestamp:
                row[name] = None
            if row[name] is None:
                raise RowError(f"{table}.{name} needs an ISO 8601 time, got {value!r}")
        elif kind == _B and not isinstance(value, bool):
            raise RowError(f"{table}.{name} needs true or false, got {value!r}")
        elif kind == _I and (isinstance(value, bool) or not isinstance(value, int)):
            raise RowError(f"{table}.{name} needs an integer, got {value!r}")
        elif kind == _S and not isinstance(value, str):
            raise RowError(f"{table}.{name} needs a string, got {value!r}")
        else:
            row[name] = value
    return row


def render(row: Mapping[str, Any], columns: Mapping[str, str]) -> dict[str, Any]:
    """A row as the answer writes it: the given columns, in order, datetimes as text.

    :param row: the stored row.
    :param columns: column -> type, in answer order.
    """
    return {
        name: GraphTime(row[name]).isoformat() if kind == _T else row[name] for name, kind in columns.items()
    }


class GeneratedRows(Protocol):
    """Rows computed from their index, ordered by ``Timestamp``, never stored."""

    def __len__(self) -> int: ...

    def rows(self, lower: int | None, upper: int | None) -> Iterator[dict[str, Any]]: ...


class HuntingTable:
    """One table's rows, in ``Timestamp`` order.

    :param name: the table's name.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.columns = TABLES[name]
        self._rows: list[dict[str, Any]] = []
        self._ticks: list[int] = []
        self._sorted = True
        self.segments: list[GeneratedRows] = []

    def __len__(self) -> int:
        return len(self._rows) + sum(len(segment) for segment in self.segments)

    def add(self, rows: Iterable[dict[str, Any]]) -> int:
        """Append stored rows (from :func:`coerce_row`); returns how many.

        :param rows: the rows.
        """
        before = len(self._rows)
        self._rows.extend(rows)
        # Sorted once, when next read: a bulk insert stays linear.
        self._sorted = False
        return len(self._rows) - before

    def _order(self) -> None:
        if not self._sorted:
            self._rows.sort(key=itemgetter("Timestamp"))
            self._ticks = [row["Timestamp"] for row in self._rows]
            self._sorted = True

    def scan(self, lower: int | None = None, upper: int | None = None) -> Iterator[dict[str, Any]]:
        """Rows with ``lower <= Timestamp <= upper`` (either bound optional), oldest first.

        :param lower: inclusive lower bound in ticks.
        :param upper: inclusive upper bound in ticks.
        """
        self._order()
        lo = 0 if lower is None else bisect.bisect_left(self._ticks, lower)
        hi = len(self._ticks) if upper is None else bisect.bisect_right(self._ticks, upper)
        stored = iter(self._rows[lo:hi])
        if not self.segments:
            return stored
        sources = [stored, *(segment.rows(lower, upper) for segment in self.segments)]
        return heapq.merge(*sources, key=itemgetter("Timestamp"))
