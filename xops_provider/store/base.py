"""What every repository of the store shares: the engine, write transactions, and column helpers.

A repository wraps one concern's tables (:mod:`.sync`, :mod:`.stories`, :mod:`.reads`); each takes
the same engine, so the :class:`~xops_provider.store.Store` that opens them owns one pool.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from xops_provider.models.timestamps import GraphTime, InvalidTimestamp
from xops_provider.store import tables as t
from xops_provider.store.database import writer
from xops_provider.stories.ports import IncidentHead
from xops_provider.sync.ports import QuarantineEntry, TransientStoreError

# Bound parameters per IN list: well under SQLite's and PostgreSQL's limits.
_CHUNK = 500


class Repository:
    """A repository over some of the store's tables.

    :param engine: an engine from :func:`~xops_provider.store.database.create_store_engine`.
    """

    def __init__(self, *, engine: Engine) -> None:
        self.engine = engine
        self._writer = writer(engine)
        self._dialect = engine.dialect.name
        q = t.quarantine
        # Built once: constructing an upsert costs more than running it for a 50-row batch.
        self._quarantine_statement = (
            self._insert(q)
            .on_conflict_do_nothing(index_elements=["integration", "fingerprint"])
            .returning(q.c.id)
        )

    def _insert(self, table: Table) -> Any:
        """The dialect's ``INSERT`` (it carries ``ON CONFLICT``)."""
        return (postgresql.insert if self._dialect == "postgresql" else sqlite.insert)(table)

    @contextlib.contextmanager
    def _write(self) -> Iterator[Connection]:
        """One write transaction; a lost or busy database surfaces as :class:`TransientStoreError`."""
        with transient_errors(), self._writer.begin() as conn:
            yield conn

    def _insert_quarantine(
        self,
        conn: Connection,
        integration: str,
        tenant_id: str,
        entries: Sequence[QuarantineEntry],
        now: str,
    ) -> int:
        """Quarantine records in ``conn``'s transaction; one already there adds no row.

        :returns: rows added.
        """
        if not entries:
            return 0
        unique = {e.fingerprint: e for e in entries}
        rows = conn.execute(
            self._quarantine_statement,
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

    def incident_heads(self, *, tenant_id: str, incident_ids: Sequence[str]) -> dict[str, IncidentHead]:
        """The head of each given incident that has one.

        :param tenant_id: the tenant.
        :param incident_ids: the incidents.
        """
        inc = t.incidents
        result: dict[str, IncidentHead] = {}
        with self.engine.connect() as conn:
            for chunk in chunks(list(dict.fromkeys(incident_ids))):
                query = select(inc).where(inc.c.tenant_id == tenant_id, inc.c.incident_id.in_(chunk))
                for row in conn.execute(query):
                    result[row.incident_id] = head_from_row(row)
        return result


def utc_now() -> str:
    """The wall clock in the store's seven-digit form."""
    return GraphTime.from_datetime(dt.datetime.now(dt.UTC)).isoformat()


def canonical_time(value: Any) -> str | None:
    """A time as the store's seven-digit text; unreadable text is kept, cut, rather than lost."""
    if value is None or value == "":
        return None
    try:
        return GraphTime.parse(value).isoformat()
    except InvalidTimestamp:
        return str(value)[:32]


@contextlib.contextmanager
def transient_errors() -> Iterator[None]:
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


def chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    """``items`` in slices of at most ``size``, one IN list each."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def head_from_row(row: Any) -> IncidentHead:
    """An ``incidents`` row as the domain's :class:`IncidentHead`."""
    return IncidentHead(
        tenant_id=row.tenant_id,
        incident_id=row.incident_id,
        last_update=GraphTime(row.last_update_ticks),
        status=row.status,
        redirect_incident_id=row.redirect_incident_id,
        has_mdo_alert=bool(row.has_mdo_alert),
    )


def column_text(value: Any, limit: int | None = None) -> str | None:
    """A document value as column text: NUL removed (PostgreSQL refuses it), cut to the column's size.
    The document itself keeps every character."""
    if value is None or value == "":
        return None
    text = str(value).replace("\x00", "")
    return text if limit is None else text[:limit]
