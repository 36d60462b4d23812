"""Injected failures: the ``--faults`` syntax, and the seeded dice that decide each request.

Syntax: comma-separated ``name=value`` items, e.g. ``429=0.3,503=0.1,expand500=20,slow=200ms``.

=================  ==========================================================================
``429=R``          answer 429 ``TooManyRequests`` with ``Retry-After``; ``R`` is a rate in
                   ``[0, 1]`` (``0.3`` or ``30%``), or ``Nx`` for exactly the next N requests.
``503=R``          the same with 503 ``ServiceUnavailable``.
``retry_after=S``  the ``Retry-After`` seconds sent with 429/503 (fractional allowed; default 1).
``quota=N/P``      at most N Graph requests per app (the token's client id) in any sliding window
                   of one period ``P`` (``s``, ``min`` or ``h``), as Graph's ``150/min``; over it,
                   429 with ``Retry-After`` until a request would be admitted.
``expand500=N``    500 on a ``$expand=alerts`` page when any incident on it has more than N alerts.
``slow=D``         delay every Graph answer by ``D`` (``200ms``, ``1.5s``, or bare seconds).
``truncate=R``     cut a successful JSON body short (rate or ``Nx``, as above).
``skip_ceiling=N`` answer 400 when ``$skip + $top`` exceeds N, as Graph's legacy alerts API does.
``token_lifetime=S``  the ``expires_in`` of newly issued tokens, in seconds.
=================  ==========================================================================

Faults touch Graph paths (``/v1.0/...``) only: never the identity endpoints nor ``/_admin/``.
"""

from __future__ import annotations

import math
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any


class FaultSpecError(ValueError):
    """A ``--faults`` string that cannot be understood."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Trigger:
    """When a fault fires: at a rate, or for the next ``count`` requests.

    :param rate: probability per request in ``[0, 1]``.
    :param count: how many of the next requests fire regardless of ``rate``.
    """

    rate: float = 0.0
    count: int = 0

    @classmethod
    def parse(cls, text: str) -> Trigger:
        """Read ``0.3``, ``30%`` or ``3x``.

        :param text: the value after ``=``.
        """
        text = text.strip().lower()
        try:
            if text.endswith("x"):
                count = int(text[:-1])
                if count < 0:
                    raise ValueError
                return cls(count=count)
            rate = float(text[:-1]) / 100 if text.endswith("%") else float(text)
        except ValueError as err:
            raise FaultSpecError(f"not a rate or a count: {text!r}") from err
        if not 0 <= rate <= 1:
            raise FaultSpecError(f"a rate must be within [0, 1]: {text!r}")
        return cls(rate=rate)

    def __str__(self) -> str:
        return f"{self.count}x" if self.count else f"{self.rate:g}"

    @property
    def active(self) -> bool:
        return self.count > 0 or self.rate > 0


_DURATION = re.compile(r"^(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>ms|s)?$")


def _duration(text: str) -> float:
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise FaultSpecError(f"not a duration: {text!r} (use 200ms, 1.5s or 2)")
    value = float(match["value"])
    return value / 1000 if match["unit"] == "ms" else value


def _non_negative_int(name: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError as err:
        raise FaultSpecError(f"{name} needs a whole number, got {text!r}") from err
    if value < 0:
        raise FaultSpecError(f"{name} cannot be negative")
    return value


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
            raise FaultSpecError(f"quota needs N/s, N/min or N/h (e.g. 150/min), got {text.strip()!r}")
        limit = int(match["limit"])
        if limit < 1:
            raise FaultSpecError(f"a quota must admit at least 1 request per period, got {text.strip()!r}")
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


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultSpec:
    """The configured faults; the default injects nothing.

    :param throttle: when to answer 429.
    :param unavailable: when to answer 503.
    :param retry_after: ``Retry-After`` seconds for the dice's 429 and 503.
    :param quota: requests per app per period; ``None`` for no quota.
    :param expand500: alert count above which ``$expand=alerts`` pages fail with 500.
    :param slow: seconds added before every Graph answer.
    :param truncate: when to cut a successful body short.
    :param skip_ceiling: largest accepted ``$skip + $top``.
    :param token_lifetime: ``expires_in`` for new tokens.
    """

    throttle: Trigger = field(default_factory=Trigger)
    unavailable: Trigger = field(default_factory=Trigger)
    retry_after: float = 1.0
    quota: Quota | None = None
    expand500: int | None = None
    slow: float = 0.0
    truncate: Trigger = field(default_factory=Trigger)
    skip_ceiling: int | None = None
    token_lifetime: int | None = None

    @classmethod
    def parse(cls, text: str | None) -> FaultSpec:
        """Read the ``--faults`` syntax (see the module docstring).

        :param text: the specification; empty or ``None`` means no faults.
        """
        spec = cls()
        for item in (text or "").split(","):
            if not item.strip():
                continue
            name, sep, value = item.partition("=")
            name, value = name.strip().lower(), value.strip()
            if not sep or not value:
                raise FaultSpecError(f"expected name=value, got {item.strip()!r}")
            if name == "429":
                spec = replace(spec, throttle=Trigger.parse(value))
            elif name == "503":
                spec = replace(spec, unavailable=Trigger.parse(value))
            elif name == "truncate":
                spec = replace(spec, truncate=Trigger.parse(value))
            elif name == "retry_after":
                spec = replace(spec, retry_after=_duration(value))
            elif name == "quota":
                spec = replace(spec, quota=Quota.parse(value))
            elif name == "slow":
                spec = replace(spec, slow=_duration(value))
            elif name == "expand500":
                spec = replace(spec, expand500=_non_negative_int(name, value))
            elif name == "skip_ceiling":
                spec = replace(spec, skip_ceiling=_non_negative_int(name, value))
            elif name == "token_lifetime":
                lifetime = _non_negative_int(name, value)
                if lifetime < 1:
                    raise FaultSpecError("token_lifetime must be at least 1 second")
                spec = replace(spec, token_lifetime=lifetime)
            else:
                raise FaultSpecError(
                    f"unknown fault {name!r}; known: 429, 503, retry_after, quota, expand500, slow, "
                    "truncate, skip_ceiling, token_lifetime"
                )
        return spec

    def __str__(self) -> str:
        items: list[str] = []
        if self.throttle.active:
            items.append(f"429={self.throttle}")
        if self.unavailable.active:
            items.append(f"503={self.unavailable}")
        if self.throttle.active or self.unavailable.active:
            items.append(f"retry_after={self.retry_after:g}")
        if self.quota is not None:
            items.append(f"quota={self.quota}")
        if self.expand500 is not None:
            items.append(f"expand500={self.expand500}")
        if self.slow:
            items.append(f"slow={self.slow * 1000:g}ms")
        if self.truncate.active:
            items.append(f"truncate={self.truncate}")
        if self.skip_ceiling is not None:
            items.append(f"skip_ceiling={self.skip_ceiling}")
        if self.token_lifetime is not None:
            items.append(f"token_lifetime={self.token_lifetime}")
        return ",".join(items)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("throttle", "unavailable", "truncate"):
            data[name] = str(getattr(self, name))
        data["quota"] = None if self.quota is None else str(self.quota)
        data["spec"] = str(self)
        return data


class FaultInjector:
    """Rolls the seeded dice for each Graph request, so a run with the same seed and the same
    request sequence fails at the same places.

    :param spec: the faults to inject.
    :param seed: the random seed.
    """

    def __init__(self, *, spec: FaultSpec, seed: int) -> None:
        self._seed = seed
        self.configure(spec=spec)

    def configure(self, *, spec: FaultSpec) -> None:
        """Replace the faults and restart the dice from the seed.

        :param spec: the new faults.
        """
        self.spec = spec
        self._random = random.Random(self._seed)
        self._remaining = {
            "throttle": spec.throttle.count,
            "unavailable": spec.unavailable.count,
            "truncate": spec.truncate.count,
        }
        # A fresh window: setting faults lifts whatever an earlier quota had counted.
        self.quota = None if spec.quota is None else QuotaWindow(spec.quota)

    def admit(self, app: str) -> float | None:
        """Count one request of ``app`` against the quota, if there is one.

        :param app: the caller's client id.
        :returns: ``None`` when admitted; otherwise the seconds until a request would be.
        """
        return None if self.quota is None else self.quota.admit(app)

    def fires(self, name: str) -> bool:
        """Whether the fault ``name`` (``throttle``, ``unavailable`` or ``truncate``) hits now.

        :param name: the fault.
        """
        if self._remaining[name] > 0:
            self._remaining[name] -= 1
            return True
        trigger: Trigger = getattr(self.spec, name)
        return trigger.rate > 0 and self._random.random() < trigger.rate

    def cut(self, length: int) -> int:
        """Where to cut a body of ``length`` bytes (always inside it, never at the ends).

        :param length: the body's length.
        """
        return self._random.randint(1, max(1, length - 2)) if length > 2 else 0
