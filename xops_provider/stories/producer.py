"""The Generic Incident producer: MDO incident versions -> story documents.

:func:`build_story` is a pure function of the set of stored versions of an incident (and of the
incidents merged into it): the same versions, in any order and with repeats, give the same document,
and no wall-clock value enters it. :func:`produce` is the queue loop that feeds it from a
:class:`~xops_provider.stories.ports.StoryRepository` and saves what it builds.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from xops_provider.correlation.inputs import apply_correlation
from xops_provider.models.incident import blank_to_none
from xops_provider.models.timestamps import GraphTime
from xops_provider.stories.canonical import plain_copy
from xops_provider.stories.criticality import Signals, criticality, effective_severity
from xops_provider.stories.entities import alert_evidence, extract_entities, kind_of, verdict_of
from xops_provider.stories.errors import StoryInputError
from xops_provider.stories.indication import indication, predicted_verdict
from xops_provider.stories.merge import folded_into, resolve_survivors
from xops_provider.stories.narrative import narrative
from xops_provider.stories.ports import IncidentVersion, StoryFailure, StoryRepository
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


@dataclass(slots=True)
class ProduceReport:
    """What one :func:`produce` run did: counts, and the failures to quarantine.

    :param batches: batches taken from the queue.
    :param incidents: pending incidents taken.
    :param stories_saved: story documents written (an incident's and its survivor's both count).
    :param merged_stories: of those, stories of incidents merged into another.
    :param without_story: incidents built that hold no MDO alert, so make no story.
    :param versions_produced: versions marked produced.
    :param redirect_cycles: redirect cycles met and broken.
    :param failures: incidents whose story could not be built.
    """

    batches: int = 0
    incidents: int = 0
    stories_saved: int = 0
    merged_stories: int = 0
    without_story: int = 0
    versions_produced: int = 0
    redirect_cycles: int = 0
    failures: list[StoryFailure] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """The report as plain counts, small enough for XCom and metrics."""
        return {
            "batches": self.batches,
            "incidents": self.incidents,
            "stories_saved": self.stories_saved,
            "merged_stories": self.merged_stories,
            "without_story": self.without_story,
            "versions_produced": self.versions_produced,
            "redirect_cycles": self.redirect_cycles,
            "failed": len(self.failures),
        }


def _redirect_target(payload: Any) -> str | None:
    target = blank_to_none(payload.get("redirectIncidentId")) if isinstance(payload, Mapping) else None
    if isinstance(target, bool) or not isinstance(target, str | int):
        return None
    return str(target).strip() or None


def _build_skipping_bad_folds(
    *,
    integration: str,
    tenant_id: str,
    incident_id: str,
    versions: Sequence[IncidentVersion],
    folded: Mapping[str, Sequence[IncidentVersion]],
    merged_into: str | None,
) -> dict[str, Any] | None:
    # An unreadable merged incident is reported on its own story; the survivor's story is still
    # built from everything else rather than held hostage by it.
    usable = dict(folded)
    while True:
        try:
            return build_story(
                integration=integration,
                tenant_id=tenant_id,
                incident_id=incident_id,
                versions=versions,
                folded=usable,
                merged_into=merged_into,
            )
        except StoryInputError as err:
            if err.incident_id == incident_id or err.incident_id not in usable:
                raise
            del usable[err.incident_id]


def _produce_tenant(
    repo: StoryRepository,
    *,
    integration: str,
    tenant_id: str,
    incident_ids: Sequence[str],
    report: ProduceReport,
    stories: dict[str, dict[str, Any]],
    version_ids: set[int],
) -> None:
    pending_versions = repo.incident_versions(tenant_id=tenant_id, incident_ids=list(incident_ids))
    # A survivor an incident named in an earlier version may have lost it to a new target; rebuild
    # that survivor too, or its story would keep alerts that no longer fold into it.
    named = {
        target
        for history in pending_versions.values()
        for version in history
        if (target := _redirect_target(version.payload))
    }
    roots = [*incident_ids, *sorted(named - set(incident_ids))]
    survivors = resolve_survivors(repo, tenant_id=tenant_id, incident_ids=roots)
    report.redirect_cycles += survivors.cycles
    trees = folded_into(repo, tenant_id=tenant_id, survivors=set(survivors.terminal.values()))
    # Every member of a survivor's tree is rebuilt, not only the pending incident: when a chain
    # grows (B, survivor of A, is merged into C), A's story must now point to C.
    survivor_of: dict[str, str | None] = {}
    for survivor, members in trees.items():
        survivor_of[survivor] = None
        for member in members:
            survivor_of[member] = survivor
    for incident_id, survivor in survivors.terminal.items():
        survivor_of.setdefault(incident_id, None if survivor == incident_id else survivor)
    missing = sorted(set(survivor_of) - set(pending_versions))
    versions = dict(pending_versions)
    if missing:
        versions.update(repo.incident_versions(tenant_id=tenant_id, incident_ids=missing))
    for incident_id in sorted(survivor_of):
        own = versions.get(incident_id, [])
        survivor = survivor_of[incident_id]
        members = trees.get(incident_id, set()) if survivor is None else set()
        folded = {member: versions.get(member, []) for member in sorted(members)}
        version_ids.update(v.version_id for v in own)
        version_ids.update(v.version_id for history in folded.values() for v in history)
        try:
            story = _build_skipping_bad_folds(
                integration=integration,
                tenant_id=tenant_id,
                incident_id=incident_id,
                versions=own,
                folded=folded,
                merged_into=survivor,
            )
        except StoryInputError as err:
            log.warning("Story for incident %s not built: %s", incident_id, err)
            reason = str(err)
        except Exception as err:
            # A mapping defect met on one incident must not stop the line: it is quarantined with its
            # type for the record, the traceback goes to the log, and the rest of the batch proceeds.
            log.exception("Story for incident %s failed unexpectedly", incident_id)
            reason = f"incident {incident_id}: unexpected {type(err).__name__} while building the story"
        else:
            reason = None
        if reason is not None:
            report.failures.append(
                StoryFailure(
                    tenant_id=tenant_id,
                    incident_id=incident_id,
                    version_ids=tuple(sorted(v.version_id for v in own)),
                    reason=reason,
                )
            )
            continue
        if story is None:
            if own:
                report.without_story += 1
            continue
        stories[story["story_id"]] = story


@contextlib.contextmanager
def _cyclic_collection_paused() -> Iterator[None]:
    """Automatic cyclic garbage collection off for one batch, back on (if it was on) when it is saved.

    A batch holds a few hundred thousand live objects (payloads, their models, documents), none of
    them in cycles: reference counting frees them, and each automatic full collection only walks them
    all again, which cost a sixth of a produce run. Anything cyclic a batch leaves behind is collected
    once collection resumes.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def produce(repo: StoryRepository, *, integration: str, batch_size: int) -> ProduceReport:
    """Build and save the stories of every pending incident, one batch per transaction.

    Each pending incident's story is built with its terminal survivor's, and every incident merged
    into that survivor, so merges fold in whatever order the incidents arrive. An incident that
    cannot be mapped is reported in ``failures`` and its versions are marked produced, so it never
    blocks the queue; the rest of the batch proceeds. A rerun after a crash rebuilds the same stories.

    :param repo: the store.
    :param integration: the integration whose queue to drain.
    :param batch_size: pending incidents per batch (and per transaction).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    report = ProduceReport()
    marked: set[int] = set()
    while True:
        pending = list(dict.fromkeys(repo.pending_incidents(integration=integration, limit=batch_size)))
        if not pending:
            break
        with _cyclic_collection_paused():
            progressed = _produce_batch(
                repo, integration=integration, pending=pending, report=report, marked=marked
            )
        if not progressed:
            # The store keeps offering versions this run already marked: stop rather than spin.
            log.warning("Pending incidents did not move after a batch; stopping this run")
            break
    return report


def _produce_batch(
    repo: StoryRepository,
    *,
    integration: str,
    pending: Sequence[tuple[str, str]],
    report: ProduceReport,
    marked: set[int],
) -> bool:
    """Build and save one batch's stories; whether it marked any version this run had not.

    :param repo: the store.
    :param integration: the integration.
    :param pending: the batch's ``(tenant_id, incident_id)`` pairs.
    :param report: the run's report, updated.
    :param marked: versions this run marked produced so far, updated.
    """
    report.batches += 1
    report.incidents += len(pending)
    by_tenant: dict[str, list[str]] = {}
    for tenant_id, incident_id in pending:
        by_tenant.setdefault(tenant_id, []).append(incident_id)
    stories: dict[str, dict[str, Any]] = {}
    version_ids: set[int] = set()
    failures_before = len(report.failures)
    for tenant_id in sorted(by_tenant):
        _produce_tenant(
            repo,
            integration=integration,
            tenant_id=tenant_id,
            incident_ids=by_tenant[tenant_id],
            report=report,
            stories=stories,
            version_ids=version_ids,
        )
    progressed = bool(version_ids - marked)
    marked |= version_ids
    # A story is a function of its incident's versions and its correlation inputs: a rebuild after
    # an incident update keeps every finding.
    for key, inputs in repo.correlation_inputs(story_ids=sorted(stories)).items():
        if key in stories:
            stories[key] = apply_correlation(stories[key], inputs)
    ordered = [stories[key] for key in sorted(stories)]
    repo.save_stories(
        integration=integration,
        stories=ordered,
        produced_version_ids=sorted(version_ids),
        failures=report.failures[failures_before:],
    )
    report.stories_saved += len(ordered)
    report.merged_stories += sum(1 for s in ordered if s["merged_into"])
    report.versions_produced += len(version_ids)
    return progressed
