"""The sync's repository: raw incident versions, incident heads, sync state, quarantine and the lock.

It implements :class:`~xops_provider.sync.ports.SyncRepository`. Each page is one transaction with
the watermark that covers it; inserts are batched per call, never one round trip per row.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Table, case, func, or_, select, update

from xops_provider.models.timestamps import GraphTime
from xops_provider.store import tables as t
from xops_provider.store.base import Repository, head_from_row, transient_errors, utc_now
from xops_provider.store.database import HeldLock, named_lock
from xops_provider.stories.ports import IncidentHead
from xops_provider.sync.ports import BatchOutcome, NewVersion, QuarantineEntry, SyncState


@dataclass(frozen=True, slots=True)
class QuarantinedRecord:
    """A quarantined record as stored.

    :param integration: the integration that read it.
    :param tenant_id: the tenant.
    :param kind: what it was.
    :param record_id: its id, if readable.
    :param reason: why it was refused.
    :param payload: the record as received.
    :param first_seen_at: when it was first quarantined.
    """

    integration: str
    tenant_id: str
    kind: str
    record_id: str | None
    reason: str
    payload: str
    first_seen_at: str


class _BatchStatements:
    """The sync batch's statements, compiled once per store (they differ only by dialect).

    :param insert: the dialect's ``insert`` construct (it carries ``ON CONFLICT``).
    """

    def __init__(self, insert: Callable[[Table], Any]) -> None:
        raw, inc, s = t.raw_incident_versions, t.incidents, t.sync_state
        self.insert_versions = (
            insert(raw)
            .on_conflict_do_nothing(index_elements=["tenant_id", "incident_id", "last_update_ticks"])
            .returning(raw.c.id, raw.c.incident_id, raw.c.last_update_ticks)
        )

        heads = insert(inc)
        ex = heads.excluded
        newer = ex.last_update_ticks > inc.c.last_update_ticks
        moved = {
            name: case((newer, ex[name]), else_=inc.c[name])
            for name in (
                "integration",
                "latest_version_id",
                "last_update",
                "last_update_ticks",
                "status",
                "redirect_incident_id",
            )
        }
        # A version older than the head (a late reread) may still reveal an MDO alert: "ever" is an OR.
        moved["has_mdo_alert"] = inc.c.has_mdo_alert | ex.has_mdo_alert
        self.upsert_heads = heads.on_conflict_do_update(
            index_elements=["tenant_id", "incident_id"], set_=moved
        )

        state = insert(s)
        ex = state.excluded
        # The watermark never moves back, whatever a caller passes.
        forward = or_(s.c.watermark_ticks.is_(None), ex.watermark_ticks > s.c.watermark_ticks)
        self.upsert_state = state.on_conflict_do_update(
            index_elements=["integration"],
            set_={
                "tenant_id": ex.tenant_id,
                "watermark": case((forward, ex.watermark), else_=s.c.watermark),
                "watermark_ticks": case((forward, ex.watermark_ticks), else_=s.c.watermark_ticks),
                "overlap_seconds": ex.overlap_seconds,
                "seen": ex.seen,
                "batches": s.c.batches + 1,
                "versions_stored": s.c.versions_stored + ex.versions_stored,
                "quarantined": s.c.quarantined + ex.quarantined,
                "updated_at": ex.updated_at,
            },
        )


class SyncStore(Repository):
    """The sync's tables.

    :param engine: the store's engine.
    """

    def __init__(self, *, engine: Engine) -> None:
        super().__init__(engine=engine)
        # Built once: constructing upserts costs more than running them for a 50-row batch.
        self._statements = _BatchStatements(self._insert)

    def sync_lock(
        self, integration: str, *, timeout: float | None = None
    ) -> contextlib.AbstractContextManager[HeldLock]:
        """The per-integration lock that keeps two sync runs from overlapping.

        :param integration: the integration.
        :param timeout: seconds to wait; ``None`` waits.
        """
        return named_lock(self.engine, f"sync:{integration}", timeout=timeout)

    def sync_state(self, integration: str) -> SyncState | None:
        """The integration's sync state, ``None`` before its first batch.

        :param integration: the integration.
        """
        with transient_errors(), self.engine.connect() as conn:
            row = conn.execute(select(t.sync_state).where(t.sync_state.c.integration == integration)).first()
        if row is None:
            return None
        return SyncState(
            integration=row.integration,
            tenant_id=row.tenant_id,
            watermark=None if row.watermark_ticks is None else GraphTime(row.watermark_ticks),
            overlap_seconds=row.overlap_seconds,
            lookback_start=GraphTime.parse(row.lookback_start),
            seen=frozenset(json.loads(row.seen)),
            runs=row.runs,
            batches=row.batches,
            versions_stored=row.versions_stored,
            quarantined=row.quarantined,
        )

    def commit_batch(
        self,
        *,
        integration: str,
        tenant_id: str,
        versions: Sequence[NewVersion],
        quarantined: Sequence[QuarantineEntry],
        watermark: GraphTime | None,
        seen: Collection[str],
        overlap_seconds: int,
        lookback_start: GraphTime,
    ) -> BatchOutcome:
        """Store one batch (a page) and the sync state that covers it, in one transaction.

        Versions already stored are ignored by the insert, heads move only forward, and a record
        quarantined before adds no row, so the same batch committed twice changes nothing more.

        :param integration: the integration reading.
        :param tenant_id: its tenant.
        :param versions: validated versions.
        :param quarantined: records refused, with their reasons.
        :param watermark: the watermark after this batch.
        :param seen: the dedup keys within the overlap window below ``watermark``.
        :param overlap_seconds: the overlap the next run rereads.
        :param lookback_start: where the first run started.
        """
        received_at = utc_now()
        with self._write() as conn:
            stored = self._insert_versions(conn, integration, tenant_id, versions, received_at)
            added = self._insert_quarantine(conn, integration, tenant_id, quarantined, received_at)
            self._save_state(
                conn,
                integration=integration,
                tenant_id=tenant_id,
                watermark=watermark,
                seen=seen,
                overlap_seconds=overlap_seconds,
                lookback_start=lookback_start,
                stored=stored,
                quarantined=added,
                now=received_at,
            )
        return BatchOutcome(stored=stored, duplicates=len(versions) - stored, quarantined=added)

    def _insert_versions(
        self,
        conn: Connection,
        integration: str,
        tenant_id: str,
        versions: Sequence[NewVersion],
        received_at: str,
    ) -> int:
        if not versions:
            return 0
        by_key = {(v.incident_id, v.last_update.ticks): v for v in versions}
        rows = conn.execute(
            self._statements.insert_versions,
            [
                {
                    "integration": integration,
                    "tenant_id": tenant_id,
                    "incident_id": v.incident_id,
                    "last_update": v.last_update.isoformat(),
                    "last_update_ticks": v.last_update.ticks,
                    "received_at": received_at,
                    "payload": v.payload,
                    "produced": False,
                }
                for v in by_key.values()
            ],
        ).all()
        heads: dict[str, dict[str, Any]] = {}
        for version_id, incident_id, ticks in rows:
            version = by_key[(incident_id, ticks)]
            head = heads.get(incident_id)
            if head is None or ticks > head["last_update_ticks"]:
                heads[incident_id] = {
                    "tenant_id": tenant_id,
                    "incident_id": incident_id,
                    "integration": integration,
                    "latest_version_id": version_id,
                    "last_update": version.last_update.isoformat(),
                    "last_update_ticks": ticks,
                    "status": version.status,
                    "redirect_incident_id": version.redirect_incident_id,
                    "has_mdo_alert": version.has_mdo_alert or bool(head and head["has_mdo_alert"]),
                }
            elif version.has_mdo_alert:
                head["has_mdo_alert"] = True
        if heads:
            self._upsert_heads(conn, list(heads.values()))
        return len(rows)

    def _upsert_heads(self, conn: Connection, heads: list[dict[str, Any]]) -> None:
        conn.execute(self._statements.upsert_heads, heads)

    def _save_state(
        self,
        conn: Connection,
        *,
        integration: str,
        tenant_id: str,
        watermark: GraphTime | None,
        seen: Collection[str],
        overlap_seconds: int,
        lookback_start: GraphTime,
        stored: int,
        quarantined: int,
        now: str,
    ) -> None:
        values = {
            "integration": integration,
            "tenant_id": tenant_id,
            "watermark": None if watermark is None else watermark.isoformat(),
            "watermark_ticks": None if watermark is None else watermark.ticks,
            "overlap_seconds": overlap_seconds,
            "lookback_start": lookback_start.isoformat(),
            "seen": json.dumps(sorted(seen)),
            "runs": 0,
            "batches": 1,
            "versions_stored": stored,
            "quarantined": quarantined,
            "updated_at": now,
        }
        conn.execute(self._statements.upsert_state, values)

    def finish_run(self, integration: str) -> None:
        """Count a completed run.

        :param integration: the integration.
        """
        s = t.sync_state
        with self._write() as conn:
            conn.execute(
                update(s)
                .where(s.c.integration == integration)
                .values(runs=s.c.runs + 1, updated_at=utc_now())
            )

    # -- audit reads ----------------------------------------------------------------------------

    def heads(self, *, tenant_id: str, since_ticks: int | GraphTime = 0) -> list[IncidentHead]:
        """Incident heads of a tenant updated at or after a time, oldest first (for the audit).

        :param tenant_id: the tenant.
        :param since_ticks: the lower bound, as ticks or a :class:`GraphTime`.
        """
        bound = since_ticks.ticks if isinstance(since_ticks, GraphTime) else since_ticks
        inc = t.incidents
        query = (
            select(inc)
            .where(inc.c.tenant_id == tenant_id, inc.c.last_update_ticks >= bound)
            .order_by(inc.c.last_update_ticks, inc.c.incident_id)
        )
        with self.engine.connect() as conn:
            return [head_from_row(row) for row in conn.execute(query)]

    def count_heads(self, *, tenant_id: str, since: GraphTime, until: GraphTime) -> int:
        """How many of a tenant's incidents have their latest stored version between two times, both
        included (the probe compares it with Graph's count of the overlap).

        :param tenant_id: the tenant.
        :param since: the lower bound.
        :param until: the upper bound.
        """
        inc = t.incidents
        query = select(func.count()).where(
            inc.c.tenant_id == tenant_id,
            inc.c.last_update_ticks >= since.ticks,
            inc.c.last_update_ticks <= until.ticks,
        )
        with transient_errors(), self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def quarantined(self, integration: str) -> list[QuarantinedRecord]:
        """The integration's quarantined records, oldest first.

        :param integration: the integration.
        """
        q = t.quarantine
        query = select(q).where(q.c.integration == integration).order_by(q.c.id)
        with self.engine.connect() as conn:
            return [
                QuarantinedRecord(
                    integration=row.integration,
                    tenant_id=row.tenant_id,
                    kind=row.kind,
                    record_id=row.record_id,
                    reason=row.reason,
                    payload=row.payload,
                    first_seen_at=row.first_seen_at,
                )
                for row in conn.execute(query)
            ]
