"""Batched advanced-hunting queries: one query per table for a batch of values, never one per story.

Each table is queried by the kinds of value in :data:`TABLE_KEYS`: the values of those kinds across
every story in the run are checked (:mod:`~xops_provider.correlation.values`), de-duplicated,
sorted and cut into batches of at most ``batch_size``; each batch makes one query. So a run costs
``sum(ceil(values of the table / batch_size))`` calls (:func:`expected_call_count`), which is
``tables x ceil(values / batch_size)`` when every table is queried by the same values.

A value that fails its check is dropped and reported, never quoted: a hostile subject or URL cannot
change the query. Literals are escaped as the contract says anyway (:func:`kql_string`).
The queries use only the contract's KQL subset: ``where`` with ``in~``/``in``/``between``, and
``project``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from xops_provider.correlation.values import checked
from xops_provider.models.timestamps import GraphTime

#: Values per query. A batch of the longest URLs allowed still makes a query under half a megabyte.
HUNTING_BATCH_SIZE = 100

#: The column each kind of value is compared with, per table. ``in~`` ignores case (addresses,
#: hosts, GUIDs); IPs are compared in their canonical form with ``in``.
TABLE_KEYS: Mapping[str, Mapping[str, str]] = {
    "EmailEvents": {"message_id": "NetworkMessageId"},
    "EmailUrlInfo": {"message_id": "NetworkMessageId"},
    "EmailPostDeliveryEvents": {"message_id": "NetworkMessageId"},
    # Clicks on the story's messages, on its URLs from any message, and by its recipients (a
    # personalised link differs per recipient; matching keeps those on the story's domains).
    "UrlClickEvents": {"message_id": "NetworkMessageId", "url": "Url", "email": "AccountUpn"},
    # Devices reaching the story's URLs, hosts or IPs. ``RemoteUrl`` holds a URL or a bare host.
    "DeviceNetworkEvents": {"url": "RemoteUrl", "domain": "RemoteUrl", "ip": "RemoteIP"},
}
HUNTING_TABLES = tuple(TABLE_KEYS)

#: The columns each query projects (the contract's, in its order).
TABLE_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "EmailEvents": (
        "Timestamp", "NetworkMessageId", "InternetMessageId", "SenderFromAddress", "SenderMailFromAddress",
        "SenderFromDomain", "SenderIPv4", "RecipientEmailAddress", "RecipientObjectId", "Subject",
        "EmailDirection", "DeliveryAction", "DeliveryLocation", "ThreatTypes", "DetectionMethods",
        "UrlCount", "AttachmentCount", "ReportId",
    ),
    "EmailUrlInfo": ("Timestamp", "NetworkMessageId", "Url", "UrlDomain", "UrlLocation", "ReportId"),
    "EmailPostDeliveryEvents": (
        "Timestamp", "NetworkMessageId", "InternetMessageId", "Action", "ActionType", "ActionTrigger",
        "ActionResult", "RecipientEmailAddress", "DeliveryLocation", "ThreatTypes", "DetectionMethods",
        "ReportId",
    ),
    "UrlClickEvents": (
        "Timestamp", "Url", "ActionType", "AccountUpn", "Workload", "NetworkMessageId", "IPAddress",
        "ThreatTypes", "DetectionMethods", "IsClickedThrough", "UrlChain", "ReportId",
    ),
    "DeviceNetworkEvents": (
        "Timestamp", "DeviceId", "DeviceName", "ActionType", "RemoteIP", "RemotePort", "RemoteUrl",
        "LocalIP", "LocalPort", "Protocol", "InitiatingProcessAccountUpn", "InitiatingProcessAccountName",
        "InitiatingProcessFileName", "ReportId",
    ),
}  # fmt: skip
_CASE_SENSITIVE_KINDS = frozenset({"ip"})


@dataclass(frozen=True, slots=True)
class HuntingQuery:
    """One ``runHuntingQuery`` call.

    :param table: the table queried.
    :param query: the KQL text.
    :param values: the ``(kind, value)`` pairs of the batch, in the query's order.
    """

    table: str
    query: str
    values: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class RejectedValue:
    """A value left out of every query.

    :param kind: the kind it was offered as.
    :param value: its ``repr``, cut to 200 characters.
    :param reason: why it failed its check.
    """

    kind: str
    value: str
    reason: str


@dataclass(frozen=True, slots=True)
class HuntingPlan:
    """The queries of one run and the values they leave out.

    :param queries: ordered by table (as in :data:`HUNTING_TABLES`), then batch.
    :param rejected: sorted by kind, value.
    """

    queries: tuple[HuntingQuery, ...]
    rejected: tuple[RejectedValue, ...]


def kql_string(value: str) -> str:
    """A KQL string literal: double quotes, with ``\\`` and ``"`` escaped.

    :param value: the text; it must hold no control character, which the contract cannot escape.
    :raises ValueError: when it does.
    """
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        raise ValueError("a KQL string literal cannot hold control characters")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def kql_datetime(value: GraphTime) -> str:
    """A KQL ``datetime(...)`` literal at Graph's full precision.

    :param value: the instant.
    """
    return f"datetime({value.isoformat()})"


def _batches(values: list[tuple[str, str]], size: int) -> Iterable[list[tuple[str, str]]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _predicate(table: str, batch: list[tuple[str, str]]) -> str:
    by_column: dict[tuple[str, str], list[str]] = {}
    for kind, value in batch:
        operator = "in" if kind in _CASE_SENSITIVE_KINDS else "in~"
        by_column.setdefault((TABLE_KEYS[table][kind], operator), []).append(value)
    parts = [
        f"{column} {operator} ({', '.join(kql_string(v) for v in sorted(set(values)))})"
        for (column, operator), values in sorted(by_column.items())
    ]
    return " or ".join(parts)


def build_query(*, table: str, batch: Iterable[tuple[str, str]], since: GraphTime, until: GraphTime) -> str:
    """The KQL of one batch; the values must already be checked.

    :param table: a table of :data:`TABLE_KEYS`.
    :param batch: ``(kind, value)`` pairs whose kinds the table is queried by.
    :param since: the earliest ``Timestamp`` wanted.
    :param until: the latest ``Timestamp`` wanted.
    """
    pairs = list(batch)
    if not pairs:
        raise ValueError("a hunting query needs at least one value")
    return (
        f"{table}\n"
        f"| where Timestamp between ({kql_datetime(since)} .. {kql_datetime(until)})\n"
        f"| where {_predicate(table, pairs)}\n"
        f"| project {', '.join(TABLE_COLUMNS[table])}"
    )


def plan_hunting_queries(
    *,
    since: GraphTime,
    until: GraphTime,
    message_ids: Iterable[object] = (),
    urls: Iterable[object] = (),
    recipients: Iterable[object] = (),
    domains: Iterable[object] = (),
    ips: Iterable[object] = (),
    batch_size: int = HUNTING_BATCH_SIZE,
) -> HuntingPlan:
    """Every query of a run, for the values of all its stories at once.

    :param since: the earliest ``Timestamp`` wanted (the earliest receipt of the run's stories).
    :param until: the latest (the latest receipt plus the matching window).
    :param message_ids: ``NetworkMessageId`` values.
    :param urls: URLs in the stories.
    :param recipients: recipients' addresses.
    :param domains: URL domains.
    :param ips: IPs to look for as destinations.
    :param batch_size: values per query.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if until < since:
        raise ValueError("until is before since")
    offered = {"message_id": message_ids, "url": urls, "email": recipients, "domain": domains, "ip": ips}
    accepted: dict[str, tuple[str, ...]] = {}
    rejected: list[RejectedValue] = []
    for kind, values in offered.items():
        accepted[kind], failures = checked(kind, values)
        rejected += [RejectedValue(kind=kind, value=value, reason=reason) for value, reason in failures]
    queries = []
    for table in HUNTING_TABLES:
        values = [(kind, value) for kind in sorted(TABLE_KEYS[table]) for value in accepted[kind]]
        for batch in _batches(values, batch_size):
            queries.append(
                HuntingQuery(
                    table=table,
                    query=build_query(table=table, batch=batch, since=since, until=until),
                    values=tuple(batch),
                )
            )
    return HuntingPlan(
        queries=tuple(queries), rejected=tuple(sorted(rejected, key=lambda r: (r.kind, r.value)))
    )


def expected_call_count(*, value_counts: Mapping[str, int], batch_size: int = HUNTING_BATCH_SIZE) -> int:
    """How many queries :func:`plan_hunting_queries` makes for so many distinct valid values per kind.

    :param value_counts: distinct valid values per kind (see :data:`.values.VALUE_KINDS`).
    :param batch_size: values per query.
    """
    return sum(
        math.ceil(sum(value_counts.get(kind, 0) for kind in keys) / batch_size)
        for keys in TABLE_KEYS.values()
    )
