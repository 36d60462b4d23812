"""The story timeline: what the alerts and their evidence say happened, and every change between
consecutive stored versions of the incidents in the story.

An entry is ``{"time", "kind", "title", "incident_id", ...}``; times are Graph times in their
canonical seven-digit form. A diff entry is dated at the newer version's ``lastUpdateDateTime``;
a comment at its own ``createdDateTime``. Entries are ordered by time, then by a fixed rank of
kinds, then by incident, alert and title, so the order never depends on input order.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from xops_provider.models.incident import blank_to_none
from xops_provider.models.normalize import normalize_address, normalize_message_id, scalar_text
from xops_provider.models.timestamps import GraphTime, InvalidTimestamp
from xops_provider.stories.evidence import alert_evidence, kind_of
from xops_provider.stories.status import is_reactivation
from xops_provider.stories.versions import ParsedVersion, StoryAlert

KIND_ORDER = (
    "incident_created",
    "email_received",
    "alert_raised",
    "remediation",
    "alert_added",
    "alert_removed",
    "status_changed",
    "reopened",
    "severity_changed",
    "classification_changed",
    "determination_changed",
    "assignee_changed",
    "tags_changed",
    "comment",
    "merged",
)
_RANK = {kind: index for index, kind in enumerate(KIND_ORDER)}
_REMEDIATED = frozenset({"remediated", "prevented", "blocked"})
_ZAP_PHRASES = ("removed after delivery", "zap")
# ``json.dumps`` with these options, without building an encoder for every entry.
_ENTRY_TEXT = json.JSONEncoder(sort_keys=True, ensure_ascii=False).encode


def _time(value: Any) -> GraphTime | None:
    value = blank_to_none(value)
    if isinstance(value, GraphTime) or value is None:
        return value
    try:
        return GraphTime.parse(value)
    except InvalidTimestamp:
        return None


def _entry(time: GraphTime, kind: str, title: str, *, incident_id: str, **extra: Any) -> dict[str, Any]:
    entry = {"time": time.isoformat(), "kind": kind, "title": title, "incident_id": incident_id}
    entry.update({key: value for key, value in extra.items() if value is not None})
    return entry


def _or_none(value: Any) -> str:
    return "none" if value in (None, "", []) else str(value)


def _sender(evidence: Mapping[str, Any]) -> str:
    # P2 is the From header recipients see; P1 the envelope sender.
    for key in ("p2Sender", "p1Sender"):
        sender = evidence.get(key)
        if isinstance(sender, Mapping) and (address := normalize_address(sender.get("emailAddress"))):
            return address
    return "an unknown sender"


def _evidence_label(kind: str, evidence: Mapping[str, Any]) -> str:
    if kind == "mailClusterEvidence":
        count = evidence.get("emailCount")
        suffix = f" ({count} emails)" if isinstance(count, int) else ""
        return f"the mail cluster “{evidence.get('clusterByValue') or ''}”{suffix}"
    if kind == "urlEvidence":
        return f"the URL {evidence.get('url') or ''}".rstrip()
    details = evidence.get("fileDetails")
    if kind == "fileEvidence" and isinstance(details, Mapping) and details.get("fileName"):
        return f"the file {details['fileName']}"
    return kind


def _message_entries(
    item: StoryAlert, evidence: Mapping[str, Any], *, zap_alert: bool, status: str | None
) -> dict[tuple[Any, ...], dict[str, Any]]:
    recipient = normalize_address(evidence.get("recipientEmailAddress")) or "an unknown recipient"
    message = normalize_message_id(evidence.get("networkMessageId")) or blank_to_none(
        evidence.get("internetMessageId")
    )
    subject = evidence.get("subject") if isinstance(evidence.get("subject"), str) else ""
    action = blank_to_none(evidence.get("deliveryAction"))
    location = blank_to_none(evidence.get("deliveryLocation"))
    # One message to one recipient, whichever alerts report it.
    key = (message or subject, recipient)
    entries: dict[tuple[Any, ...], dict[str, Any]] = {}
    received = _time(evidence.get("receivedDateTime"))
    if received is not None:
        delivery = ", ".join(str(part) for part in (action, location) if part)
        entries[("email", *key)] = _entry(
            received,
            "email_received",
            f"Email “{subject}” from {_sender(evidence)} received by {recipient}"
            + (f" ({delivery})" if delivery else ""),
            incident_id=item.incident_id,
            alert_id=item.alert_id,
            network_message_id=message,
            delivery_action=action,
            delivery_location=location,
        )
    # A "removed after delivery" alert means ZAP pulled the delivered copies; a blocked one never
    # arrived, so there was nothing to remove.
    zapped = zap_alert and str(action or "").lower() != "blocked"
    if zapped or status in _REMEDIATED:
        verb = "removed after delivery (ZAP)" if zapped else status
        entries[("remediation", *key)] = _entry(
            _time(evidence.get("createdDateTime")) or item.raised_at,
            "remediation",
            f"Message to {recipient} {verb}",
            incident_id=item.incident_id,
            alert_id=item.alert_id,
            network_message_id=message,
        )
    return entries


def alert_entries(alerts: Sequence[StoryAlert]) -> list[dict[str, Any]]:
    """Alerts raised, emails received and delivery or ZAP actions, from the alerts and their evidence.

    :param alerts: the story's alerts in story order; a message reported twice keeps the later entry.
    """
    entries: dict[tuple[Any, ...], dict[str, Any]] = {}
    for item in alerts:
        alert = item.alert
        title = alert.title or "Untitled alert"
        entries[("alert", item.alert_id)] = _entry(
            item.raised_at,
            "alert_raised",
            f"Alert raised: {title} (severity {_or_none(alert.severity)})",
            incident_id=item.incident_id,
            alert_id=item.alert_id,
            service_source=alert.service_source,
        )
        zap_alert = any(phrase in title.lower() for phrase in _ZAP_PHRASES)
        for evidence in alert_evidence(item.raw):
            kind = kind_of(evidence)
            status = (scalar_text(evidence.get("remediationStatus")) or "").lower() or None
            if kind == "analyzedMessageEvidence":
                entries.update(_message_entries(item, evidence, zap_alert=zap_alert, status=status))
            elif status in _REMEDIATED:
                key = ("remediation", item.alert_id, json.dumps(evidence, sort_keys=True, default=str))
                entries[key] = _entry(
                    _time(evidence.get("createdDateTime")) or item.raised_at,
                    "remediation",
                    f"Defender {status} {_evidence_label(kind, evidence)}",
                    incident_id=item.incident_id,
                    alert_id=item.alert_id,
                )
    return list(entries.values())


def _tags(version: ParsedVersion) -> set[str]:
    return {str(tag) for tag in version.incident.custom_tags if blank_to_none(tag) is not None}


def _change(
    kind: str, label: str, old: Any, new: Any, *, at: GraphTime, incident_id: str
) -> list[dict[str, Any]]:
    if old == new:
        return []
    return [
        _entry(
            at,
            kind,
            f"{label} changed from {_or_none(old)} to {_or_none(new)}",
            incident_id=incident_id,
            **{"from": old, "to": new},
        )
    ]


def _merge_entry(version: ParsedVersion, story_incident_id: str) -> dict[str, Any]:
    incident_id, target = version.incident_id, version.incident.redirect_incident_id
    if incident_id == story_incident_id:
        title = f"This incident was merged into incident {target or 'unknown'}"
    elif target == story_incident_id:
        title = f"Incident {incident_id} was merged into this incident"
    else:
        title = f"Incident {incident_id} was merged into incident {target or 'unknown'}"
    return _entry(version.last_update, "merged", title, incident_id=incident_id, to=target)


def version_entries(versions: Sequence[ParsedVersion], *, story_incident_id: str) -> list[dict[str, Any]]:
    """Creation, comments, merges and the diff between each pair of consecutive versions.

    :param versions: one incident's versions, oldest first.
    :param story_incident_id: the incident whose story the entries are for (merges read from its side).
    """
    if not versions:
        return []
    first = versions[0]
    incident_id = first.incident_id
    entries = [
        _entry(
            first.incident.created or first.last_update,
            "incident_created",
            f"Incident {incident_id} created in Defender",
            incident_id=incident_id,
        )
    ]
    if first.incident.status == "redirected":
        entries.append(_merge_entry(first, story_incident_id))
    comments: dict[tuple[Any, ...], dict[str, Any]] = {}
    for version in versions:
        for comment in version.incident.comments:
            text = comment.comment or ""
            at = comment.created or version.last_update
            key = (at.ticks, comment.created_by, text)
            comments.setdefault(
                key,
                _entry(
                    at,
                    "comment",
                    f"Comment by {comment.created_by or 'unknown'}: {text}",
                    incident_id=incident_id,
                ),
            )
    entries.extend(comments.values())
    for older, newer in itertools.pairwise(versions):
        entries.extend(_diff(older, newer, story_incident_id))
    return entries


def _diff(older: ParsedVersion, newer: ParsedVersion, story_incident_id: str) -> list[dict[str, Any]]:
    old, new = older.incident, newer.incident
    at, incident_id = newer.last_update, newer.incident_id
    entries: list[dict[str, Any]] = []
    redirected = new.status == "redirected" and (
        old.status != "redirected" or old.redirect_incident_id != new.redirect_incident_id
    )
    if redirected:
        entries.append(_merge_entry(newer, story_incident_id))
    elif is_reactivation(old.status, new.status):
        entries.append(
            _entry(
                at,
                "reopened",
                f"Defender reactivated the resolved incident (now {new.status})",
                incident_id=incident_id,
                **{"from": old.status, "to": new.status},
            )
        )
    elif new.status != "redirected":
        entries += _change(
            "status_changed", "Defender status", old.status, new.status, at=at, incident_id=incident_id
        )
    entries += _change(
        "severity_changed", "Severity", old.severity, new.severity, at=at, incident_id=incident_id
    )
    entries += _change(
        "classification_changed",
        "Classification",
        old.classification,
        new.classification,
        at=at,
        incident_id=incident_id,
    )
    entries += _change(
        "determination_changed",
        "Determination",
        old.determination,
        new.determination,
        at=at,
        incident_id=incident_id,
    )
    if old.assigned_to != new.assigned_to:
        title = f"Assigned to {new.assigned_to}" if new.assigned_to else f"Unassigned (was {old.assigned_to})"
        entries.append(
            _entry(
                at,
                "assignee_changed",
                title,
                incident_id=incident_id,
                **{"from": old.assigned_to, "to": new.assigned_to},
            )
        )
    old_tags, new_tags = _tags(older), _tags(newer)
    if old_tags != new_tags:
        added, removed = sorted(new_tags - old_tags), sorted(old_tags - new_tags)
        parts = ([f"added {', '.join(added)}"] if added else []) + (
            [f"removed {', '.join(removed)}"] if removed else []
        )
        entries.append(
            _entry(
                at,
                "tags_changed",
                f"Tags {'; '.join(parts)}",
                incident_id=incident_id,
                added=added,
                removed=removed,
            )
        )
    entries += _alert_changes(older, newer)
    return entries


def _alert_changes(older: ParsedVersion, newer: ParsedVersion) -> list[dict[str, Any]]:
    at, incident_id = newer.last_update, newer.incident_id
    before = {alert.id: alert for alert in older.incident.alerts}
    after = {alert.id: alert for alert in newer.incident.alerts}
    entries = []
    for alert_id in sorted(after.keys() - before.keys()):
        alert = after[alert_id]
        entries.append(
            _entry(
                at,
                "alert_added",
                f"Alert added: {alert.title or alert_id}",
                incident_id=incident_id,
                alert_id=alert_id,
                service_source=alert.service_source,
            )
        )
    for alert_id in sorted(before.keys() - after.keys()):
        alert = before[alert_id]
        destination = None
        if alert.incident_id and alert.incident_id != incident_id:
            destination = alert.incident_id
        elif newer.incident.status == "redirected":
            destination = newer.incident.redirect_incident_id
        where = f", moved to incident {destination}" if destination else ""
        entries.append(
            _entry(
                at,
                "alert_removed",
                f"Alert removed: {alert.title or alert_id}{where}",
                incident_id=incident_id,
                alert_id=alert_id,
                service_source=alert.service_source,
                moved_to=destination,
            )
        )
    return entries


def order_timeline(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries in their deterministic order, exact repeats dropped.

    :param entries: timeline entries from any of this module's builders.
    """
    # The text that identifies a repeat is also the last tie-breaker, so it is written once.
    unique = {_ENTRY_TEXT(entry): entry for entry in entries}
    ordered = sorted(
        unique.items(),
        key=lambda item: (
            GraphTime.parse(item[1]["time"]).ticks,
            _RANK.get(item[1]["kind"], len(_RANK)),
            item[1].get("incident_id", ""),
            item[1].get("alert_id", ""),
            item[1]["title"],
            item[0],
        ),
    )
    return [entry for _, entry in ordered]
