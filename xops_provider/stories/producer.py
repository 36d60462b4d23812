"""The Generic Incident producer: MDO incident versions -> story documents.

:func:`build_story` is a pure function of the set of stored versions of an incident (and of the
incidents merged into it): the same versions, in any order and with repeats, give the same document,
and no wall-clock value enters it. :func:`~xops_provider.stories.produce.produce` is the queue loop
that feeds it and saves what it builds.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from xops_provider.models.timestamps import GraphTime
from xops_provider.stories.canonical import plain_copy
from xops_provider.stories.criticality import Signals, criticality, effective_severity
from xops_provider.stories.entities import extract_entities
from xops_provider.stories.errors import StoryInputError
from xops_provider.stories.evidence import alert_evidence, kind_of, verdict_of
from xops_provider.stories.indication import indication, predicted_verdict
from xops_provider.stories.narrative import narrative
from xops_provider.stories.ports import IncidentVersion
from xops_provider.stories.status import story_status
from xops_provider.stories.timeline import alert_entries, order_timeline, version_entries
from xops_provider.stories.versions import ParsedVersion, StoryAlert, collect_alerts, parse_versions

log = logging.getLogger(__name__)

PRODUCER = "Generic Incident"
VENDOR = "Microsoft"
PRODUCT = "Microsoft Defender for Office 365"
RAW_KIND = "incident_version"
# The Summary widget shows these top-level fields; they are copied, never computed twice.
SUMMARY_FIELDS = (
    "title",
    "criticality",
    "indication",
    "status",
    "verdict",
    "predicted_verdict",
    "producer",
    "vendor",
    "product",
    "severity",
    "vendor_status",
    "source",
    "first_signal",
    "last_signal",
    "alert_count",
    "affected_users",
    "source_url",
)
CORRELATION_ANSWERS = {
    "clicked": "Not known yet: click and network correlation has not run for this story.",
    "related_activity": "Not known yet: network and endpoint correlation has not run for this story.",
    "broader_attack": "Not known yet: campaign correlation across stories has not run.",
}


def story_id(tenant_id: str, incident_id: str) -> str:
    """The story id of an incident: ``mdo:<tenant>:<incident>``.

    It depends on nothing else, so a merged story can name a survivor that has not arrived yet.

    :param tenant_id: the tenant.
    :param incident_id: Defender's incident id.
    """
    return f"mdo:{tenant_id}:{incident_id}"


def _latest_value(versions: Sequence[ParsedVersion], attribute: str) -> Any:
    # A redirected incident's last version can be sparse; fall back to what an earlier one said.
    for parsed in reversed(versions):
        value = getattr(parsed.incident, attribute)
        if value is not None:
            return value
    return None


def _signal_bounds(
    alerts: Sequence[StoryAlert], timeline: Sequence[Mapping[str, Any]]
) -> tuple[GraphTime | None, GraphTime | None]:
    # The mail itself is the first signal when it arrived before Defender's alert activity.
    received = [GraphTime.parse(t["time"]) for t in timeline if t["kind"] == "email_received"]
    firsts = [a.alert.first_activity or a.raised_at for a in alerts] + received
    lasts = [
        a.alert.last_activity or a.alert.last_update or a.alert.created or a.first_seen for a in alerts
    ] + received
    return (min(firsts) if firsts else None, max(lasts) if lasts else None)


def _evidence_widget(alerts: Sequence[StoryAlert]) -> list[dict[str, Any]]:
    widget = []
    for item in alerts:
        alert = item.alert
        widget.append(
            {
                "alert_id": item.alert_id,
                "title": alert.title or "",
                "service_source": alert.service_source,
                "incident_id": item.incident_id,
                "severity": alert.severity,
                "created": item.raised_at.isoformat(),
                "alert_web_url": alert.alert_web_url,
                "present": item.present,
                "moved_to": item.moved_to,
                "items": [
                    {
                        "type": kind_of(evidence),
                        "verdict": verdict_of(evidence),
                        "remediation_status": evidence.get("remediationStatus") or None,
                        "payload": evidence,
                    }
                    for evidence in alert_evidence(item.raw)
                ],
            }
        )
    return widget


def _raw_data(histories: Mapping[str, Sequence[ParsedVersion]], incident_id: str) -> list[dict[str, Any]]:
    order = [incident_id, *sorted(i for i in histories if i != incident_id)]
    return [
        {
            "kind": RAW_KIND,
            "incident_id": other,
            "folded": other != incident_id,
            "last_update": parsed.last_update.isoformat(),
            "received_at": parsed.version.received_at,
            "payload": parsed.version.payload,
        }
        for other in order
        for parsed in histories[other]
    ]


def _empty_correlation(affected_users: list[str]) -> dict[str, Any]:
    # The correlation step fills these lists later; criticality already reads them (Signals).
    return {
        "clicks": [],
        "network_activity": [],
        "endpoint_detections": [],
        "related_stories": [],
        "campaign_id": None,
        "affected_users": affected_users,
        "answers": dict(CORRELATION_ANSWERS),
    }


def _vendor_details(own: Sequence[ParsedVersion], alerts: Sequence[StoryAlert]) -> dict[str, Any]:
    latest = own[-1].incident
    return {
        "description": _latest_value(own, "description"),
        "vendor_summary": _latest_value(own, "summary"),
        "alert_descriptions": [
            {"alert_id": a.alert_id, "description": a.alert.description}
            for a in alerts
            if a.alert.description
        ],
        "mitre_techniques": sorted(
            {t.strip() for a in alerts for t in a.alert.mitre_techniques if isinstance(t, str) and t.strip()}
        ),
        "categories": sorted({a.alert.category for a in alerts if a.alert.category}),
        "classification": latest.classification,
        "determination": latest.determination,
        "assignee": latest.assigned_to,
        "tags": sorted({str(t) for t in latest.custom_tags}),
        "system_tags": sorted({str(t) for t in latest.system_tags}),
        "resolving_comment": latest.resolving_comment,
    }


def _primary_recipient(entities: Sequence[Mapping[str, Any]]) -> str | None:
    weight: Counter[str] = Counter()
    for entity in entities:
        if entity["type"] == "mailbox" and "recipient" in entity["roles"]:
            weight[entity["value"]] += len(entity["alert_ids"])
        elif entity["type"] == "email":
            weight.update(entity["attributes"].get("recipients", []))
    if not weight:
        return None
    return min(weight, key=lambda value: (-weight[value], value))


def build_story(
    *,
    integration: str,
    tenant_id: str,
    incident_id: str,
    versions: Sequence[IncidentVersion],
    folded: Mapping[str, Sequence[IncidentVersion]],
    merged_into: str | None,
) -> dict[str, Any] | None:
    """The story document of one incident, valid against ``story.schema.json``.

    The incident gets a story when any version, its own or of an incident merged into it, ever
    held a Defender for Office 365 alert; otherwise ``None``.

    :param integration: the integration that produces the story.
    :param tenant_id: the tenant.
    :param incident_id: the incident.
    :param versions: this incident's stored versions, in any order, repeats allowed.
    :param folded: for each incident redirected (transitively) into this one, its versions.
    :param merged_into: the terminal survivor's incident id when this incident was redirected.
    :raises StoryInputError: when a version cannot be read; the caller quarantines it.
    """
    own = parse_versions(versions, tenant_id=tenant_id, incident_id=incident_id)
    if not own:
        return None
    histories: dict[str, list[ParsedVersion]] = {incident_id: own}
    for other, other_versions in folded.items():
        if other != incident_id and (
            parsed := parse_versions(other_versions, tenant_id=tenant_id, incident_id=other)
        ):
            histories[other] = parsed
    if not any(p.incident.has_mdo_alert for history in histories.values() for p in history):
        return None

    latest = own[-1].incident
    alerts = collect_alerts(histories)
    entities = extract_entities(alerts)
    timeline = order_timeline(
        [e for history in histories.values() for e in version_entries(history, story_incident_id=incident_id)]
        + alert_entries(alerts)
    )
    folded_ids = sorted(i for i in histories if i != incident_id)
    merged_story = story_id(tenant_id, merged_into) if merged_into else None
    affected_users = sorted(
        {e["value"] for e in entities if e["type"] == "mailbox" and "recipient" in e["roles"]}
        | {r for e in entities if e["type"] == "email" for r in e["attributes"].get("recipients", [])}
    )
    correlation = _empty_correlation(affected_users)

    determinations = [latest.determination] + [a.alert.determination for a in alerts]
    threats = [t for e in entities if e["type"] == "email" for t in e["attributes"].get("threats", [])]
    threats += [a.alert.threat_display_name for a in alerts] + [a.alert.threat_family_name for a in alerts]
    severity = effective_severity(latest.severity, [a.alert.severity for a in alerts])
    story_indication = indication(
        titles=[latest.display_name] + [a.alert.title for a in alerts],
        determinations=determinations,
        threats=threats,
    )
    created = min((p.incident.created for p in own if p.incident.created), default=own[0].last_update)
    updated = max(p.last_update for history in histories.values() for p in history)
    first_signal, last_signal = _signal_bounds(alerts, timeline)
    title = _latest_value(own, "display_name") or next(
        (a.alert.title for a in alerts if a.alert.is_mdo and a.alert.title), f"Incident {incident_id}"
    )
    document: dict[str, Any] = {
        "story_id": story_id(tenant_id, incident_id),
        "producer": PRODUCER,
        "vendor": VENDOR,
        "product": PRODUCT,
        "integration": integration,
        "tenant_id": tenant_id,
        "source_incident_id": incident_id,
        "source_url": _latest_value(own, "incident_web_url"),
        "title": title,
        "criticality": criticality(
            severity=severity,
            classification=latest.classification,
            signals=Signals(
                clicks=correlation["clicks"],
                network_activity=correlation["network_activity"],
                endpoint_detections=correlation["endpoint_detections"],
            ),
        ),
        "severity": severity,
        "status": story_status(own, merged_into=merged_story),
        "vendor_status": latest.status or "unknown",
        "verdict": None,  # the analyst's; nothing in Defender's data decides it
        "predicted_verdict": predicted_verdict(
            classification=latest.classification,
            determinations=determinations,
            evidence_verdicts=[verdict_of(ev) for a in alerts for ev in alert_evidence(a.raw)],
        ),
        "indication": story_indication,
        "source": _primary_recipient(entities),
        "affected_users": affected_users,
        "alert_count": len(alerts),
        "first_signal": (first_signal or created).isoformat(),
        "last_signal": (last_signal or updated).isoformat(),
        "created_at": created.isoformat(),
        "updated_at": updated.isoformat(),
        "merged_into": merged_story,
        "folded_incident_ids": folded_ids,
    }
    document["summary"] = {key: document[key] for key in SUMMARY_FIELDS}
    document["details"] = {
        "narrative": narrative(
            entities=entities,
            timeline=timeline,
            alert_titles=[a.alert.title for a in alerts if a.alert.title],
            indication=story_indication,
            merged_into=merged_story,
            folded_incident_ids=folded_ids,
        ),
        **_vendor_details(own, alerts),
        "merged_into": merged_story,
        "folded_incident_ids": folded_ids,
    }
    document["timeline"] = timeline
    document["entities"] = entities
    document["evidence"] = _evidence_widget(alerts)
    document["raw_data"] = _raw_data(histories, incident_id)
    document["correlation"] = correlation
    # A JSON round trip gives a document that shares nothing with the caller's payloads and proves
    # that it can be exported as JSON lines; the text it encodes is the one the store saves.
    try:
        return plain_copy(document)
    except (TypeError, ValueError) as err:
        raise StoryInputError(
            f"payload is not plain JSON ({type(err).__name__})", incident_id=incident_id
        ) from None
