"""A parser of the contract's KQL subset, to prove what the provider sends is in it.

It follows CONTRACT-hunting.md's grammar and nothing more: a query it accepts has exactly the
operators it reports, and every string literal is decoded (``\\"`` and ``\\\\`` escapes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>"(?:[^"\\\n]|\\["\\])*")
    | (?P<datetime>datetime\([0-9T:.\-+Z]+\))
    | (?P<range>\.\.)
    | (?P<op>==|!=|=~|>=|<=|>|<)
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*~?)
    | (?P<int>\d+)
    | (?P<punct>[|(),])
    )""",
    re.VERBOSE,
)


class KqlSyntaxError(ValueError):
    pass


@dataclass
class ParsedQuery:
    table: str
    operators: list[str] = field(default_factory=list)
    literals: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise KqlSyntaxError(f"unexpected text at {position}: {text[position : position + 20]!r}")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.at = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, kind: str | None = None, value: str | None = None) -> str:
        token = self.peek()
        if token is None or (kind and token[0] != kind) or (value and token[1] != value):
            raise KqlSyntaxError(f"expected {value or kind}, got {token}")
        self.at += 1
        return token[1]

    def literal(self, query: ParsedQuery) -> None:
        kind, value = self.peek() or ("", "")
        if kind == "string":
            self.take()
            query.literals.append(re.sub(r"\\(.)", r"\1", value[1:-1]))
        elif kind in ("datetime", "int") or (kind == "word" and value in ("true", "false")):
            self.take()
        else:
            raise KqlSyntaxError(f"expected a literal, got {value!r}")

    def atom(self, query: ParsedQuery) -> None:
        if self.peek() == ("punct", "("):
            self.take()
            self.predicate(query)
            self.take("punct", ")")
            return
        query.columns.append(self.take("word"))
        kind, value = self.peek() or ("", "")
        if kind == "op":
            self.take()
            self.literal(query)
        elif value in ("in", "in~"):
            self.take()
            self.take("punct", "(")
            self.literal(query)
            while self.peek() == ("punct", ","):
                self.take()
                self.literal(query)
            self.take("punct", ")")
        elif value == "between":
            self.take()
            self.take("punct", "(")
            self.literal(query)
            self.take("range")
            self.literal(query)
            self.take("punct", ")")
        else:
            raise KqlSyntaxError(f"expected a comparison, got {value!r}")

    def conjunction(self, query: ParsedQuery) -> None:
        self.atom(query)
        while self.peek() == ("word", "and"):
            self.take()
            self.atom(query)

    def predicate(self, query: ParsedQuery) -> None:
        self.conjunction(query)
        while self.peek() == ("word", "or"):
            self.take()
            self.conjunction(query)

    def query(self) -> ParsedQuery:
        query = ParsedQuery(table=self.take("word"))
        while self.peek() is not None:
            self.take("punct", "|")
            operator = self.take("word")
            query.operators.append(operator)
            if operator == "where":
                self.predicate(query)
            elif operator == "project":
                query.columns.append(self.take("word"))
                while self.peek() == ("punct", ","):
                    self.take()
                    query.columns.append(self.take("word"))
            elif operator in ("take", "limit"):
                self.take("int")
            else:
                raise KqlSyntaxError(f"operator {operator!r} is outside the subset")
        return query


def parse_kql(text: str) -> ParsedQuery:
    return _Parser(text).query()
