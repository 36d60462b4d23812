"""Injected failures: the ``--faults`` syntax, and the seeded dice that decide each request.

Syntax: comma-separated ``name=value`` items, e.g. ``429=0.3,503=0.1,expand500=20,slow=200ms``.

=====================  ======================================================================
``429=R``              answer 429 ``TooManyRequests`` with ``Retry-After``; ``R`` is a rate in
                       ``[0, 1]`` (``0.3`` or ``30%``), or ``Nx`` for exactly the next N requests.
``503=R``              the same with 503 ``ServiceUnavailable``.
``retry_after=S``      the ``Retry-After`` seconds sent with 429/503 (fractional allowed; default 1).
``quota=N/P``          at most N Graph requests per app (the token's client id) in any sliding
                       window of one period ``P`` (``s``, ``min`` or ``h``), as Graph's
                       ``150/min``; over it, 429 with ``Retry-After`` until one would be admitted.
``expand500=N``        500 on a ``$expand=alerts`` page when any incident on it has more than N alerts.
``slow=D``             delay every Graph answer by ``D`` (``200ms``, ``1.5s``, or bare seconds).
``truncate=R``         cut a successful JSON body short (rate or ``Nx``, as above).
``skip_ceiling=N``     answer 400 when ``$skip + $top`` exceeds N, as Graph's legacy alerts API does.
``token_lifetime=S``   the ``expires_in`` of newly issued tokens, in seconds.
``hunting_quota=N/P``  ``runHuntingQuery`` calls per app and tenant, sliding window; default
                       ``45/min`` (Defender's own), ``off`` for none.
``hunting_429=R``      ``runHuntingQuery`` answers 429 (rate or ``Nx``), before its quota.
``hunting_400=R``      ``runHuntingQuery`` answers 400 ``BadRequest`` (rate or ``Nx``).
``cato_error=R``       the Cato ``eventsFeed`` answers a GraphQL error (rate or ``Nx``).
``cato_quota=N/P``     ``eventsFeed`` calls per API key, sliding window; none by default.
``cato_page=N``        records per ``eventsFeed`` page, 1 to 3000 (default 3000).
=====================  ======================================================================

Graph faults touch Graph paths (``/v1.0/...``) only: never the identity endpoints, ``/_admin/``
or the Cato feed, which has its own.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from xops_provider.simulator.quota import Quota, QuotaWindow, retry_after_header

__all__ = [
    "CATO_MAX_PAGE",
    "HUNTING_QUOTA",
    "FaultInjector",
    "FaultSpec",
    "FaultSpecError",
    "Quota",
    "QuotaWindow",
    "Trigger",
    "retry_after_header",
]

#: Defender's advanced hunting API: 45 calls a minute per tenant.
HUNTING_QUOTA = Quota(limit=45, unit="min")
#: The most records Cato's ``eventsFeed`` returns in one page.
CATO_MAX_PAGE = 3000


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


def _quota(text: str) -> Quota:
    try:
        return Quota.parse(text)
    except ValueError as err:
        raise FaultSpecError(str(err)) from None


def _optional_quota(text: str) -> Quota | None:
    return None if text.strip().lower() == "off" else _quota(text)


def _lifetime(text: str) -> int:
    lifetime = _non_negative_int("token_lifetime", text)
    if lifetime < 1:
        raise FaultSpecError("token_lifetime must be at least 1 second")
    return lifetime


def _cato_page(text: str) -> int:
    size = _non_negative_int("cato_page", text)
    if not 1 <= size <= CATO_MAX_PAGE:
        raise FaultSpecError(f"cato_page must be within [1, {CATO_MAX_PAGE}], got {size}")
    return size


# Item name -> (FaultSpec field, parser). The order is the order ``str()`` writes them in.
_ITEMS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "429": ("throttle", Trigger.parse),
    "503": ("unavailable", Trigger.parse),
    "retry_after": ("retry_after", _duration),
    "quota": ("quota", _quota),
    "expand500": ("expand500", lambda text: _non_negative_int("expand500", text)),
    "slow": ("slow", _duration),
    "truncate": ("truncate", Trigger.parse),
    "skip_ceiling": ("skip_ceiling", lambda text: _non_negative_int("skip_ceiling", text)),
    "token_lifetime": ("token_lifetime", _lifetime),
    "hunting_quota": ("hunting_quota", _optional_quota),
    "hunting_429": ("hunting_throttle", Trigger.parse),
    "hunting_400": ("hunting_bad_request", Trigger.parse),
    "cato_error": ("cato_error", Trigger.parse),
    "cato_quota": ("cato_quota", _quota),
    "cato_page": ("cato_page", _cato_page),
}
#: The dice a :class:`FaultInjector` rolls, by :class:`FaultSpec` field.
_DICE = ("throttle", "unavailable", "truncate", "hunting_throttle", "hunting_bad_request", "cato_error")


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultSpec:
    """The configured faults; the default injects nothing beyond hunting's own quota.

    :param throttle: when to answer 429.
    :param unavailable: when to answer 503.
    :param retry_after: ``Retry-After`` seconds for the dice's 429 and 503.
    :param quota: Graph requests per app per period; ``None`` for no quota.
    :param expand500: alert count above which ``$expand=alerts`` pages fail with 500.
    :param slow: seconds added before every Graph answer.
    :param truncate: when to cut a successful body short.
    :param skip_ceiling: largest accepted ``$skip + $top``.
    :param token_lifetime: ``expires_in`` for new tokens.
    :param hunting_quota: ``runHuntingQuery`` calls per app and tenant per period; ``None`` for none.
    :param hunting_throttle: when ``runHuntingQuery`` answers 429.
    :param hunting_bad_request: when ``runHuntingQuery`` answers 400.
    :param cato_error: when ``eventsFeed`` answers a GraphQL error.
    :param cato_quota: ``eventsFeed`` calls per API key per period; ``None`` for none.
    :param cato_page: records per ``eventsFeed`` page.
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
    hunting_quota: Quota | None = HUNTING_QUOTA
    hunting_throttle: Trigger = field(default_factory=Trigger)
    hunting_bad_request: Trigger = field(default_factory=Trigger)
    cato_error: Trigger = field(default_factory=Trigger)
    cato_quota: Quota | None = None
    cato_page: int = CATO_MAX_PAGE

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
            if name not in _ITEMS:
                raise FaultSpecError(f"unknown fault {name!r}; known: {', '.join(_ITEMS)}")
            attribute, parser = _ITEMS[name]
            spec = replace(spec, **{attribute: parser(value)})
        return spec

    def __str__(self) -> str:
        default = FaultSpec()
        items: list[str] = []
        for name, (attribute, _) in _ITEMS.items():
            value = getattr(self, attribute)
            if name == "retry_after":
                # Written whenever a dice's 429 or 503 would send it.
                if any(getattr(self, a).active for a in ("throttle", "unavailable", "hunting_throttle")):
                    items.append(f"retry_after={value:g}")
            elif name == "slow":
                if value:
                    items.append(f"slow={value * 1000:g}ms")
            elif isinstance(value, Trigger):
                if value.active:
                    items.append(f"{name}={value}")
            elif value != getattr(default, attribute):
                items.append(f"{name}={'off' if value is None else value}")
        return ",".join(items)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in _DICE:
            data[name] = str(getattr(self, name))
        for name in ("quota", "hunting_quota", "cato_quota"):
            value = getattr(self, name)
            data[name] = None if value is None else str(value)
        data["spec"] = str(self)
        return data


class FaultInjector:
    """Rolls the seeded dice for each request, so a run with the same seed and the same request
    sequence fails at the same places; keeps the quotas' windows.

    :param spec: the faults to inject.
    :param seed: the random seed.
    """

    def __init__(self, *, spec: FaultSpec, seed: int) -> None:
        self._seed = seed
        self.configure(spec=spec)

    def configure(self, *, spec: FaultSpec) -> None:
        """Replace the faults and restart the dice from the seed and the quotas from empty windows.

        :param spec: the new faults.
        """
        self.spec = spec
        self._random = random.Random(self._seed)
        self._remaining = {name: getattr(spec, name).count for name in _DICE}
        # Fresh windows: setting faults lifts whatever an earlier quota had counted.
        self.quota = None if spec.quota is None else QuotaWindow(spec.quota)
        self.hunting_quota = None if spec.hunting_quota is None else QuotaWindow(spec.hunting_quota)
        self.cato_quota = None if spec.cato_quota is None else QuotaWindow(spec.cato_quota)

    def admit(self, app: str) -> float | None:
        """Count one Graph request of ``app`` against the quota, if there is one.

        :param app: the caller's client id.
        :returns: ``None`` when admitted; otherwise the seconds until a request would be.
        """
        return None if self.quota is None else self.quota.admit(app)

    def admit_hunting(self, key: str) -> float | None:
        """Count one ``runHuntingQuery`` call against hunting's quota, if there is one.

        :param key: the app and tenant charged.
        :returns: ``None`` when admitted; otherwise the seconds until a call would be.
        """
        return None if self.hunting_quota is None else self.hunting_quota.admit(key)

    def admit_cato(self, key: str) -> float | None:
        """Count one ``eventsFeed`` call against Cato's quota, if there is one.

        :param key: the API key's account.
        :returns: ``None`` when admitted; otherwise the seconds until a call would be.
        """
        return None if self.cato_quota is None else self.cato_quota.admit(key)

    def fires(self, name: str) -> bool:
        """Whether the fault ``name`` (a :class:`Trigger` field of the spec) hits now.

        :param name: the fault, e.g. ``throttle`` or ``cato_error``.
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
