"""The criticality rule: an integer from 1 to 10 for every story.

The rule, in order:

1. **Start from Defender's severity** (the incident's; when it is missing or ``unknown``, the highest
   severity among the story's alerts): ``informational`` 2, ``low`` 3, ``medium`` 5, ``high`` 7,
   anything else 4.
2. **Confirmed threat**: ``+1`` when Defender or an analyst classified it ``truePositive``.
3. **Correlation** raises it, once per kind of proof, whatever the number of records:
   ``+3`` when a recipient clicked through (a click that was allowed or clicked through),
   ``+2`` when a recipient's device or network reached the URL or domain,
   ``+2`` when an endpoint detection followed on a recipient's user or device.
   Correlation has not run yet, so these inputs are empty today; the hook is :class:`Signals`.
4. **Lowered by the classification**: ``falsePositive`` sets it to 1 whatever came before;
   ``informationalExpectedActivity`` takes 3 off.
5. Clamp to 1..10.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

BASE_BY_SEVERITY: Mapping[str, int] = {"informational": 2, "low": 3, "medium": 5, "high": 7}
UNKNOWN_SEVERITY_BASE = 4
_SEVERITY_RANK = {"unknown": 0, "informational": 1, "low": 2, "medium": 3, "high": 4}
CLICK_BONUS = 3
NETWORK_BONUS = 2
ENDPOINT_BONUS = 2
TRUE_POSITIVE_BONUS = 1
EXPECTED_ACTIVITY_PENALTY = 3


@dataclass(frozen=True, slots=True)
class Signals:
    """What correlation found for a story (the ``correlation`` section's lists).

    :param clicks: URL clicks by recipients.
    :param network_activity: network events of recipients towards the story's IPs, URLs or domains.
    :param endpoint_detections: endpoint alerts on recipients' users or devices.
    """

    clicks: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    network_activity: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    endpoint_detections: Sequence[Mapping[str, Any]] = field(default_factory=tuple)

    @property
    def clicked_through(self) -> bool:
        """Whether any click reached the page (allowed, or explicitly clicked through)."""
        for click in self.clicks:
            action = str(click.get("action") or "").lower()
            if click.get("clicked_through") is True or action in {"clickallowed", "allowed"}:
                return True
        return False


def effective_severity(incident_severity: str | None, alert_severities: Iterable[str | None]) -> str:
    """Defender's severity for the rule: the incident's, else the highest alert severity.

    :param incident_severity: the incident's normalised severity.
    :param alert_severities: the normalised severities of the story's alerts.
    """
    if incident_severity and incident_severity != "unknown":
        return incident_severity
    best = max(
        (s for s in alert_severities if s),
        key=lambda s: _SEVERITY_RANK.get(s, 0),
        default=None,
    )
    return best or incident_severity or "unknown"


def criticality(*, severity: str | None, classification: str | None, signals: Signals) -> int:
    """Apply the rule in this module's docstring.

    :param severity: Defender's normalised severity (see :func:`effective_severity`).
    :param classification: the normalised classification, if any.
    :param signals: what correlation found.
    """
    if classification == "falsePositive":
        return 1
    score = BASE_BY_SEVERITY.get(severity or "", UNKNOWN_SEVERITY_BASE)
    if classification == "truePositive":
        score += TRUE_POSITIVE_BONUS
    if signals.clicked_through:
        score += CLICK_BONUS
    if signals.network_activity:
        score += NETWORK_BONUS
    if signals.endpoint_detections:
        score += ENDPOINT_BONUS
    if classification == "informationalExpectedActivity":
        score -= EXPECTED_ACTIVITY_PENALTY
    return max(1, min(10, score))
