"""Correlate an integration's stories with Defender's hunting data and other products' alerts.

:func:`correlate` fetches, for all the integration's stories at once, the hunting rows of their
messages, URLs and recipients (one query per table and batch, never one per story) and the alerts
of Defender for Endpoint, Identity and Cloud Apps since the earliest receipt. It stores them as
received, matches every stored fact of the window to the stories with the correlation domain,
saves each story's inputs, and rebuilds the stories whose inputs changed. Bad records are
quarantined with their reason; a source that cannot be read is named in the answers, never fatal.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from xops_provider.clients.errors import GraphBadRequestError, GraphError, GraphForbiddenError
from xops_provider.correlation.answers import ALERTS, FAILED, HUNTING, NOT_CONFIGURED, OK
from xops_provider.correlation.campaigns import assign_campaigns, campaign_of
from xops_provider.correlation.candidates import FactIndex
from xops_provider.correlation.endpoint_alerts import ENDPOINT_SOURCES, parse_endpoint_alert
from xops_provider.correlation.facts import Fact, FactError
from xops_provider.correlation.hunting_rows import parse_hunting_row
from xops_provider.correlation.inputs import inputs_record, matched_fact_keys, parse_stored
from xops_provider.correlation.keys import StoryKeys, story_keys
from xops_provider.correlation.matching import MatchPolicy
from xops_provider.correlation.pipeline import RECEIPT_SLACK_SECONDS, FactSet, plan_for_stories
from xops_provider.correlation.related import related_stories
from xops_provider.hooks.defender_evidence import DefenderEvidenceHook
from xops_provider.hooks.store import StoreHook
from xops_provider.models.timestamps import GraphTime
from xops_provider.stories.produce import produce
from xops_provider.sync.ports import QuarantineEntry

if TYPE_CHECKING:
    from airflow.sdk import Context

    from xops_provider.store import Store

#: The answers' network sources, and the stored event sources each one stands for.
NETWORK_SOURCES = {"cato": ("cato",), "zeek": ("zeek_dns", "zeek_ssl")}


@dataclass
class CorrelateReport:
    """What one correlation run did: counts only (the XCom).

    :param stories: stories correlated.
    :param hunting_calls: ``runHuntingQuery`` calls.
    :param hunting_rows: rows received.
    :param alerts: endpoint alerts received.
    :param quarantined: records refused, with their reasons, in the quarantine.
    :param rejected_values: values left out of every query because they failed validation.
    :param changed: stories whose inputs changed and were rebuilt.
    :param campaigns: campaigns across the integration's stories.
    """

    stories: int = 0
    hunting_calls: int = 0
    hunting_rows: int = 0
    alerts: int = 0
    quarantined: int = 0
    rejected_values: int = 0
    changed: int = 0
    campaigns: int = 0


def _quarantined(kind: str, reason: str, record: Any) -> QuarantineEntry:
    text = record if isinstance(record, str) else json.dumps(record, sort_keys=True, default=str)
    return QuarantineEntry(kind=kind, record_id=None, reason=reason[:1000], payload=text)


def correlate(
    hook: DefenderEvidenceHook,
    store: Store,
    *,
    integration: str,
    now: GraphTime | None = None,
    policy: MatchPolicy = MatchPolicy(),
    log: Any = None,
) -> CorrelateReport:
    """Correlate every story of an integration; rerunning with the same data changes nothing.

    :param hook: the evidence hook of the integration's tenant.
    :param store: the story store.
    :param integration: the integration.
    :param now: the end of the hunting range; the current time when omitted.
    :param policy: the window after receipt.
    :param log: where to log (the task's logger).
    """
    report = CorrelateReport()
    tenant_id = hook.tenant_id
    documents = {
        d["story_id"]: d
        for d in store.reads.iter_stories(integration=integration)
        if d["tenant_id"] == tenant_id
    }
    report.stories = len(documents)
    if not documents:
        return report
    until = now or GraphTime.now()
    # Keys from the documents alone decide what to ask; the answers' own email rows complete them.
    first_keys = [story_keys(d) for d in documents.values()]
    plan = plan_for_stories(first_keys, policy=policy, until=until)
    stored_sources = store.evidence.network_sources()
    sources: dict[str, str] = {
        name: OK if stored_sources & set(kinds) else NOT_CONFIGURED for name, kinds in NETWORK_SOURCES.items()
    }
    refused: list[QuarantineEntry] = []
    hunted: list[tuple[str, Fact]] = []
    sources[HUNTING] = OK
    if plan is not None:
        report.rejected_values = len(plan.rejected)
        try:
            for query in plan.queries:
                report.hunting_calls += 1
                try:
                    rows = hook.run_hunting_query(query.query)
                except GraphBadRequestError as err:
                    # One refused batch: its query is quarantined with Graph's reason, the rest go on.
                    sources[HUNTING] = FAILED
                    refused.append(_quarantined("hunting_query", f"{query.table}: {err}", query.query))
                    _warn(log, "Hunting refused a %s query (%s); quarantined", query.table, err)
                    continue
                report.hunting_rows += len(rows)
                for row in rows:
                    try:
                        hunted.append((query.table, parse_hunting_row(query.table, row)))
                    except FactError as err:
                        refused.append(_quarantined("hunting_row", f"{query.table}: {err}", row))
        except GraphForbiddenError as err:
            sources[HUNTING] = NOT_CONFIGURED
            _warn(log, "Hunting is not permitted for this app (%s): the answers say so", err)
        except GraphError as err:
            sources[HUNTING] = FAILED
            _warn(log, "Hunting failed (%s): the answers say so", err)
    receipts = [k.received_at for k in first_keys if k.received_at]
    since = min(receipts).shift(seconds=-RECEIPT_SLACK_SECONDS) if receipts else GraphTime(0)
    detections = []
    sources[ALERTS] = OK
    try:
        for alert in hook.iter_alerts(since=since, service_sources=sorted(ENDPOINT_SOURCES)):
            report.alerts += 1
            try:
                detections.append(parse_endpoint_alert(alert))
            except FactError as err:
                refused.append(_quarantined("endpoint_alert", str(err), alert))
    except GraphForbiddenError as err:
        sources[ALERTS] = NOT_CONFIGURED
        _warn(log, "alerts_v2 is not permitted for this app (%s): the answers say so", err)
    except GraphError as err:
        sources[ALERTS] = FAILED
        _warn(log, "alerts_v2 failed (%s): the answers say so", err)
    store.correlation.add_hunting_rows(tenant_id=tenant_id, rows=hunted)
    store.correlation.add_endpoint_alerts(tenant_id=tenant_id, alerts=detections)
    report.quarantined = store.correlation.quarantine(
        integration=integration, tenant_id=tenant_id, entries=refused
    )
    if refused:
        _warn(log, "%d record(s) could not be read; quarantined with their reasons", len(refused))
    facts = _stored_facts(store, tenant_id=tenant_id, since=since)
    keys = {
        sid: story_keys(doc, emails=facts.emails, email_urls=facts.email_urls)
        for sid, doc in documents.items()
    }
    if stored_sources:
        facts = _with_network(store, keys.values(), facts, since=since, until=until, policy=policy)
    report.changed, report.campaigns = _save_inputs(store, documents, keys, facts, sources, tenant_id, policy)
    produce(store.stories, integration=integration, batch_size=200)
    return report


def _stored_facts(store: Store, *, tenant_id: str, since: GraphTime) -> FactSet:
    parsed = []
    for _key, stored in store.correlation.stored_facts(tenant_id=tenant_id, since=since):
        try:
            parsed.append(parse_stored(stored))
        except FactError:
            continue  # quarantined when it was first read
    return FactSet.of(parsed)


def _with_network(
    store: Store,
    keys: Iterable[StoryKeys],
    facts: FactSet,
    *,
    since: GraphTime,
    until: GraphTime,
    policy: MatchPolicy,
) -> FactSet:
    """``facts`` and the stored network events that could match a story: one set-based query per
    chunk of users, domains, IPs and URLs over the window, never a scan per story."""
    keys = list(keys)
    candidates = store.evidence.network_events_for(
        users={v for k in keys for v in k.recipients},
        domains={v for k in keys for v in k.url_domains},
        ips={v for k in keys for v in k.ips},
        urls={v for k in keys for v in k.urls},
        since=since,
        until=until.shift(seconds=policy.window_seconds),
    )
    return dataclasses.replace(facts, network=(*facts.network, *candidates))


def _save_inputs(
    store: Store,
    documents: dict[str, dict[str, Any]],
    keys: dict[str, StoryKeys],
    facts: FactSet,
    sources: dict[str, str],
    tenant_id: str,
    policy: MatchPolicy,
) -> tuple[int, int]:
    related = related_stories(keys.values())
    assignment = assign_campaigns(keys.values(), previous=store.correlation.campaigns(tenant_id=tenant_id))
    index = FactIndex(facts)
    inputs = {}
    for sid in sorted(keys):
        story = keys[sid]
        matches = index.match(story, policy=policy)
        own = [f for f in (*facts.emails, *facts.email_urls) if f.message_id in story.message_ids]
        record = inputs_record(
            fact_keys=matched_fact_keys(matches, own),
            related=related.get(sid, ()),
            campaign=campaign_of(story, assignment),
            sources=sources,
        )
        inputs[sid] = (str(documents[sid]["source_incident_id"]), record)
    changed = store.correlation.save_inputs(tenant_id=tenant_id, inputs=inputs)
    return len(changed), len(assignment.campaigns)


def _warn(log: Any, message: str, *args: Any) -> None:
    if log is not None:
        log.warning(message, *args)


class CorrelateOperator(BaseOperator):
    """Answer each story's three questions from Defender's hunting data and other products' alerts.

    Runs after the story producer. The XCom holds counts only.

    :param integration: the integration whose stories to correlate.
    :param ms_tenant_conn_id: the ``ms_tenant`` connection (hunting and alerts_v2 permissions).
    :param xops_store_conn_id: the story store connection.
    """

    template_fields: Sequence[str] = ("integration", "ms_tenant_conn_id", "xops_store_conn_id")
    ui_color = "#f3e8fd"

    def __init__(
        self,
        *,
        integration: str = "default",
        ms_tenant_conn_id: str = DefenderEvidenceHook.default_conn_name,
        xops_store_conn_id: str = StoreHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.integration = integration
        self.ms_tenant_conn_id = ms_tenant_conn_id
        self.xops_store_conn_id = xops_store_conn_id

    def execute(self, context: Context) -> dict[str, int]:
        hook = DefenderEvidenceHook(ms_tenant_conn_id=self.ms_tenant_conn_id)
        try:
            with StoreHook(xops_store_conn_id=self.xops_store_conn_id).get_store() as store:
                report = correlate(hook, store, integration=self.integration, log=self.log)
        finally:
            hook.close()
        counts = asdict(report)
        self.log.info("Correlation %s: %s", self.integration, counts)
        return counts
