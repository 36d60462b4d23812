"""Cato's events feed: records in arrival order, read from a marker.

The feed is a sequence; a record's position never changes once appended. A marker is an opaque
token for a position (the next record to return): an empty marker reads from the oldest record,
and the marker of a page resumes exactly after its last record, so pages have neither gaps nor
duplicates, and a caught-up reader gets ``fetchedCount`` 0 with the same marker until more arrive.
"""

from __future__ import annotations

import base64
import binascii
import bisect
from collections.abc import Callable
from typing import Any, Protocol

from xops_provider.simulator.constants import CATO_ACCOUNT_ID

_MARKER_PREFIX = f"xops-cato:{CATO_ACCOUNT_ID}:"
# When filters are given, read the feed in slices of this many records.
_CHUNK = 3000


class MarkerError(ValueError):
    """A marker this feed did not hand out."""


def encode_marker(position: int) -> str:
    """The opaque marker for ``position``.

    :param position: the index of the next record to return.
    """
    return base64.urlsafe_b64encode(f"{_MARKER_PREFIX}{position}".encode()).decode().rstrip("=")


def decode_marker(marker: str | None) -> int:
    """The position a marker stands for; an empty marker is the oldest record.

    :param marker: the marker sent back.
    """
    if not marker:
        return 0
    try:
        text = base64.urlsafe_b64decode(marker + "=" * (-len(marker) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise MarkerError("invalid marker") from None
    if not text.startswith(_MARKER_PREFIX) or not text[len(_MARKER_PREFIX) :].isdigit():
        raise MarkerError("invalid marker")
    return int(text[len(_MARKER_PREFIX) :])


class FeedSource(Protocol):
    """A run of records: stored, or computed from their index."""

    def __len__(self) -> int: ...

    def cato_records(self, first: int, stop: int) -> list[dict[str, Any]]: ...


class _Stored:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def __len__(self) -> int:
        return len(self.records)

    def cato_records(self, first: int, stop: int) -> list[dict[str, Any]]:
        return self.records[first:stop]


class CatoFeed:
    """The account's events, in the order they arrived."""

    def __init__(self) -> None:
        self._sources: list[FeedSource] = []
        self._starts: list[int] = []
        self._length = 0

    def __len__(self) -> int:
        return self._length

    def append(self, records: list[dict[str, Any]]) -> int:
        """Append stored records (``{"time", "fieldsMap"}``); returns the feed's new length.

        :param records: the records, in arrival order.
        """
        last = self._sources[-1] if self._sources else None
        if not isinstance(last, _Stored):
            last = _Stored()
            self._starts.append(self._length)
            self._sources.append(last)
        last.records.extend(records)
        self._length += len(records)
        return self._length

    def extend(self, source: FeedSource) -> int:
        """Append a computed run of records; returns the feed's new length.

        :param source: e.g. a :class:`~xops_provider.simulator.telemetry.generator.NetworkGenerator`.
        """
        self._starts.append(self._length)
        self._sources.append(source)
        self._length += len(source)
        return self._length

    def slice(self, first: int, stop: int) -> list[dict[str, Any]]:
        """Records ``[first, stop)`` in feed order.

        :param first: the first position.
        :param stop: the position after the last.
        """
        out: list[dict[str, Any]] = []
        stop = min(stop, self._length)
        index = max(0, bisect.bisect_right(self._starts, first) - 1)
        while first < stop and index < len(self._sources):
            base = self._starts[index]
            source = self._sources[index]
            end = min(stop, base + len(source))
            if end > first:
                out.extend(source.cato_records(first - base, end - base))
                first = end
            index += 1
        return out

    def read(
        self, position: int, *, limit: int, accept: Callable[[dict[str, Any]], bool] | None = None
    ) -> tuple[list[dict[str, Any]], int]:
        """Up to ``limit`` records from ``position`` that ``accept`` keeps, and the position after
        the last record examined.

        :param position: where to start.
        :param limit: the page size.
        :param accept: a filter on records; all pass when omitted.
        """
        if accept is None:
            stop = min(self._length, position + limit)
            return self.slice(position, stop), max(position, stop)
        page: list[dict[str, Any]] = []
        while position < self._length and len(page) < limit:
            chunk = self.slice(position, position + _CHUNK)
            for offset, record in enumerate(chunk):
                if accept(record):
                    page.append(record)
                    if len(page) == limit:
                        return page, position + offset + 1
            position += len(chunk)
        return page, position
