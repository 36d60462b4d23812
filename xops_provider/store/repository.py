"""The story store: raw incident versions, incident heads, sync state, quarantine and stories.

One class, :class:`Store`, serves three readers: the sync engine (batches committed with their
watermark), the story producer (:class:`~xops_provider.stories.ports.StoryRepository`) and the CLI,
audit and Workbench (read helpers). Every write is one transaction; inserts are batched per call,
never one round trip per row.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import sqlite3
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pydantic_core
from sqlalchemy import Connection, Engine, Table, case, delete, false, func, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from xops_provider.models.normalize import normalize_entity_value
from xops_provider.models.timestamps import GraphTime, InvalidTimestamp
from xops_provider.store import tables as t
from xops_provider.store.database import (
    HeldLock,
    TransientStoreError,
    create_store_engine,
    named_lock,
    upgrade_schema,
    writer,
)
from xops_provider.stories.canonical import UnchangedDocuments, canonical_json
from xops_provider.stories.ports import IncidentHead, IncidentVersion, StoryFailure

# Bound parameters per IN list: well under SQLite's and PostgreSQL's limits.
_CHUNK = 500
#: The columns :meth:`Store.list_stories` returns for each story.
SUMMARY_COLUMNS = (
    "story_id",
    "integration",
    "tenant_id",
    "incident_id",
    "title",
    "source_url",
    "criticality",
    "severity",
    "status",
    "vendor_status",
    "verdict",
    "predicted_verdict",
    "indication",
    "first_signal",
    "last_signal",
    "created_at",
    "updated_at",
    "merged_into",
    "campaign_id",
    "alert_count",
    "is_open",
)
_STORY_REQUIRED = ("story_id", "tenant_id", "source_incident_id", "title", "criticality", "status")


@dataclass(frozen=True, slots=True)
class NewVersion:
    """A validated incident version for :meth:`Store.commit_batch`.

    :param incident_id: Defender's incident id.
    :param last_update: the version's ``lastUpdateDateTime``.
    :param payload: the incident as received, as JSON text.
    :param status: the normalised incident status.
    :param redirect_incident_id: the survivor a redirected incident names.
    :param has_mdo_alert: whether this version holds a Defender for Office 365 alert.
    """

    incident_id: str
    last_update: GraphTime
    payload: str
    status: str | None
    redirect_incident_id: str | None
    has_mdo_alert: bool

    @property
    def key(self) -> str:
        """The dedup key within a tenant: ``<incident id>@<ticks>``."""
        return f"{self.incident_id}@{self.last_update.ticks}"


@dataclass(frozen=True, slots=True)
class QuarantineEntry:
    """A record that could not be accepted.

    :param kind: what it was, for example ``incident``.
    :param record_id: its id, when it had a readable one.
    :param reason: why it was refused, for a human.
    :param payload: the record as received, as text.
    """

    kind: str
    record_id: str | None
    reason: str
    payload: str

    @property
    def fingerprint(self) -> str:
        """Identity of the bad record: the same bytes reread add no row."""
        return hashlib.sha256(f"{self.kind}\n{self.payload}".encode()).hexdigest()


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


@dataclass(frozen=True, slots=True)
class SyncState:
    """Where an integration's sync stands.

    :param integration: the integration.
    :param tenant_id: its tenant.
    :param watermark: the latest ``lastUpdateDateTime`` stored, ``None`` before any.
    :param overlap_seconds: how far below the watermark the next run rereads.
    :param lookback_start: where the first run started.
    :param seen: dedup keys (``<incident id>@<ticks>``) stored within the overlap window.
    :param runs: completed runs.
    :param batches: committed batches.
    :param versions_stored: new versions stored, all runs.
    :param quarantined: records quarantined, all runs.
    """

    integration: str
    tenant_id: str
    watermark: GraphTime | None
    overlap_seconds: int
    lookback_start: GraphTime
    seen: frozenset[str]
    runs: int = 0
    batches: int = 0
    versions_stored: int = 0
    quarantined: int = 0


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What one committed batch changed.

    :param stored: versions newly stored.
    :param duplicates: versions that were already stored.
    :param quarantined: records newly quarantined.
    """

    stored: int
    duplicates: int
    quarantined: int


def utc_now() -> str:
    """The wall clock in the store's seven-digit form."""
    return GraphTime.from_datetime(dt.datetime.now(dt.UTC)).isoformat()


def _canonical_time(value: Any) -> str | None:
    if value is None or value == "":
        return None
    try:
        return GraphTime.parse(value).isoformat()
    except InvalidTimestamp:
        return str(value)[:32]


@contextlib.contextmanager
def _transient_errors() -> Iterator[None]:
    """A lost, refused or busy database surfaces as :class:`TransientStoreError` (retry as it stands)."""
    try:
        yield
    except DBAPIError as err:
        if _is_transient(err):
            raise TransientStoreError(f"store unavailable: {type(err.orig).__name__}") from err
        raise


def _is_transient(err: DBAPIError) -> bool:
    if err.connection_invalidated:
        return True
    if isinstance(err.orig, sqlite3.Error):
        # SQLite reports a missing table as an OperationalError too; only contention is worth a retry.
        text = str(err.orig).lower()
        return "locked" in text or "busy" in text
    return isinstance(err, OperationalError | InterfaceError)


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _BatchStatements:
    """The sync batch's statements, compiled once per store (they differ only by dialect).

    :param insert: the dialect's ``insert`` construct (it carries ``ON CONFLICT``).
    """

    def __init__(self, insert: Callable[[Table], Any]) -> None:
        raw, inc, q, s = t.raw_incident_versions, t.incidents, t.quarantine, t.sync_state
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

        self.insert_quarantine = (
            insert(q).on_conflict_do_nothing(index_elements=["integration", "fingerprint"]).returning(q.c.id)
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


class Store:
    """The repository over the story store's tables.

    Use :meth:`open` to get one with its schema migrated.

    :param engine: an engine from :func:`~xops_provider.store.database.create_store_engine`.
    """

    def __init__(self, *, engine: Engine) -> None:
        self.engine = engine
        self._writer = writer(engine)
        self._dialect = engine.dialect.name
        # Built once: constructing upserts costs more than running them for a 50-row batch.
        self._statements = _BatchStatements(self._insert)

    @classmethod
    def open(cls, url: str | URL, *, migrate: bool = True) -> Store:
        """Open the store at ``url``, upgrading its schema first.

        :param url: a SQLAlchemy URL (``sqlite:///…`` or ``postgresql://…``).
        :param migrate: run the migrations (safe to run concurrently).
        """
        engine = create_store_engine(url)
        if migrate:
            upgrade_schema(engine)
        return cls(engine=engine)

    def close(self) -> None:
        """Release the store's connections."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.engine.url.render_as_string(hide_password=True)})"

    # -- plumbing -----------------------------------------------------------------------------

    def _insert(self, table: Table) -> Any:
        return (postgresql.insert if self._dialect == "postgresql" else sqlite.insert)(table)

    @contextlib.contextmanager
    def _write(self) -> Iterator[Connection]:
        """One write transaction; a lost or busy database surfaces as :class:`TransientStoreError`."""
        with _transient_errors(), self._writer.begin() as conn:
            yield conn

    def sync_lock(
        self, integration: str, *, timeout: float | None = None
    ) -> contextlib.AbstractContextManager[HeldLock]:
        """The per-integration lock that keeps two sync runs from overlapping.

        :param integration: the integration.
        :param timeout: seconds to wait; ``None`` waits.
        """
        return named_lock(self.engine, f"sync:{integration}", timeout=timeout)

    # -- sync engine --------------------------------------------------------------------------

    def sync_state(self, integration: str) -> SyncState | None:
        """The integration's sync state, ``None`` before its first batch.

        :param integration: the integration.
        """
        with _transient_errors(), self.engine.connect() as conn:
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

    def _insert_quarantine(
        self,
        conn: Connection,
        integration: str,
        tenant_id: str,
        entries: Sequence[QuarantineEntry],
        now: str,
    ) -> int:
        if not entries:
            return 0
        unique = {e.fingerprint: e for e in entries}
        rows = conn.execute(
            self._statements.insert_quarantine,
            [
                {
                    "integration": integration,
                    "tenant_id": tenant_id,
                    "kind": e.kind,
                    "record_id": e.record_id,
                    "reason": e.reason,
                    "payload": e.payload,
                    "fingerprint": fingerprint,
                    "first_seen_at": now,
                }
                for fingerprint, e in unique.items()
            ],
        ).all()
        return len(rows)

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

    # -- story producer (StoryRepository) -----------------------------------------------------

    def pending_incidents(self, *, integration: str, limit: int) -> list[tuple[str, str]]:
        """``(tenant_id, incident_id)`` pairs with stored versions no story reflects yet, oldest first.

        Reads the unproduced versions in id order through the queue's partial index, so a pair's
        first row is its oldest pending version and a call costs about ``limit`` rows, however long
        the queue.

        :param integration: the integration.
        :param limit: at most this many pairs.
        """
        raw = t.raw_incident_versions
        pairs: dict[tuple[str, str], None] = {}
        after = 0
        chunk = max(limit * 2, 100)
        with self.engine.connect() as conn:
            while len(pairs) < limit:
                rows = conn.execute(
                    select(raw.c.id, raw.c.tenant_id, raw.c.incident_id)
                    # Spelled as the index predicate, so that both planners pick the partial index.
                    .where(raw.c.integration == integration, raw.c.produced == false(), raw.c.id > after)
                    .order_by(raw.c.id)
                    .limit(chunk)
                ).all()
                for row in rows:
                    pairs.setdefault((row.tenant_id, row.incident_id))
                    if len(pairs) == limit:
                        break
                if len(rows) < chunk:
                    break
                after = rows[-1].id
        return list(pairs)

    def incident_versions(
        self, *, tenant_id: str, incident_ids: Sequence[str]
    ) -> dict[str, list[IncidentVersion]]:
        """Every stored version of each incident, ordered by ``(last_update, version_id)``.

        :param tenant_id: the tenant.
        :param incident_ids: the incidents.
        """
        raw = t.raw_incident_versions
        result: dict[str, list[IncidentVersion]] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(dict.fromkeys(incident_ids))):
                query = (
                    select(
                        raw.c.id, raw.c.incident_id, raw.c.last_update_ticks, raw.c.received_at, raw.c.payload
                    )
                    .where(raw.c.tenant_id == tenant_id, raw.c.incident_id.in_(chunk))
                    .order_by(raw.c.incident_id, raw.c.last_update_ticks, raw.c.id)
                )
                for row in conn.execute(query):
                    result.setdefault(row.incident_id, []).append(
                        IncidentVersion(
                            version_id=row.id,
                            tenant_id=tenant_id,
                            incident_id=row.incident_id,
                            last_update=GraphTime(row.last_update_ticks),
                            received_at=row.received_at,
                            payload=pydantic_core.from_json(row.payload),
                        )
                    )
        return result

    def incident_heads(self, *, tenant_id: str, incident_ids: Sequence[str]) -> dict[str, IncidentHead]:
        """The head of each given incident that has one.

        :param tenant_id: the tenant.
        :param incident_ids: the incidents.
        """
        inc = t.incidents
        result: dict[str, IncidentHead] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(dict.fromkeys(incident_ids))):
                query = select(inc).where(inc.c.tenant_id == tenant_id, inc.c.incident_id.in_(chunk))
                for row in conn.execute(query):
                    result[row.incident_id] = _head(row)
        return result

    def redirected_into(self, *, tenant_id: str, incident_ids: Sequence[str]) -> dict[str, list[str]]:
        """For each given incident, the incidents whose latest version redirects to it (one hop).

        :param tenant_id: the tenant.
        :param incident_ids: the surviving incidents.
        """
        inc = t.incidents
        result: dict[str, list[str]] = {incident_id: [] for incident_id in incident_ids}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(result)):
                # Sorted here, not by the query: ORDER BY incident_id made SQLite walk the tenant's
                # primary key (every incident, each batch) instead of the redirect index.
                query = select(inc.c.redirect_incident_id, inc.c.incident_id).where(
                    inc.c.tenant_id == tenant_id, inc.c.redirect_incident_id.in_(chunk)
                )
                for survivor, merged in sorted(conn.execute(query).all(), key=lambda row: row[1]):
                    if merged != survivor:
                        result[survivor].append(merged)
        return result

    def save_stories(
        self,
        *,
        integration: str,
        stories: Sequence[dict[str, Any]],
        produced_version_ids: Sequence[int],
        failures: Sequence[StoryFailure] = (),
    ) -> None:
        """Upsert story documents with their indexed columns and entity index, quarantine the incidents
        whose story failed, and mark the versions produced, in one transaction.

        :param integration: the integration the stories belong to (unless a document names its own).
        :param stories: story documents (``story.schema.json``).
        :param produced_version_ids: the raw versions these stories now reflect.
        :param failures: incidents whose story could not be built; their versions stay stored.
        """
        rows: dict[str, dict[str, Any]] = {}
        entities: dict[str, list[dict[str, Any]]] = {}
        unchanged = isinstance(stories, UnchangedDocuments)
        for document in stories:
            row = story_row(document, integration=integration, unchanged=unchanged)
            rows[row["story_id"]] = row
            entities[row["story_id"]] = entity_rows(row["story_id"], document.get("entities") or [])
        st, se, raw = t.stories, t.story_entities, t.raw_incident_versions
        with self._write() as conn:
            if rows:
                statement = self._insert(st)
                columns = [c.name for c in st.columns if c.name != "story_id"]
                conn.execute(
                    statement.on_conflict_do_update(
                        index_elements=["story_id"],
                        set_={name: statement.excluded[name] for name in columns},
                        # An unchanged document is not rewritten (nor are its entities below).
                        where=st.c.document_sha256 != statement.excluded.document_sha256,
                    ),
                    list(rows.values()),
                )
                ids = list(rows)
                for chunk in _chunks(ids):
                    conn.execute(delete(se).where(se.c.story_id.in_(chunk)))
                flat = [entity for story_id in ids for entity in entities[story_id]]
                if flat:
                    entities_insert = self._insert(se)
                    # An upsert, so that two producers saving one story at once cannot collide.
                    conn.execute(
                        entities_insert.on_conflict_do_update(
                            index_elements=["story_id", "type", "value"],
                            set_={
                                "roles": entities_insert.excluded.roles,
                                "verdict": entities_insert.excluded.verdict,
                            },
                        ),
                        flat,
                    )
            now = utc_now()
            for tenant_id in sorted({failure.tenant_id for failure in failures}):
                entries = [_story_quarantine(f) for f in failures if f.tenant_id == tenant_id]
                self._insert_quarantine(conn, integration, tenant_id, entries, now)
            for chunk in _chunks(list(dict.fromkeys(produced_version_ids))):
                conn.execute(update(raw).where(raw.c.id.in_(chunk)).values(produced=True))

    # -- readers: CLI, audit, Workbench --------------------------------------------------------

    def get_story(self, story_id: str) -> dict[str, Any] | None:
        """A story document, ``None`` when there is none.

        :param story_id: for example ``mdo:<tenant>:<incident>``.
        """
        with self.engine.connect() as conn:
            document = conn.execute(
                select(t.stories.c.document).where(t.stories.c.story_id == story_id)
            ).scalar_one_or_none()
        return None if document is None else json.loads(document)

    def iter_stories(
        self,
        *,
        since: GraphTime | str | None = None,
        integration: str | None = None,
        batch_size: int = 500,
    ) -> Iterator[dict[str, Any]]:
        """Story documents ordered by ``(updated_at, story_id)``, read in keyset batches (flat memory).

        :param since: only stories updated at or after this time.
        :param integration: only this integration's stories.
        :param batch_size: rows per query.
        """
        st = t.stories
        base = select(st.c.story_id, st.c.updated_at, st.c.document).order_by(st.c.updated_at, st.c.story_id)
        if since is not None:
            bound = since.isoformat() if isinstance(since, GraphTime) else _canonical_time(since)
            base = base.where(st.c.updated_at >= bound)
        if integration is not None:
            base = base.where(st.c.integration == integration)
        after: tuple[str, str] | None = None
        while True:
            query = base if after is None else base.where(tuple_(st.c.updated_at, st.c.story_id) > after)
            with self.engine.connect() as conn:
                rows = conn.execute(query.limit(batch_size)).all()
            for row in rows:
                yield json.loads(row.document)
            if len(rows) < batch_size:
                return
            after = (rows[-1].updated_at, rows[-1].story_id)

    def list_stories(
        self,
        *,
        integration: str | None = None,
        open_only: bool = False,
        status: str | None = None,
        min_criticality: int | None = None,
        campaign_id: str | None = None,
        merged_into: str | None = None,
        entity: tuple[str, str] | None = None,
        order: str = "criticality",
        limit: int = 100,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """One page of story summaries (the indexed columns, not the documents), for list views.

        Filters and orders run on indexed columns, so a page costs the same with 50,000 stories.

        :param integration: only this integration's stories.
        :param open_only: only stories neither closed nor merged.
        :param status: only this workflow status.
        :param min_criticality: only stories at least this critical.
        :param campaign_id: only this campaign's stories.
        :param merged_into: only stories merged into this story id.
        :param entity: only stories holding this ``(type, value)`` entity (value normalised here).
        :param order: ``criticality`` (most critical, then oldest signal), ``updated`` (latest change
            first) or ``first_signal`` (oldest first).
        :param limit: at most this many rows.
        :param offset: rows to skip.
        """
        st = t.stories
        orders = {
            "criticality": (st.c.criticality.desc(), st.c.first_signal, st.c.story_id),
            "updated": (st.c.updated_at.desc(), st.c.story_id.desc()),
            "first_signal": (st.c.first_signal, st.c.story_id),
        }
        if order not in orders:
            raise ValueError(f"unknown order {order!r}: use one of {', '.join(orders)}")
        conditions = self._story_conditions(
            integration=integration,
            open_only=open_only,
            status=status,
            min_criticality=min_criticality,
            campaign_id=campaign_id,
            merged_into=merged_into,
            entity=entity,
        )
        query = (
            select(*(st.c[name] for name in SUMMARY_COLUMNS))
            .where(*conditions)
            .order_by(*orders[order])
            .limit(max(limit, 0))
            .offset(max(offset, 0))
        )
        with self.engine.connect() as conn:
            return [{**row._asdict(), "is_open": bool(row.is_open)} for row in conn.execute(query)]

    def criticality_counts(
        self,
        *,
        integration: str | None = None,
        open_only: bool = False,
        status: str | None = None,
        campaign_id: str | None = None,
    ) -> dict[int, int]:
        """How many stories there are at each criticality, for the list's header.

        :param integration: only this integration's stories.
        :param open_only: only stories neither closed nor merged.
        :param status: only this workflow status.
        :param campaign_id: only this campaign's stories.
        """
        st = t.stories
        conditions = self._story_conditions(
            integration=integration, open_only=open_only, status=status, campaign_id=campaign_id
        )
        query = (
            select(st.c.criticality, func.count())
            .where(*conditions)
            .group_by(st.c.criticality)
            .order_by(st.c.criticality.desc())
        )
        with self.engine.connect() as conn:
            return {int(criticality): int(count) for criticality, count in conn.execute(query)}

    @staticmethod
    def _story_conditions(
        *,
        integration: str | None = None,
        open_only: bool = False,
        status: str | None = None,
        min_criticality: int | None = None,
        campaign_id: str | None = None,
        merged_into: str | None = None,
        entity: tuple[str, str] | None = None,
    ) -> list[Any]:
        st, se = t.stories, t.story_entities
        conditions: list[Any] = []
        if integration is not None:
            conditions.append(st.c.integration == integration)
        if open_only:
            conditions.append(st.c.is_open.is_(True))
        if status is not None:
            conditions.append(st.c.status == status)
        if min_criticality is not None:
            conditions.append(st.c.criticality >= min_criticality)
        if campaign_id is not None:
            conditions.append(st.c.campaign_id == campaign_id)
        if merged_into is not None:
            conditions.append(st.c.merged_into == merged_into)
        if entity is not None:
            kind, value = entity
            holders = select(se.c.story_id).where(
                se.c.type == kind, se.c.value == normalize_entity_value(kind, value)
            )
            conditions.append(st.c.story_id.in_(holders))
        return conditions

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
            return [_head(row) for row in conn.execute(query)]

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

    def counts(self) -> dict[str, int]:
        """Row counts for status displays: versions, pending versions, incidents, stories, quarantine."""
        raw, st = t.raw_incident_versions, t.stories
        queries = {
            "raw_versions": select(func.count()).select_from(raw),
            "pending_versions": select(func.count()).select_from(raw).where(raw.c.produced == false()),
            "incidents": select(func.count()).select_from(t.incidents),
            "stories": select(func.count()).select_from(st),
            "open_stories": select(func.count()).select_from(st).where(st.c.is_open.is_(True)),
            "quarantined": select(func.count()).select_from(t.quarantine),
        }
        with self.engine.connect() as conn:
            return {name: int(conn.execute(query).scalar_one()) for name, query in queries.items()}


def _story_quarantine(failure: StoryFailure) -> QuarantineEntry:
    """A failed story's quarantine record; its payload points at the raw versions, which stay stored."""
    payload = {"incident_id": failure.incident_id, "version_ids": list(failure.version_ids)}
    return QuarantineEntry(
        kind="story",
        record_id=failure.incident_id,
        reason=failure.reason,
        payload=json.dumps(payload, sort_keys=True),
    )


def _head(row: Any) -> IncidentHead:
    return IncidentHead(
        tenant_id=row.tenant_id,
        incident_id=row.incident_id,
        last_update=GraphTime(row.last_update_ticks),
        status=row.status,
        redirect_incident_id=row.redirect_incident_id,
        has_mdo_alert=bool(row.has_mdo_alert),
    )


def _column_text(value: Any, limit: int | None = None) -> str | None:
    """A document value as column text: NUL removed (PostgreSQL refuses it), cut to the column's size.
    The document itself keeps every character."""
    if value is None or value == "":
        return None
    text = str(value).replace("\x00", "")
    return text if limit is None else text[:limit]


def story_row(document: dict[str, Any], *, integration: str, unchanged: bool = False) -> dict[str, Any]:
    """The ``stories`` row of a document: its indexed columns, the JSON text and its digest.

    :param document: a story document.
    :param integration: the integration, unless the document names its own.
    :param unchanged: the document is exactly as the producer built it (it came in
        :class:`~xops_provider.stories.canonical.UnchangedDocuments`), so its remembered text is used.
    """
    if not isinstance(document, dict):
        raise ValueError(f"a story document must be an object, got {type(document).__name__}")
    missing = [key for key in _STORY_REQUIRED if document.get(key) in (None, "")]
    if missing:
        raise ValueError(f"story {document.get('story_id')!r} lacks {', '.join(missing)}")
    encoded = canonical_json(document, unchanged=unchanged)
    summary = document.get("summary") if isinstance(document.get("summary"), dict) else {}
    correlation = document.get("correlation") if isinstance(document.get("correlation"), dict) else {}
    alert_count = document.get("alert_count", summary.get("alert_count"))
    if alert_count is None:
        alert_count = len(document.get("evidence") or [])
    merged_into = _column_text(document.get("merged_into"))
    status = _column_text(document["status"]) or ""
    return {
        "story_id": str(document["story_id"]),
        "integration": str(document.get("integration") or integration),
        "tenant_id": str(document["tenant_id"]),
        "incident_id": str(document["source_incident_id"]),
        "title": _column_text(document["title"]),
        "source_url": _column_text(document.get("source_url")),
        "criticality": int(document["criticality"]),
        "severity": _column_text(document.get("severity"), 64),
        "status": status,
        "vendor_status": _column_text(document.get("vendor_status"), 64),
        "verdict": _column_text(document.get("verdict"), 32),
        "predicted_verdict": _column_text(document.get("predicted_verdict"), 32),
        "indication": _column_text(document.get("indication"), 200),
        "first_signal": _canonical_time(document.get("first_signal")),
        "last_signal": _canonical_time(document.get("last_signal")),
        "created_at": _canonical_time(document.get("created_at")),
        "updated_at": _canonical_time(document.get("updated_at")),
        "merged_into": merged_into,
        "campaign_id": _column_text(document.get("campaign_id") or correlation.get("campaign_id"), 500),
        "alert_count": int(alert_count),
        "is_open": status != "Closed" and merged_into is None,
        "document": encoded.decode(),
        "document_sha256": hashlib.sha256(encoded).hexdigest(),
    }


def entity_rows(story_id: str, entities: Iterable[Any]) -> list[dict[str, Any]]:
    """The ``story_entities`` rows of a document's entities, merged by normalised value.

    :param story_id: the story.
    :param entities: ``document["entities"]``.
    """
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for entity in entities:
        if not isinstance(entity, dict) or not entity.get("type") or not entity.get("value"):
            continue
        kind = _column_text(entity["type"], 32)
        value = normalize_entity_value(kind or "", str(entity["value"]))
        if not kind or not value:
            continue
        row = merged.setdefault(
            (kind, value), {"story_id": story_id, "type": kind, "value": value, "roles": [], "verdict": None}
        )
        roles = entity.get("roles")
        for role in roles if isinstance(roles, list) else []:
            if role not in row["roles"]:
                row["roles"].append(role)
        row["verdict"] = row["verdict"] or _column_text(entity.get("verdict"), 32)
    return [{**row, "roles": json.dumps(row["roles"])} for row in merged.values()]
