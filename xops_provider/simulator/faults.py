"""Injected failures: the ``--faults`` syntax, and the seeded dice that decide each request.

Syntax: comma-separated ``name=value`` items, e.g. ``429=0.3,503=0.1,expand500=20,slow=200ms``.

=================  ==========================================================================
``429=R``          answer 429 ``TooManyRequests`` with ``Retry-After``; ``R`` is a rate in
                   ``[0, 1]`` (``0.3`` or ``30%``), or ``Nx`` for exactly the next N requests.
``503=R``          the same with 503 ``ServiceUnavailable``.
``retry_after=S``  the ``Retry-After`` seconds sent with 429/503 (fractional allowed; default 1).
``expand500=N``    500 on a ``$expand=alerts`` page when any incident on it has more than N alerts.
``slow=D``         delay every Graph answer by ``D`` (``200ms``, ``1.5s``, or bare seconds).
``truncate=R``     cut a successful JSON body short (rate or ``Nx``, as above).
``skip_ceiling=N`` answer 400 when ``$skip + $top`` exceeds N, as Graph's legacy alerts API does.
``token_lifetime=S``  the ``expires_in`` of newly issued tokens, in seconds.
=================  ==========================================================================

Faults touch Graph paths (``/v1.0/...``) only: never the identity endpoints nor ``/_admin/``.
"""

from __future__ import annotations

import random
import re
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


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultSpec:
    """The configured faults; the default injects nothing.

    :param throttle: when to answer 429.
    :param unavailable: when to answer 503.
    :param retry_after: ``Retry-After`` seconds for 429 and 503.
    :param expand500: alert count above which ``$expand=alerts`` pages fail with 500.
    :param slow: seconds added before every Graph answer.
    :param truncate: when to cut a successful body short.
    :param skip_ceiling: largest accepted ``$skip + $top``.
    :param token_lifetime: ``expires_in`` for new tokens.
    """

    throttle: Trigger = field(default_factory=Trigger)
    unavailable: Trigger = field(default_factory=Trigger)
    retry_after: float = 1.0
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
                    f"unknown fault {name!r}; known: 429, 503, retry_after, expand500, slow, "
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
