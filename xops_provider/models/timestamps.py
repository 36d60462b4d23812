"""Graph timestamps at their full precision.

Graph writes up to seven fractional digits (100 ns ticks); ``datetime`` and pendulum keep six, so two
distinct ``lastUpdateDateTime`` values can compare equal once parsed. Identity, ordering and the sync
watermark therefore use :class:`GraphTime`, which keeps every tick.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import total_ordering

_PATTERN = re.compile(
    r"^\s*(?P<date>\d{4}-\d{2}-\d{2})[T ](?P<time>\d{2}:\d{2}:\d{2})"
    r"(?:\.(?P<frac>\d{1,9}))?\s*(?P<tz>Z|z|[+-]\d{2}:?\d{2})?\s*$"
)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
TICKS_PER_SECOND = 10_000_000


class InvalidTimestamp(ValueError):
    """A value that is not a Graph (ISO 8601) timestamp."""


@total_ordering
@dataclass(frozen=True, slots=True)
class GraphTime:
    """An instant in UTC, kept as a count of 100 ns ticks since the Unix epoch.

    :param ticks: 100 ns ticks since 1970-01-01T00:00:00Z.
    """

    ticks: int

    @classmethod
    def parse(cls, value: str) -> GraphTime:
        """Parse Graph's ISO 8601 text, keeping up to seven fractional digits.

        :param value: for example ``2026-03-01T10:00:33.1234567Z``; a missing zone means UTC.
        """
        if not isinstance(value, str):
            raise InvalidTimestamp(f"expected an ISO 8601 string, got {type(value).__name__}")
        match = _PATTERN.match(value)
        if not match:
            raise InvalidTimestamp(f"not an ISO 8601 timestamp: {value[:40]!r}")
        try:
            base = dt.datetime.fromisoformat(f"{match['date']}T{match['time']}")
        except ValueError as err:
            raise InvalidTimestamp(f"not an ISO 8601 timestamp: {value[:40]!r}") from err
        tz = match["tz"]
        offset = dt.timedelta(0)
        if tz and tz not in ("Z", "z"):
            sign = -1 if tz[0] == "-" else 1
            digits = tz[1:].replace(":", "")
            offset = sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        seconds = (base.replace(tzinfo=dt.UTC) - offset - _EPOCH) // dt.timedelta(seconds=1)
        # Digits past the seventh are below Graph's resolution and are dropped, not rounded.
        frac = int(((match["frac"] or "") + "0000000")[:7])
        return cls(seconds * TICKS_PER_SECOND + frac)

    @classmethod
    def from_datetime(cls, value: dt.datetime) -> GraphTime:
        """Convert an aware ``datetime`` (naive ones are taken as UTC).

        :param value: the instant.
        """
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        delta = value - _EPOCH
        return cls((delta.days * 86_400 + delta.seconds) * TICKS_PER_SECOND + delta.microseconds * 10)

    def to_datetime(self) -> dt.datetime:
        """The instant as an aware ``datetime``, truncated to microseconds."""
        return _EPOCH + dt.timedelta(microseconds=self.ticks // 10)

    def isoformat(self) -> str:
        """The canonical form: UTC, always seven fractional digits, ``Z`` suffix."""
        seconds, frac = divmod(self.ticks, TICKS_PER_SECOND)
        whole = _EPOCH + dt.timedelta(seconds=seconds)
        return f"{whole:%Y-%m-%dT%H:%M:%S}.{frac:07d}Z"

    def shift(self, *, seconds: float) -> GraphTime:
        """This instant moved by a number of seconds (negative moves back).

        :param seconds: how far to move.
        """
        return GraphTime(self.ticks + round(seconds * TICKS_PER_SECOND))

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, GraphTime):
            return NotImplemented
        return self.ticks < other.ticks

    def __str__(self) -> str:
        return self.isoformat()


def normalize_timestamp(value: str) -> str:
    """Graph's text for an instant, in the canonical seven-digit form.

    :param value: an ISO 8601 timestamp as Graph writes it.
    """
    return GraphTime.parse(value).isoformat()
