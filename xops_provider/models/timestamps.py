"""Graph timestamps at their full precision.

Graph writes up to seven fractional digits (100 ns ticks); ``datetime`` and pendulum keep six, so two
distinct ``lastUpdateDateTime`` values can compare equal once parsed. Identity, ordering and the sync
watermark therefore use :class:`GraphTime`, which keeps every tick.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache, total_ordering
from typing import Any

_PATTERN = re.compile(
    r"^\s*(?P<date>\d{4}-\d{2}-\d{2})[T ](?P<time>\d{2}:\d{2}:\d{2})"
    r"(?:\.(?P<frac>\d{1,9}))?\s*(?P<tz>Z|z|[+-]\d{2}:?\d{2})?\s*$"
)
# Graph's own form, which nearly every value has: read without the general pattern's alternatives.
_CANONICAL = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?Z", re.ASCII)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_EPOCH_NAIVE = dt.datetime(1970, 1, 1)
_EPOCH_ORDINAL = _EPOCH.toordinal()
TICKS_PER_SECOND = 10_000_000
# A story reads the same few instants dozens of times (every alert, entry and version repeats them).
_CACHE_SIZE = 4096
# Longer text (padding) is parsed every time rather than kept.
_CACHED_LENGTH = 40


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
        if cls is GraphTime and type(value) is str and len(value) <= _CACHED_LENGTH:
            return _parse_cached(value)
        return cls(_ticks(value))

    @classmethod
    def from_datetime(cls, value: dt.datetime) -> GraphTime:
        """Convert an aware ``datetime`` (naive ones are taken as UTC).

        :param value: the instant.
        """
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        delta = value - _EPOCH
        return cls((delta.days * 86_400 + delta.seconds) * TICKS_PER_SECOND + delta.microseconds * 10)

    @classmethod
    def now(cls) -> GraphTime:
        """The wall clock."""
        return cls.from_datetime(dt.datetime.now(dt.UTC))

    def to_datetime(self) -> dt.datetime:
        """The instant as an aware ``datetime``, truncated to microseconds."""
        return _EPOCH + dt.timedelta(microseconds=self.ticks // 10)

    def isoformat(self) -> str:
        """The canonical form: UTC, always seven fractional digits, ``Z`` suffix."""
        return _isoformat(self.ticks)

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


def _ticks(value: Any) -> int:
    if isinstance(value, str) and (match := _CANONICAL.fullmatch(value)):
        year, month, day, hour, minute, second, frac = match.groups()
        try:
            days = dt.date(int(year), int(month), int(day)).toordinal() - _EPOCH_ORDINAL
        except ValueError:
            days = None
        # Anything out of range is left to the general reading, which words the error.
        if days is not None and int(hour) < 24 and int(minute) < 60 and int(second) < 60:
            seconds = days * 86_400 + int(hour) * 3600 + int(minute) * 60 + int(second)
            return seconds * TICKS_PER_SECOND + int(((frac or "") + "0000000")[:7])
    return _general_ticks(value)


def _general_ticks(value: Any) -> int:
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
    return seconds * TICKS_PER_SECOND + int(((match["frac"] or "") + "0000000")[:7])


@lru_cache(maxsize=_CACHE_SIZE)
def _parse_cached(value: str) -> GraphTime:
    # GraphTime is immutable, so one instance can serve every caller; errors are not cached.
    return GraphTime(_ticks(value))


@lru_cache(maxsize=_CACHE_SIZE)
def _isoformat(ticks: int) -> str:
    seconds, frac = divmod(ticks, TICKS_PER_SECOND)
    whole = _EPOCH_NAIVE + dt.timedelta(seconds=seconds)
    # isoformat is several times faster than strftime and writes the same text, except that it pads
    # years before 1000, which strftime (and so every stored time before) does not.
    text = whole.isoformat() if whole.year >= 1000 else f"{whole:%Y-%m-%dT%H:%M:%S}"
    return f"{text}.{frac:07d}Z"


def normalize_timestamp(value: str) -> str:
    """Graph's text for an instant, in the canonical seven-digit form.

    :param value: an ISO 8601 timestamp as Graph writes it.
    """
    return GraphTime.parse(value).isoformat()
