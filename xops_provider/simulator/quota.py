"""Request quotas kept as sliding windows: Graph's ``quota=``, hunting's own 45 a minute, Cato's.

A quota is written ``N/s``, ``N/min`` or ``N/h``; :class:`QuotaWindow` admits at most N requests per
key (an app, or an app in a tenant) in any window of that length.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

_QUOTA = re.compile(r"^(?P<limit>\d+)\s*/\s*(?P<unit>s|min|h)$")
_PERIODS = {"s": 1.0, "min": 60.0, "h": 3600.0}


@dataclass(frozen=True, slots=True, kw_only=True)
class Quota:
    """A request quota per app: at most ``limit`` requests in any window of one ``unit``.

    :param limit: requests admitted per window, at least 1.
    :param unit: the window: ``s``, ``min`` or ``h``.
    """

    limit: int
    unit: str

    @classmethod
    def parse(cls, text: str) -> Quota:
        """Read ``150/min``, ``5/s`` or ``1000/h``.

        :param text: the value after ``quota=``.
        """
        match = _QUOTA.match(text.strip().lower())
        if not match:
            raise ValueError(f"quota needs N/s, N/min or N/h (e.g. 150/min), got {text.strip()!r}")
        limit = int(match["limit"])
        if limit < 1:
            raise ValueError(f"a quota must admit at least 1 request per period, got {text.strip()!r}")
        return cls(limit=limit, unit=match["unit"])

    @property
    def period(self) -> float:
        """The window's length in seconds."""
        return _PERIODS[self.unit]

    def __str__(self) -> str:
        return f"{self.limit}/{self.unit}"


class QuotaWindow:
    """Admission under a :class:`Quota`, kept per app as a sliding window log.

    A sliding log rather than a token bucket: a bucket of capacity N refilled at N per period
    admits up to 2N in some windows (a full bucket, then its refill), which a benchmark would
    read as Graph being twice as generous as it is. The log admits at most N in every window,
    closer to how Graph counts, and still lets a client that waits out ``Retry-After`` sustain N
    per period: the wait ends exactly when its oldest admission leaves the window. Refusals are
    not logged, so a client that retries too early only loses its own time.

    :param quota: the quota.
    :param clock: monotonic seconds; replaceable in tests.
    """

    def __init__(self, quota: Quota, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.quota = quota
        self._clock = clock
        self._admitted: dict[str, deque[float]] = {}
        # Handlers run on one event loop today, but the check and the record must stay one step
        # even if a handler ever runs in uvicorn's thread pool.
        self._lock = threading.Lock()

    def admit(self, app: str) -> float | None:
        """Admit one request of ``app`` and count it, or say how long until one would be admitted.

        :param app: the caller's client id.
        :returns: ``None`` when admitted; otherwise the seconds to wait, in ``(0, period]``.
        """
        period = self.quota.period
        with self._lock:
            now = self._clock()
            log = self._admitted.setdefault(app, deque())
            while log and log[0] <= now - period:
                log.popleft()
            if len(log) < self.quota.limit:
                log.append(now)
                return None
            return min(period, log[0] + period - now)


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` for a wait of ``seconds``: fractional, as Graph sometimes sends (``2.128``).

    Rounded up to the millisecond, so a client that waits exactly this long is not early.

    :param seconds: the wait.
    """
    millis = max(1, math.ceil(seconds * 1000))
    return f"{millis / 1000:.3f}".rstrip("0").rstrip(".")
