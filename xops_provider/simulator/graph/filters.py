"""OData ``$filter`` as Graph's security APIs accept it, parsed strictly.

Each API declares a :class:`FilterSchema`: which properties are datetimes, enums or plain strings,
and which may be ``or``-ed (``(serviceSource eq 'a' or serviceSource eq 'b')`` on alerts_v2). A
filter is a conjunction of :class:`Clause`; anything the real service refuses raises
:class:`ODataError`, so a client tested here cannot come to depend on something Graph does not do.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from xops_provider.models.timestamps import GraphTime, InvalidTimestamp
from xops_provider.simulator.graph.schema import CLASSIFICATION, INCIDENT_STATUS, SEVERITY

COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}

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
class FilterSchema:
    """What one API lets ``$filter`` compare.

    :param datetime_fields: properties compared with unquoted datetimes.
    :param enum_fields: properties compared with quoted enum members, by declared order.
    :param string_fields: properties compared with ``eq``/``ne`` to a quoted string or ``null``.
    :param any_of_fields: properties that may be ``or``-ed, as ``eq`` comparisons of one property.
    """

    datetime_fields: tuple[str, ...]
    enum_fields: Mapping[str, tuple[str, ...]]
    string_fields: tuple[str, ...] = ()
    any_of_fields: tuple[str, ...] = ()

    def knows(self, name: str) -> bool:
        return name in self.datetime_fields or name in self.enum_fields or name in self.string_fields


INCIDENT_FILTER = FilterSchema(
    datetime_fields=("lastUpdateDateTime", "createdDateTime"),
    enum_fields={"status": INCIDENT_STATUS, "severity": SEVERITY, "classification": CLASSIFICATION},
    string_fields=("determination", "assignedTo"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Clause:
    """``field op value``; an ``or`` group of ``eq`` on one property is ``field in (values)``.

    :param field: the property.
    :param op: one of ``eq ne gt ge lt le``, or ``in``.
    :param value: a :class:`GraphTime`, an enum member, a string, ``None`` (``null``), or a tuple
        of enum members for ``in``.
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


def _type_name(kind: str) -> str:
    return {"string": "Edm.String", "datetime": "Edm.DateTimeOffset", "number": "Edm.Int32"}.get(
        kind, "Edm.Untyped"
    )


def _literal(schema: FilterSchema, name: str, kind: str, raw: str) -> Any:
    if raw == "null" and kind == "word":
        if name in schema.datetime_fields or name in schema.enum_fields:
            raise _invalid(f"'{name}' cannot be compared with null.")
        return None
    if name in schema.datetime_fields:
        match = _DATETIME.match(raw) if kind == "datetime" else None
        if not match:
            raise _invalid(
                f"A binary operator with incompatible types was detected. Found operand types "
                f"'Edm.DateTimeOffset' and '{_type_name(kind)}' for '{name}'."
            )
        try:
            return GraphTime.parse(raw)
        except InvalidTimestamp as err:
            raise _invalid(f"The DateTimeOffset text '{raw}' is not a valid date and time.") from err
    if kind != "string":
        raise _invalid(
            f"A binary operator with incompatible types was detected. Found operand types "
            f"'Edm.String' and '{_type_name(kind)}' for '{name}'."
        )
    value = raw[1:-1].replace("''", "'")
    members = schema.enum_fields.get(name)
    if members is not None:
        member = {m.lower(): m for m in members}.get(value.lower())
        if member is None:
            raise _invalid(f"The string '{value}' is not a valid enumeration type constant.")
        return member
    return value


# A parsed expression: a Clause, or ("and" | "or", [children]).
_Node = Any


class _Parser:
    """Recursive descent: ``expr := conj {or conj}``, ``conj := factor {and factor}``,
    ``factor := "(" expr ")" | comparison``."""

    def __init__(self, text: str, schema: FilterSchema) -> None:
        self.text = text
        self.schema = schema
        self.tokens = _tokens(text)
        self.position = 0

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def expression(self) -> _Node:
        nodes = [self.conjunction()]
        while self._peek() == ("word", "or"):
            if not self.schema.any_of_fields:
                raise _invalid("the operator 'or' is not supported.")
            self.position += 1
            nodes.append(self.conjunction())
        return nodes[0] if len(nodes) == 1 else ("or", nodes)

    def conjunction(self) -> _Node:
        nodes = [self.factor()]
        while self._peek() == ("word", "and"):
            self.position += 1
            nodes.append(self.factor())
        return nodes[0] if len(nodes) == 1 else ("and", nodes)

    def factor(self) -> _Node:
        if self._peek() == ("punct", "("):
            self.position += 1
            node = self.expression()
            if self._peek() != ("punct", ")"):
                raise _invalid(f"unbalanced parentheses in '{self.text}'.")
            self.position += 1
            return node
        return self.comparison()

    def comparison(self) -> Clause:
        tokens, position = self.tokens, self.position
        if position + 3 > len(tokens):
            raise _invalid(f"incomplete comparison in '{self.text}'.")
        (kind, name), (op_kind, op) = tokens[position], tokens[position + 1]
        if kind != "word":
            raise _invalid(f"expected a property name, found '{name}'.")
        if op_kind == "punct" and op == "(":
            raise _invalid(f"the function '{name}' is not supported.")
        if name == "not":
            raise _invalid("the operator 'not' is not supported.")
        if not self.schema.knows(name):
            raise _invalid(f"filtering on the property '{name}' is not supported.")
        if op_kind != "word" or op not in COMPARISONS:
            raise _invalid(f"the operator '{op}' is not supported.")
        value_kind, raw = tokens[position + 2]
        self.position += 3
        if name in self.schema.string_fields and op not in ("eq", "ne"):
            raise _invalid(f"the operator '{op}' is not supported on '{name}'.")
        return Clause(field=name, op=op, value=_literal(self.schema, name, value_kind, raw))


def _conjuncts(node: _Node, schema: FilterSchema) -> list[Clause]:
    if isinstance(node, Clause):
        return [node]
    kind, children = node
    if kind == "and":
        return [clause for child in children for clause in _conjuncts(child, schema)]
    return [_any_of(node, schema)]


def _disjuncts(node: _Node) -> list[_Node]:
    if isinstance(node, tuple) and node[0] == "or":
        return [leaf for child in node[1] for leaf in _disjuncts(child)]
    return [node]


def _any_of(node: _Node, schema: FilterSchema) -> Clause:
    leaves = _disjuncts(node)
    names = {leaf.field for leaf in leaves if isinstance(leaf, Clause)}
    if (
        len(names) != 1
        or not all(isinstance(leaf, Clause) and leaf.op == "eq" for leaf in leaves)
        or next(iter(names)) not in schema.any_of_fields
    ):
        allowed = ", ".join(schema.any_of_fields)
        raise _invalid(f"the operator 'or' is only supported between 'eq' comparisons of one of: {allowed}.")
    return Clause(field=next(iter(names)), op="in", value=tuple(leaf.value for leaf in leaves))


def parse_filter(text: str, schema: FilterSchema = INCIDENT_FILTER) -> list[Clause]:
    """Comparisons joined by ``and`` (and ``or`` groups where ``schema`` allows them).

    :param text: the ``$filter`` value.
    :param schema: what the API lets a filter compare; incidents' by default.
    """
    parser = _Parser(text, schema)
    if not parser.tokens:
        raise _invalid("the filter is empty.")
    node = parser.expression()
    if parser.position < len(parser.tokens):
        raise _invalid(f"unexpected '{parser.tokens[parser.position][1]}' in '{text}'.")
    return _conjuncts(node, schema)


def enum_rank(members: tuple[str, ...], value: Any) -> int:
    """A member's position in its declared order (OData compares enums by it); unknown last.

    :param members: the enum's members, in order.
    :param value: the value, in any case.
    """
    if isinstance(value, str):
        lowered = value.lower()
        for rank, member in enumerate(members):
            if member.lower() == lowered:
                return rank
    return len(members)
