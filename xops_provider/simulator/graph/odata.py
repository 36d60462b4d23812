"""The slice of OData that Graph's ``/security/incidents`` accepts, parsed strictly.

A query the real service would refuse raises :class:`ODataError`, so a client tested here cannot
come to depend on something Graph does not do.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from xops_provider.models.timestamps import GraphTime, InvalidTimestamp
from xops_provider.simulator.constants import MAX_TOP
from xops_provider.simulator.graph.schema import CLASSIFICATION, INCIDENT_STATUS, SEVERITY
from xops_provider.simulator.store import StoredIncident

COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}
DATETIME_FIELDS = ("lastUpdateDateTime", "createdDateTime")
ENUM_FIELDS: dict[str, tuple[str, ...]] = {
    "status": INCIDENT_STATUS,
    "severity": SEVERITY,
    "classification": CLASSIFICATION,
}
STRING_FIELDS = ("determination", "assignedTo")
QUERY_OPTIONS = frozenset({"$filter", "$top", "$skip", "$orderby", "$expand", "$count", "$select"})

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^']|'')*')
      | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<word>[A-Za-z_$][\w/.]*)
      | (?P<punct>[(),])
      | (?P<other>\S+)
    )""",
    re.VERBOSE,
)
_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.(?P<frac>\d{1,7}))?)?(?:Z|[+-]\d{2}:\d{2})$"
)


class ODataError(ValueError):
    """A query Graph refuses with 400.

    :param message: Graph's message.
    :param code: Graph's ``error.code`` (empty for the ``$top`` limit, as in the real answer).
    """

    def __init__(self, message: str, *, code: str = "BadRequest") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True, slots=True, kw_only=True)
class Clause:
    """``field op value``.

    :param field: the property.
    :param op: one of ``eq ne gt ge lt le``.
    :param value: a :class:`GraphTime`, an enum member, a string, or ``None`` (``null``).
    """

    field: str
    op: str
    value: Any


def _invalid(detail: str) -> ODataError:
    return ODataError(f"Invalid filter clause: {detail}")


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise _invalid(f"syntax error at position {position} in '{text}'.")
        kind = match.lastgroup or "other"
        tokens.append((kind, match[kind]))
        position = match.end()
    return tokens


def _literal(field: str, kind: str, raw: str) -> Any:
    if raw == "null" and kind == "word":
        if field in DATETIME_FIELDS or field in ENUM_FIELDS:
            raise _invalid(f"'{field}' cannot be compared with null.")
        return None
    if field in DATETIME_FIELDS:
        match = _DATETIME.match(raw) if kind == "datetime" else None
        if not match:
            raise _invalid(
                f"A binary operator with incompatible types was detected. Found operand types "
                f"'Edm.DateTimeOffset' and '{_type_name(kind)}' for '{field}'."
            )
        try:
            return GraphTime.parse(raw)
        except InvalidTimestamp as err:
            raise _invalid(f"The DateTimeOffset text '{raw}' is not a valid date and time.") from err
    if kind != "string":
        raise _invalid(
            f"A binary operator with incompatible types was detected. Found operand types "
            f"'Edm.String' and '{_type_name(kind)}' for '{field}'."
        )
    value = raw[1:-1].replace("''", "'")
    members = ENUM_FIELDS.get(field)
    if members is not None:
        member = {m.lower(): m for m in members}.get(value.lower())
        if member is None:
            raise _invalid(f"The string '{value}' is not a valid enumeration type constant.")
        return member
    return value


def _type_name(kind: str) -> str:
    return {"string": "Edm.String", "datetime": "Edm.DateTimeOffset", "number": "Edm.Int32"}.get(
        kind, "Edm.Untyped"
    )


def parse_filter(text: str) -> list[Clause]:
    """Comparisons joined by ``and``, as Graph accepts on incidents.

    :param text: the ``$filter`` value.
    """
    tokens = _tokens(text)
    if not tokens:
        raise _invalid("the filter is empty.")
    clauses: list[Clause] = []
    position = 0

    def parse_clause() -> None:
        nonlocal position
        depth = 0
        while position < len(tokens) and tokens[position] == ("punct", "("):
            depth += 1
            position += 1
        if position + 3 > len(tokens):
            raise _invalid(f"incomplete comparison in '{text}'.")
        (kind, field), (op_kind, op) = tokens[position], tokens[position + 1]
        if kind != "word":
            raise _invalid(f"expected a property name, found '{field}'.")
        if op_kind == "punct" and op == "(":
            raise _invalid(f"the function '{field}' is not supported.")
        if field in ("not",):
            raise _invalid("the operator 'not' is not supported.")
        if field not in DATETIME_FIELDS and field not in ENUM_FIELDS and field not in STRING_FIELDS:
            raise _invalid(f"filtering on the property '{field}' is not supported.")
        if op_kind != "word" or op not in COMPARISONS:
            raise _invalid(f"the operator '{op}' is not supported.")
        value_kind, raw = tokens[position + 2]
        position += 3
        if field in STRING_FIELDS and op not in ("eq", "ne"):
            raise _invalid(f"the operator '{op}' is not supported on '{field}'.")
        clauses.append(Clause(field=field, op=op, value=_literal(field, value_kind, raw)))
        for _ in range(depth):
            if position >= len(tokens) or tokens[position] != ("punct", ")"):
                raise _invalid(f"unbalanced parentheses in '{text}'.")
            position += 1

    parse_clause()
    while position < len(tokens):
        kind, word = tokens[position]
        if kind == "word" and word == "and":
            position += 1
            parse_clause()
            continue
        if kind == "word" and word == "or":
            raise _invalid("the operator 'or' is not supported.")
        raise _invalid(f"unexpected '{word}' in '{text}'.")
    return clauses


def _enum_rank(field: str, value: Any) -> int:
    members = ENUM_FIELDS[field]
    if isinstance(value, str):
        lowered = value.lower()
        for rank, member in enumerate(members):
            if member.lower() == lowered:
                return rank
    return len(members)


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


def parse_query(params: Mapping[str, str], *, skip_ceiling: int | None = None) -> IncidentQuery:
    """Validate and compile the query options of ``GET /security/incidents``.

    :param params: the query string, one value per option.
    :param skip_ceiling: the largest ``$skip + $top`` accepted, if limited.
    """
    options = {name: value for name, value in params.items() if name.startswith("$")}
    for name in options:
        if name not in QUERY_OPTIONS:
            raise ODataError(f"Query option '{name[1:]}' is not allowed.")
    clauses = parse_filter(options["$filter"]) if "$filter" in options else []
    top = MAX_TOP
    if "$top" in options:
        top = _int_option("$top", options["$top"])
        if top > MAX_TOP:
            raise ODataError(
                "The query specified in the URI is not valid. The limit of '50' for Top query has been "
                f"exceeded. The value from the incoming request is '{top}'.",
                code="",
            )
    skip = _int_option("$skip", options["$skip"]) if "$skip" in options else 0
    if skip_ceiling is not None and skip + top > skip_ceiling:
        raise ODataError(
            "The query specified in the URI is not valid. The sum of $skip and $top cannot exceed "
            f"'{skip_ceiling}'. The value from the incoming request is '{skip + top}'."
        )
    descending = True
    if "$orderby" in options:
        parts = options["$orderby"].split()
        if not parts or parts[0] != "lastUpdateDateTime" or len(parts) > 2:
            raise ODataError(f"Invalid OrderBy clause: ordering by '{options['$orderby']}' is not supported.")
        direction = parts[1].lower() if len(parts) == 2 else "asc"
        if direction not in ("asc", "desc"):
            raise ODataError(f"Invalid OrderBy clause: unknown direction '{parts[1]}'.")
        descending = direction == "desc"
    count = False
    if "$count" in options:
        value = options["$count"].lower()
        if value not in ("true", "false"):
            raise ODataError(f"Invalid value '{options['$count']}' for query option '$count'.")
        count = value == "true"
    select = None
    if "$select" in options:
        select = tuple(part.strip() for part in options["$select"].split(",") if part.strip())
    return IncidentQuery(
        filter=compile_filter(clauses),
        top=top,
        skip=skip,
        descending=descending,
        expand=parse_expand(options.get("$expand")),
        count=count,
        select=select,
        options=options,
    )
