"""The correlation's repository: hunting rows and endpoint alerts as received, and each story's inputs.

A fact is written once per ``fact_key`` (a refetch writes nothing twice; a newer copy of an alert
replaces the old one). A story's inputs row changes only when what matched it changes, and then its
incident is queued again, so the producer rebuilds the story with it: nothing is left stale.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, select, update

from xops_provider.correlation.facts import EndpointDetection, Fact, NetworkEvent
from xops_provider.correlation.inputs import (
    ALERTS,
    HUNTING,
    CorrelationInputs,
    StoredFact,
    inputs_from_record,
)
from xops_provider.models.timestamps import GraphTime
from xops_provider.store import tables as t
from xops_provider.store.base import Repository, chunks, utc_now
from xops_provider.store.evidence import network_event
from xops_provider.sync.ports import QuarantineEntry


def _message_id(fact: Fact) -> str | None:
    return getattr(fact, "message_id", None)


class CorrelationStore(Repository):
    """Facts, story inputs and the requeue that keeps stories current."""

    def add_hunting_rows(self, *, tenant_id: str, rows: Sequence[tuple[str, Fact]]) -> int:
        """Store hunting rows as received; one already stored adds nothing.

        :param tenant_id: the tenant.
        :param rows: ``(hunting table, fact)`` pairs.
        :returns: rows added.
        """
        if not rows:
            return 0
        now = utc_now()
        values = {
            fact.fact_key: {
                "fact_key": fact.fact_key,
                "tenant_id": tenant_id,
                "table_name": table,
                "time_ticks": fact.time.ticks,
                "message_id": _message_id(fact),
                "raw": fact.raw,
                "received_at": now,
            }
            for table, fact in rows
        }
        statement = self._insert(t.hunting_rows).on_conflict_do_nothing(index_elements=["fact_key"])
        with self._write() as conn:
            result = conn.execute(statement.returning(t.hunting_rows.c.fact_key), list(values.values()))
            return len(result.all())

    def add_endpoint_alerts(self, *, tenant_id: str, alerts: Sequence[EndpointDetection]) -> int:
        """Store alerts; a newer copy of a stored alert replaces it.

        :param tenant_id: the tenant.
        :param alerts: the parsed alerts.
        :returns: alerts written.
        """
        if not alerts:
            return 0
        now = utc_now()
        rows = {
            a.fact_key: {
                "fact_key": a.fact_key,
                "tenant_id": tenant_id,
                "alert_id": a.alert_id,
                "time_ticks": a.time.ticks,
                "raw": a.raw,
                "received_at": now,
            }
            for a in alerts
        }
        statement = self._insert(t.endpoint_alerts)
        upsert = statement.on_conflict_do_update(
            index_elements=["fact_key"],
            set_={"raw": statement.excluded.raw, "time_ticks": statement.excluded.time_ticks},
            where=t.endpoint_alerts.c.raw != statement.excluded.raw,
        )
        with self._write() as conn:
            conn.execute(upsert, list(rows.values()))
        return len(rows)

    def quarantine(self, *, integration: str, tenant_id: str, entries: Sequence[QuarantineEntry]) -> int:
        """Quarantine records a correlation run could not read.

        :param integration: the integration.
        :param tenant_id: the tenant.
        :param entries: the records and why.
        """
        with self._write() as conn:
            return self._insert_quarantine(conn, integration, tenant_id, entries, utc_now())

    def stored_facts(self, *, tenant_id: str, since: GraphTime) -> list[tuple[str, StoredFact]]:
        """Every fact of a tenant at or after a time, oldest first: ``(fact_key, fact)``.

        :param tenant_id: the tenant.
        :param since: the lower bound.
        """
        h, a = t.hunting_rows, t.endpoint_alerts
        out: list[tuple[str, StoredFact]] = []
        with self.engine.connect() as conn:
            for row in conn.execute(
                select(h.c.fact_key, h.c.table_name, h.c.raw)
                .where(h.c.tenant_id == tenant_id, h.c.time_ticks >= since.ticks)
                .order_by(h.c.time_ticks, h.c.fact_key)
            ):
                out.append((row.fact_key, StoredFact(table=HUNTING, kind=row.table_name, raw=row.raw)))
            for row in conn.execute(
                select(a.c.fact_key, a.c.raw)
                .where(a.c.tenant_id == tenant_id, a.c.time_ticks >= since.ticks)
                .order_by(a.c.time_ticks, a.c.fact_key)
            ):
                out.append((row.fact_key, StoredFact(table=ALERTS, kind="alerts_v2", raw=row.raw)))
        return out

    def campaigns(self, *, tenant_id: str) -> dict[str, str]:
        """The last run's campaign of each story of a tenant (a growing campaign keeps its id).

        :param tenant_id: the tenant.
        """
        c = t.story_correlation
        query = select(c.c.story_id, c.c.campaign_id).where(
            c.c.tenant_id == tenant_id, c.c.campaign_id.is_not(None)
        )
        with self.engine.connect() as conn:
            return {row.story_id: row.campaign_id for row in conn.execute(query)}

    def save_inputs(self, *, tenant_id: str, inputs: Mapping[str, tuple[str, dict[str, Any]]]) -> list[str]:
        """Save stories' inputs; each story whose inputs changed is queued for its rebuild.

        :param tenant_id: the tenant.
        :param inputs: story id -> ``(incident id, inputs record)``.
        :returns: the story ids whose inputs changed, sorted.
        """
        c, inc, raw = t.story_correlation, t.incidents, t.raw_incident_versions
        texts = {
            story_id: (incident_id, record, json.dumps(record, sort_keys=True, separators=(",", ":")))
            for story_id, (incident_id, record) in inputs.items()
        }
        digests = {
            story_id: hashlib.sha256(text.encode()).hexdigest() for story_id, (_, _, text) in texts.items()
        }
        changed: list[str] = []
        with self._write() as conn:
            stored = self._digests(conn, list(texts))
            rows = []
            for story_id in sorted(texts):
                if stored.get(story_id) == digests[story_id]:
                    continue
                incident_id, record, text = texts[story_id]
                changed.append(story_id)
                campaign = record.get("campaign") or {}
                rows.append(
                    {
                        "story_id": story_id,
                        "tenant_id": tenant_id,
                        "incident_id": incident_id,
                        "campaign_id": campaign.get("campaign_id"),
                        "inputs": text,
                        "inputs_sha256": digests[story_id],
                        "updated_at": utc_now(),
                    }
                )
            if rows:
                statement = self._insert(c)
                names = [col.name for col in c.columns if col.name != "story_id"]
                conn.execute(
                    statement.on_conflict_do_update(
                        index_elements=["story_id"], set_={n: statement.excluded[n] for n in names}
                    ),
                    rows,
                )
                # Queue each changed story's incident again: its head version becomes unproduced.
                incidents = sorted({texts[s][0] for s in changed})
                for chunk in chunks(incidents):
                    heads = select(inc.c.latest_version_id).where(
                        inc.c.tenant_id == tenant_id, inc.c.incident_id.in_(chunk)
                    )
                    conn.execute(update(raw).where(raw.c.id.in_(heads)).values(produced=False))
        return changed

    def _digests(self, conn: Connection, story_ids: Sequence[str]) -> dict[str, str]:
        c = t.story_correlation
        out: dict[str, str] = {}
        for chunk in chunks(story_ids):
            for row in conn.execute(select(c.c.story_id, c.c.inputs_sha256).where(c.c.story_id.in_(chunk))):
                out[row.story_id] = row.inputs_sha256
        return out


def read_inputs(engine: Any, story_ids: Iterable[str]) -> dict[str, CorrelationInputs]:
    """The saved inputs of the given stories that have any, with their facts resolved.

    :param engine: the store's engine.
    :param story_ids: the stories.
    """
    c, h, a, ne = t.story_correlation, t.hunting_rows, t.endpoint_alerts, t.network_events
    records: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for chunk in chunks(sorted(set(story_ids))):
            for row in conn.execute(select(c.c.story_id, c.c.inputs).where(c.c.story_id.in_(chunk))):
                records[row.story_id] = json.loads(row.inputs)
        if not records:
            return {}
        wanted = sorted({key for record in records.values() for key in record.get("facts") or ()})
        facts: dict[str, StoredFact] = {}
        network: dict[str, NetworkEvent] = {}
        for chunk in chunks(wanted):
            for row in conn.execute(select(ne).where(ne.c.fact_key.in_(chunk))):
                network[row.fact_key] = network_event(row)
            for row in conn.execute(
                select(h.c.fact_key, h.c.table_name, h.c.raw).where(h.c.fact_key.in_(chunk))
            ):
                facts[row.fact_key] = StoredFact(table=HUNTING, kind=row.table_name, raw=row.raw)
            for row in conn.execute(select(a.c.fact_key, a.c.raw).where(a.c.fact_key.in_(chunk))):
                facts[row.fact_key] = StoredFact(table=ALERTS, kind="alerts_v2", raw=row.raw)
    return {
        story_id: inputs_from_record(
            record,
            [facts[k] for k in record.get("facts") or () if k in facts],
            [network[k] for k in record.get("facts") or () if k in network],
        )
        for story_id, record in records.items()
    }
