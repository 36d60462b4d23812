"""The KQL subset ``runHuntingQuery`` serves: a tokenizer, a recursive descent parser and an
evaluator over the simulated tables. Nothing is ever ``eval``-ed: a query becomes closures over
typed literals, and a string literal stays a literal whatever it contains.

Grammar (``docs/simulator.md`` and the hunting contract)::

    Query     := Table { "|" Operator }
    Operator  := "where" Predicate | "project" Ident { "," Ident } | "take" Int | "limit" Int
               | "order" "by" Ident [ "asc" | "desc" ]
    Predicate := Conj { "or" Conj }
    Conj      := Atom { "and" Atom }
    Atom      := "(" Predicate ")" | Ident Cmp Literal | Ident ("in" | "in~") "(" Literal {"," Literal} ")"
               | Ident "between" "(" Literal ".." Literal ")"
    Literal   := String | "datetime(" ISO-8601 ")" | Int | "true" | "false"

Keywords are lower-case, table and column names case-sensitive, ``order by`` without a direction
is descending (as in KQL), and types are strict: a datetime column compares with ``datetime(…)``
only, as Kusto refuses to compare a datetime with a string.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from operator import eq, ge, gt, itemgetter, le, lt, ne
from typing import Any

from xops_provider.models.timestamps import GraphTime, InvalidTimestamp

#: The most rows one answer holds (the API's documented ceiling); the rest are not returned.
ROW_LIMIT = 100_000
#: The longest query accepted, in characters.
MAX_QUERY_LENGTH = 200_000
_MAX_DEPTH = 64

_TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<string>"(?:[^"\\\n]|\\.)*")
      | (?P<datetime>datetime\(\s*(?P<iso>[^()\s]*)\s*\))
      | (?P<int>-?\d+)(?!\w)(?!\.[^.])
      | (?P<op>==|!=|=~|>=|<=|>|<|\||\(|\)|,|\.\.)
      | (?P<word>in~|[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.VERBOSE,
)
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,7})?)?)?Z?$")
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {"==": eq, "!=": ne, ">": gt, ">=": ge, "<": lt, "<=": le}
_ALLOWED = {
    "string": {"==", "!=", "=~", "in", "in~"},
    "datetime": {"==", "!=", ">", ">=", "<", "<=", "in", "between"},
    "int": {"==", "!=", ">", ">=", "<", "<=", "in", "between"},
    "bool": {"==", "!="},
}
Row = dict[str, Any]


class KqlError(ValueError):
    """A query outside the subset, or one Kusto itself would refuse; answered 400."""


@dataclass(frozen=True, slots=True)
class Token:
    """A lexeme: ``literal`` (``value`` is ``(type, value)``), ``op`` or ``word``, at ``position``."""

    kind: str
    text: str
    value: Any
    position: int


def _where(text: str, position: int) -> str:
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    return f"line [{line}, {column}]"


def _unescape(raw: str, text: str, position: int) -> str:
    def replace(match: re.Match[str]) -> str:
        if match[1] not in ('"', "\\"):
            raise KqlError(
                f"Unsupported escape sequence '\\{match[1]}' in a string at {_where(text, position)}"
            )
        return match[1]

    return _ESCAPE.sub(replace, raw[1:-1])


def tokenize(text: str) -> list[Token]:
    """The query's tokens; anything the subset does not know is refused here.

    :param text: the query.
    """
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise KqlError(
                f"Query could not be parsed at '{text[position : position + 20]}' on {_where(text, position)}"
            )
        kind = match.lastgroup
        raw = match[0]
        if kind == "string":
            tokens.append(Token("literal", raw, ("string", _unescape(raw, text, position)), position))
        elif kind == "datetime":
            iso = match["iso"]
            try:
                if not _ISO.match(iso):
                    raise InvalidTimestamp(iso)
                ticks = GraphTime.parse(iso if "T" in iso else f"{iso}T00:00:00Z").ticks
            except InvalidTimestamp:
                raise KqlError(f"Invalid datetime literal '{raw}' at {_where(text, position)}") from None
            tokens.append(Token("literal", raw, ("datetime", ticks), position))
        elif kind == "int":
            tokens.append(Token("literal", raw, ("int", int(raw)), position))
        elif kind == "word" and raw in ("true", "false"):
            tokens.append(Token("literal", raw, ("bool", raw == "true"), position))
        elif kind in ("op", "word"):
            tokens.append(Token(kind, raw, raw, position))
        position = match.end()
    return tokens


@dataclass(frozen=True, slots=True)
class Condition:
    """A compiled predicate and the ``Timestamp`` window it implies (inclusive ticks, or ``None``).

    :param test: the row test.
    :param lower: rows before this cannot pass.
    :param upper: rows after this cannot pass.
    """

    test: Callable[[Row], bool]
    lower: int | None = None
    upper: int | None = None


@dataclass(frozen=True, slots=True)
class Operator:
    """One pipeline stage.

    :param kind: ``where``, ``project``, ``take`` or ``order``.
    :param argument: the condition, the columns, the count, or ``(column, descending)``.
    """

    kind: str
    argument: Any


@dataclass(frozen=True, slots=True)
class HuntingQuery:
    """A parsed query.

    :param table: the source table.
    :param operators: its stages, in order.
    :param columns: the answer's columns and their types, in order.
    """

    table: str
    operators: tuple[Operator, ...]
    columns: dict[str, str]


class _Parser:
    def __init__(self, text: str, tables: Mapping[str, Mapping[str, str]]) -> None:
        self.text = text
        self.tables = tables
        self.tokens = tokenize(text)
        self.index = 0
        self.depth = 0

    # -- tokens ----------------------------------------------------------------------------------

    def _peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def _fail(self, token: Token | None) -> KqlError:
        if token is None:
            return KqlError("Query could not be parsed: unexpected end of query")
        return KqlError(f"Query could not be parsed at '{token.text}' on {_where(self.text, token.position)}")

    def _next(self) -> Token:
        token = self._peek()
        if token is None:
            raise self._fail(None)
        self.index += 1
        return token

    def _expect(self, text: str) -> Token:
        token = self._next()
        if token.kind not in ("op", "word") or token.text != text:
            raise self._fail(token)
        return token

    def _accept(self, text: str) -> bool:
        token = self._peek()
        if token is not None and token.kind in ("op", "word") and token.text == text:
            self.index += 1
            return True
        return False

    def _column(self, columns: Mapping[str, str]) -> str:
        token = self._next()
        if token.kind != "word":
            raise self._fail(token)
        if token.text not in columns:
            raise KqlError(f"Failed to resolve table or column expression named '{token.text}'")
        return token.text

    # -- grammar ---------------------------------------------------------------------------------

    def query(self) -> HuntingQuery:
        token = self._next()
        if token.kind != "word":
            raise self._fail(token)
        if token.text not in self.tables:
            raise KqlError(f"Failed to resolve table or column expression named '{token.text}'")
        columns = dict(self.tables[token.text])
        operators: list[Operator] = []
        while self._peek() is not None:
            self._expect("|")
            operator, columns = self.operator(columns)
            operators.append(operator)
        return HuntingQuery(table=token.text, operators=tuple(operators), columns=columns)

    def operator(self, columns: dict[str, str]) -> tuple[Operator, dict[str, str]]:
        token = self._next()
        name = token.text if token.kind == "word" else ""
        if name == "where":
            return Operator("where", self.predicate(columns)), columns
        if name == "project":
            chosen = [self._column(columns)]
            while self._accept(","):
                chosen.append(self._column(columns))
            if len(set(chosen)) != len(chosen):
                raise KqlError("A column appears more than once in project")
            return Operator("project", tuple(chosen)), {name: columns[name] for name in chosen}
        if name in ("take", "limit"):
            count = self._next()
            if count.kind != "literal" or count.value[0] != "int" or count.value[1] < 0:
                raise self._fail(count)
            return Operator("take", count.value[1]), columns
        if name == "order":
            self._expect("by")
            column = self._column(columns)
            descending = not self._accept("asc")
            if descending:
                self._accept("desc")
            return Operator("order", (column, descending)), columns
        if token.kind == "word":
            raise KqlError(f"The operator '{token.text}' is not supported by this service")
        raise self._fail(token)

    def predicate(self, columns: Mapping[str, str]) -> Condition:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise KqlError("The predicate is nested too deeply")
        parts = [self.conjunction(columns)]
        while self._accept("or"):
            parts.append(self.conjunction(columns))
        self.depth -= 1
        if len(parts) == 1:
            return parts[0]
        tests = [part.test for part in parts]
        # A row can pass through any branch: the window is their union, unbounded if one is.
        lower = None if any(p.lower is None for p in parts) else min(p.lower or 0 for p in parts)
        upper = None if any(p.upper is None for p in parts) else max(p.upper or 0 for p in parts)
        return Condition(lambda row: any(test(row) for test in tests), lower, upper)

    def conjunction(self, columns: Mapping[str, str]) -> Condition:
        parts = [self.atom(columns)]
        while self._accept("and"):
            parts.append(self.atom(columns))
        if len(parts) == 1:
            return parts[0]
        tests = [part.test for part in parts]
        lowers = [p.lower for p in parts if p.lower is not None]
        uppers = [p.upper for p in parts if p.upper is not None]
        return Condition(
            lambda row: all(test(row) for test in tests),
            max(lowers) if lowers else None,
            min(uppers) if uppers else None,
        )

    def atom(self, columns: Mapping[str, str]) -> Condition:
        if self._accept("("):
            condition = self.predicate(columns)
            self._expect(")")
            return condition
        column = self._column(columns)
        kind = columns[column]
        token = self._next()
        operator = token.text if token.kind in ("op", "word") else ""
        if operator not in _COMPARE and operator not in ("=~", "in", "in~", "between"):
            if token.kind == "word":
                raise KqlError(f"The operator '{token.text}' is not supported by this service")
            raise self._fail(token)
        if operator not in _ALLOWED[kind]:
            raise KqlError(f"The operator '{operator}' cannot be applied to the {kind} column '{column}'")
        if operator in ("in", "in~"):
            self._expect("(")
            values = [self._literal(column, kind)]
            while self._accept(","):
                values.append(self._literal(column, kind))
            self._expect(")")
            return _membership(column, values, fold=operator == "in~", timestamp=column == "Timestamp")
        if operator == "between":
            self._expect("(")
            low = self._literal(column, kind)
            self._expect("..")
            high = self._literal(column, kind)
            self._expect(")")
            get = itemgetter(column)
            bounds = (low, high) if column == "Timestamp" else (None, None)
            return Condition(lambda row: low <= get(row) <= high, *bounds)
        value = self._literal(column, kind)
        return _comparison(column, operator, value)

    def _literal(self, column: str, kind: str) -> Any:
        token = self._next()
        if token.kind != "literal":
            raise self._fail(token)
        literal_kind, value = token.value
        if literal_kind != kind:
            raise KqlError(
                f"Cannot compare values of types {kind} and {literal_kind} ('{column}'). "
                "Try adding explicit casts"
            )
        return value


def _comparison(column: str, operator: str, value: Any) -> Condition:
    get = itemgetter(column)
    if operator == "=~":
        folded = value.casefold()
        return Condition(lambda row: get(row).casefold() == folded)
    compare = _COMPARE[operator]
    test = lambda row: compare(get(row), value)  # noqa: E731 - one closure per comparison
    if column != "Timestamp":
        return Condition(test)
    lower = value if operator in (">", ">=", "==") else None
    upper = value if operator in ("<", "<=", "==") else None
    return Condition(lambda row: compare(get(row), value), lower, upper)


def _membership(column: str, values: list[Any], *, fold: bool, timestamp: bool) -> Condition:
    get = itemgetter(column)
    if fold:
        folded = frozenset(value.casefold() for value in values)
        return Condition(lambda row: get(row).casefold() in folded)
    members = frozenset(values)
    if timestamp:
        return Condition(lambda row: get(row) in members, min(values), max(values))
    return Condition(lambda row: get(row) in members)


def parse(text: str, tables: Mapping[str, Mapping[str, str]]) -> HuntingQuery:
    """Parse a query against the tables' schemas.

    :param text: the KQL.
    :param tables: table -> column -> type.
    """
    if not isinstance(text, str) or not text.strip():
        raise KqlError("The query is empty")
    if len(text) > MAX_QUERY_LENGTH:
        raise KqlError(f"The query is longer than {MAX_QUERY_LENGTH} characters")
    return _Parser(text, tables).query()


def run(query: HuntingQuery, scan: Callable[[int | None, int | None], Iterator[Row]]) -> list[Row]:
    """The query's rows (at most :data:`ROW_LIMIT`); :attr:`HuntingQuery.columns` says which of
    their columns the answer holds.

    :param query: the parsed query.
    :param scan: the table's rows within inclusive ``Timestamp`` bounds, oldest first.
    """
    first = query.operators[0] if query.operators else None
    condition = first.argument if first is not None and first.kind == "where" else None
    rows: Iterator[Row] = scan(condition.lower if condition else None, condition.upper if condition else None)
    # ``project`` needs no stage: the parser let later stages name only the projected columns,
    # and the answer is written from ``query.columns``.
    for operator in query.operators:
        if operator.kind == "where":
            rows = filter(operator.argument.test, rows)
        elif operator.kind == "take":
            rows = islice(rows, operator.argument)
        elif operator.kind == "order":
            column, descending = operator.argument
            rows = iter(sorted(rows, key=itemgetter(column), reverse=descending))
    return list(islice(rows, ROW_LIMIT))
