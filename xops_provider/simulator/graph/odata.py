"""The slice of OData that Graph's ``/security/incidents`` accepts, parsed strictly; the paging
options are shared with ``alerts_v2``.

A query the real service would refuse raises :class:`ODataError`, so a client tested here cannot
come to depend on something Graph does not do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from xops_provider.models.timestamps import GraphTime, InvalidTimestamp
from xops_provider.simulator.constants import MAX_TOP
from xops_provider.simulator.graph.filters import (
    COMPARISONS,
    INCIDENT_FILTER,
    Clause,
    ODataError,
    enum_rank,
    parse_filter,
)
from xops_provider.simulator.store import StoredIncident

__all__ = [
    "Clause",
    "CompiledFilter",
    "IncidentQuery",
    "ODataError",
    "compile_filter",
    "dollar_options",
    "parse_count",
    "parse_expand",
    "parse_filter",
    "parse_orderby",
    "parse_paging",
    "parse_query",
]
ENUM_FIELDS = INCIDENT_FILTER.enum_fields
QUERY_OPTIONS = frozenset({"$filter", "$top", "$skip", "$orderby", "$expand", "$count", "$select"})


def _enum_rank(field: str, value: Any) -> int:
    return enum_rank(ENUM_FIELDS[field], value)


@dataclass(frozen=True, slots=True, kw_only=True)
class CompiledFilter:
    """A parsed filter, split into the part the time index answers and a residual predicate.

    :param lower: ``(ticks, inclusive)`` on ``lastUpdateDateTime``, or ``None``.
    :param upper: the same, upper bound.
    :param predicate: everything else, or ``None``.
    """

    lower: tuple[int, bool] | None
    upper: tuple[int, bool] | None
    predicate: Callable[[StoredIncident], bool] | None


def compile_filter(clauses: list[Clause]) -> CompiledFilter:
    """Turn clauses into index bounds plus a predicate.

    :param clauses: from :func:`parse_filter`.
    """
    lower: tuple[int, bool] | None = None
    upper: tuple[int, bool] | None = None
    checks: list[Callable[[StoredIncident], bool]] = []
    for clause in clauses:
        compare = COMPARISONS[clause.op]
        if clause.field == "lastUpdateDateTime" and clause.op != "ne":
            ticks = clause.value.ticks
            if clause.op in ("ge", "gt", "eq"):
                bound = (ticks, clause.op != "gt")
                lower = bound if lower is None or _tighter_lower(bound, lower) else lower
            if clause.op in ("le", "lt", "eq"):
                bound = (ticks, clause.op != "lt")
                upper = bound if upper is None or _tighter_upper(bound, upper) else upper
        elif clause.field == "lastUpdateDateTime":
            ticks = clause.value.ticks
            checks.append(lambda incident, t=ticks: incident.last_update.ticks != t)
        elif clause.field == "createdDateTime":
            checks.append(_time_check(clause.field, compare, clause.value.ticks))
        elif clause.field in ENUM_FIELDS:
            rank = _enum_rank(clause.field, clause.value)
            checks.append(
                lambda incident, f=clause.field, c=compare, r=rank: c(_enum_rank(f, incident.body.get(f)), r)
            )
        else:
            checks.append(
                lambda incident, f=clause.field, c=compare, v=clause.value: c(
                    (incident.body.get(f) or None), v
                )
            )
    predicate = None
    if checks:

        def predicate(incident: StoredIncident) -> bool:
            return all(check(incident) for check in checks)

    return CompiledFilter(lower=lower, upper=upper, predicate=predicate)


def _time_check(
    field: str, compare: Callable[[Any, Any], bool], ticks: int
) -> Callable[[StoredIncident], bool]:
    def check(incident: StoredIncident) -> bool:
        raw = incident.body.get(field)
        if not raw:
            return False
        try:
            return compare(GraphTime.parse(raw).ticks, ticks)
        except InvalidTimestamp:
            return False

    return check


def _tighter_lower(new: tuple[int, bool], old: tuple[int, bool]) -> bool:
    return (new[0], not new[1]) > (old[0], not old[1])


def _tighter_upper(new: tuple[int, bool], old: tuple[int, bool]) -> bool:
    return (new[0], new[1]) < (old[0], old[1])


@dataclass(frozen=True, slots=True, kw_only=True)
class IncidentQuery:
    """The query options of one list request.

    :param filter: compiled ``$filter``.
    :param top: page size.
    :param skip: items to pass over.
    :param descending: ``$orderby=lastUpdateDateTime desc``.
    :param expand: ``$expand=alerts``.
    :param count: ``$count=true``.
    :param select: ``$select`` properties, or ``None`` for all.
    :param options: the raw options, to build ``@odata.nextLink`` from.
    """

    filter: CompiledFilter
    top: int
    skip: int
    descending: bool
    expand: bool
    count: bool
    select: tuple[str, ...] | None
    options: dict[str, str]


def _int_option(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ODataError(f"Invalid value '{raw}' for query option '{name}'.") from None
    if value < 0:
        raise ODataError(f"Invalid value '{raw}' for query option '{name}'.")
    return value


def parse_expand(raw: str | None) -> bool:
    """Whether ``$expand`` asks for alerts (the only navigation property of an incident).

    :param raw: the ``$expand`` value.
    """
    if raw is None:
        return False
    names = [part.strip() for part in raw.split(",") if part.strip()]
    for name in names:
        if name != "alerts":
            raise ODataError(
                f"Could not find a property named '{name}' on type 'microsoft.graph.security.incident'."
            )
    return bool(names)


def parse_paging(
    options: Mapping[str, str], *, max_top: int, skip_ceiling: int | None = None
) -> tuple[int, int]:
    """``($top, $skip)``: ``$top`` at most ``max_top`` (Graph's exact refusal), ``$top`` defaulting to it.

    :param options: the ``$`` query options.
    :param max_top: the API's page size ceiling.
    :param skip_ceiling: the largest ``$skip + $top`` accepted, if limited.
    """
    top = max_top
    if "$top" in options:
        top = _int_option("$top", options["$top"])
        if top > max_top:
            raise ODataError(
                f"The query specified in the URI is not valid. The limit of '{max_top}' for Top query has "
                f"been exceeded. The value from the incoming request is '{top}'.",
                code="",
            )
    skip = _int_option("$skip", options["$skip"]) if "$skip" in options else 0
    if skip_ceiling is not None and skip + top > skip_ceiling:
        raise ODataError(
            "The query specified in the URI is not valid. The sum of $skip and $top cannot exceed "
            f"'{skip_ceiling}'. The value from the incoming request is '{skip + top}'."
        )
    return top, skip


def parse_orderby(raw: str, fields: tuple[str, ...]) -> tuple[str, bool]:
    """``(property, descending)`` of a one-property ``$orderby``.

    :param raw: the ``$orderby`` value.
    :param fields: the properties the API orders by.
    """
    parts = raw.split()
    if not parts or parts[0] not in fields or len(parts) > 2:
        raise ODataError(f"Invalid OrderBy clause: ordering by '{raw}' is not supported.")
    direction = parts[1].lower() if len(parts) == 2 else "asc"
    if direction not in ("asc", "desc"):
        raise ODataError(f"Invalid OrderBy clause: unknown direction '{parts[1]}'.")
    return parts[0], direction == "desc"


def parse_count(raw: str | None) -> bool:
    """Whether ``$count=true`` was asked.

    :param raw: the ``$count`` value.
    """
    if raw is None:
        return False
    if raw.lower() not in ("true", "false"):
        raise ODataError(f"Invalid value '{raw}' for query option '$count'.")
    return raw.lower() == "true"


def dollar_options(params: Mapping[str, str], allowed: frozenset[str]) -> dict[str, str]:
    """The ``$`` query options, any outside ``allowed`` refused as Graph does.

    :param params: the query string, one value per option.
    :param allowed: the options the API takes.
    """
    options = {name: value for name, value in params.items() if name.startswith("$")}
    for name in options:
        if name not in allowed:
            raise ODataError(f"Query option '{name[1:]}' is not allowed.")
    return options


def parse_query(params: Mapping[str, str], *, skip_ceiling: int | None = None) -> IncidentQuery:
    """Validate and compile the query options of ``GET /security/incidents``.

    :param params: the query string, one value per option.
    :param skip_ceiling: the largest ``$skip + $top`` accepted, if limited.
    """
    options = dollar_options(params, QUERY_OPTIONS)
    clauses = parse_filter(options["$filter"]) if "$filter" in options else []
    top, skip = parse_paging(options, max_top=MAX_TOP, skip_ceiling=skip_ceiling)
    descending = True
    if "$orderby" in options:
        _, descending = parse_orderby(options["$orderby"], ("lastUpdateDateTime",))
    select = None
    if "$select" in options:
        select = tuple(part.strip() for part in options["$select"].split(",") if part.strip())
    return IncidentQuery(
        filter=compile_filter(clauses),
        top=top,
        skip=skip,
        descending=descending,
        expand=parse_expand(options.get("$expand")),
        count=parse_count(options.get("$count")),
        select=select,
        options=options,
    )
