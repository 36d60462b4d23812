"""Stored incident versions, validated and ordered, and the alerts they ever held.

A story is a pure function of a *set* of versions: repeats are dropped and the order of arrival
does not matter. Ordering uses the full seven-digit ``lastUpdateDateTime`` (:class:`GraphTime`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, ValidationError

from xops_provider.models.incident import Alert, Incident, _alert_objects
from xops_provider.models.timestamps import GraphTime
from xops_provider.stories.errors import StoryInputError
from xops_provider.stories.ports import IncidentVersion


@dataclass(frozen=True, slots=True)
class ParsedVersion:
    """One stored version with its payload validated.

    :param version: the version as stored.
    :param incident: the payload as a lenient model.
    :param raw_alerts: the payload's alerts as received, aligned with ``incident.alerts``.
    """

    version: IncidentVersion
    incident: Incident
    raw_alerts: tuple[dict[str, Any], ...]

    @property
    def incident_id(self) -> str:
        return self.version.incident_id

    @property
    def last_update(self) -> GraphTime:
        return self.version.last_update


@dataclass(frozen=True, slots=True)
class StoryAlert:
    """The latest known copy of one alert among the versions a story is built from.

    :param alert: the alert as a lenient model.
    :param raw: the alert exactly as received.
    :param incident_id: the incident whose version carried this copy.
    :param first_seen: ``lastUpdateDateTime`` of the first version that listed the alert.
    :param present: whether that incident's latest version still lists it.
    :param moved_to: where a departed alert went, when the data says so.
    """

    alert: Alert
    raw: dict[str, Any]
    incident_id: str
    first_seen: GraphTime
    present: bool
    moved_to: str | None

    @property
    def alert_id(self) -> str:
        return self.alert.id

    @property
    def raised_at(self) -> GraphTime:
        """When the alert was raised: its ``createdDateTime``, else when it was first seen."""
        return self.alert.created or self.alert.first_activity or self.first_seen


class _AlertAsRead(Alert):
    """An alert as a story reads it: the story takes evidence as received (``alert_evidence``), so
    its items are not validated into :class:`~xops_provider.models.incident.Evidence` models that
    nothing reads, which was over half of each version's validation."""

    evidence: Any = Field(default_factory=list)


class _IncidentAsRead(Incident):
    """An incident whose alerts are read as :class:`_AlertAsRead`; every other rule is the model's."""

    alerts: Annotated[list[_AlertAsRead], BeforeValidator(_alert_objects)] = Field(default_factory=list)


def _evidence_keys_are_text(payload: Mapping[str, Any]) -> bool:
    alerts = payload.get("alerts")
    for alert in [alerts] if isinstance(alerts, dict) else alerts if isinstance(alerts, list) else ():
        evidence = alert.get("evidence") if isinstance(alert, dict) else None
        items = [evidence] if isinstance(evidence, dict) else evidence if isinstance(evidence, list) else ()
        for item in items:
            if isinstance(item, dict) and not all(map(isinstance, item, repeat(str))):
                return False
    return True


def _read_incident(payload: Mapping[str, Any]) -> Incident:
    # Evidence validation fails only on a key that is not a string, which JSON cannot hold: a payload
    # built in Python with one is read by the full model, which words the error as it always has.
    if _evidence_keys_are_text(payload):
        return _IncidentAsRead.model_validate(payload)
    return Incident.model_validate(payload)


def _reason(err: ValidationError) -> str:
    # Only locations and messages: input values are attacker-influenced and may be large.
    parts = []
    for item in err.errors(include_input=False, include_url=False)[:3]:
        loc = ".".join(str(p) for p in item["loc"]) or "payload"
        parts.append(f"{loc}: {item['msg']}")
    more = err.error_count() - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def _raw_alerts(payload: Mapping[str, Any]) -> tuple[dict[str, Any], ...]:
    alerts = payload.get("alerts")
    if alerts is None or alerts == "":
        return ()
    if isinstance(alerts, dict):
        return (alerts,)
    return tuple(alerts)


def parse_versions(
    versions: Iterable[IncidentVersion], *, tenant_id: str, incident_id: str
) -> list[ParsedVersion]:
    """Validate one incident's versions, drop repeats and order them by ``(last_update, version_id)``.

    Two versions with the same ``lastUpdateDateTime`` are the same version (the store deduplicates on
    it); the one stored first (lowest ``version_id``) is kept, so the result does not depend on order.

    :param versions: the incident's stored versions, in any order, possibly repeated.
    :param tenant_id: the tenant every version must belong to.
    :param incident_id: the incident every version must belong to.
    :raises StoryInputError: when a version belongs elsewhere or its payload cannot be read.
    """
    chosen: dict[int, IncidentVersion] = {}
    for version in versions:
        if version.tenant_id != tenant_id or version.incident_id != incident_id:
            raise StoryInputError(
                "version belongs to another tenant or incident",
                incident_id=incident_id,
                version_id=version.version_id,
            )
        kept = chosen.get(version.last_update.ticks)
        if kept is None or version.version_id < kept.version_id:
            chosen[version.last_update.ticks] = version
    parsed = []
    for version in sorted(chosen.values(), key=lambda v: (v.last_update, v.version_id)):
        if not isinstance(version.payload, Mapping):
            raise StoryInputError(
                "payload is not a JSON object", incident_id=incident_id, version_id=version.version_id
            )
        try:
            incident = _read_incident(version.payload)
            raw_alerts = _raw_alerts(version.payload)
        except (ValidationError, TypeError) as err:
            reason = _reason(err) if isinstance(err, ValidationError) else str(err)
            raise StoryInputError(
                f"unreadable payload ({reason})", incident_id=incident_id, version_id=version.version_id
            ) from None
        if incident.id != incident_id:
            raise StoryInputError(
                "payload id differs from the stored incident id",
                incident_id=incident_id,
                version_id=version.version_id,
            )
        parsed.append(ParsedVersion(version=version, incident=incident, raw_alerts=raw_alerts))
    return parsed


def collect_alerts(histories: Mapping[str, Sequence[ParsedVersion]]) -> list[StoryAlert]:
    """Every alert the given incidents ever listed, once each, in its latest copy.

    Alerts are keyed by id: Defender moves alerts between incidents, and a survivor lists the
    alerts of the incidents merged into it. The latest copy is the one from the latest version
    (ties broken by incident id). Linear in the number of alerts across all versions.

    :param histories: each incident's parsed versions, ordered as :func:`parse_versions` returns.
    """
    latest: dict[str, tuple[tuple[int, str], Alert, dict[str, Any], str]] = {}
    first_seen: dict[str, GraphTime] = {}
    for incident_id in sorted(histories):
        for parsed in histories[incident_id]:
            rank = (parsed.last_update.ticks, incident_id)
            for alert, raw in zip(parsed.incident.alerts, parsed.raw_alerts, strict=True):
                seen = first_seen.get(alert.id)
                if seen is None or parsed.last_update < seen:
                    first_seen[alert.id] = parsed.last_update
                held = latest.get(alert.id)
                if held is None or rank > held[0]:
                    latest[alert.id] = (rank, alert, raw, incident_id)
    current = {
        incident_id: {alert.id for alert in versions[-1].incident.alerts}
        for incident_id, versions in histories.items()
        if versions
    }
    collected = []
    for alert_id, (_, alert, raw, incident_id) in latest.items():
        present = alert_id in current.get(incident_id, set())
        moved_to = None
        if not present:
            head = histories[incident_id][-1].incident
            if alert.incident_id and alert.incident_id != incident_id:
                moved_to = alert.incident_id
            elif head.status == "redirected" and head.redirect_incident_id:
                moved_to = head.redirect_incident_id
        collected.append(
            StoryAlert(
                alert=alert,
                raw=raw,
                incident_id=incident_id,
                first_seen=first_seen[alert_id],
                present=present,
                moved_to=moved_to,
            )
        )
    collected.sort(key=lambda a: (a.raised_at, a.alert_id))
    return collected
