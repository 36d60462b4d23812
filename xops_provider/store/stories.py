"""The story queue and story writes: unproduced versions in, story documents and the entity index out.

It implements :class:`~xops_provider.stories.ports.StoryRepository` for the producer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import pydantic_core
from sqlalchemy import delete, false, select, update

from xops_provider.models.normalize import normalize_entity_value
from xops_provider.models.timestamps import GraphTime
from xops_provider.store import tables as t
from xops_provider.store.base import Repository, canonical_time, chunks, column_text, utc_now
from xops_provider.store.correlation import read_inputs
from xops_provider.stories.canonical import canonical_json
from xops_provider.stories.ports import IncidentVersion, StoryFailure
from xops_provider.sync.ports import QuarantineEntry

if TYPE_CHECKING:
    from xops_provider.correlation.inputs import CorrelationInputs

_STORY_REQUIRED = ("story_id", "tenant_id", "source_incident_id", "title", "criticality", "status")


class StoryQueue(Repository):
    """The producer's queue of unproduced versions, and the story writes that empty it."""

    def correlation_inputs(self, *, story_ids: Sequence[str]) -> dict[str, CorrelationInputs]:
        """The correlation inputs of the given stories that have any.

        :param story_ids: the stories being built.
        """
        return read_inputs(self.engine, story_ids)

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
            for chunk in chunks(list(dict.fromkeys(incident_ids))):
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

    def redirected_into(self, *, tenant_id: str, incident_ids: Sequence[str]) -> dict[str, list[str]]:
        """For each given incident, the incidents whose latest version redirects to it (one hop).

        :param tenant_id: the tenant.
        :param incident_ids: the surviving incidents.
        """
        inc = t.incidents
        result: dict[str, list[str]] = {incident_id: [] for incident_id in incident_ids}
        with self.engine.connect() as conn:
            for chunk in chunks(list(result)):
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
        for document in stories:
            row = story_row(document, integration=integration)
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
                for chunk in chunks(ids):
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
            for chunk in chunks(list(dict.fromkeys(produced_version_ids))):
                conn.execute(update(raw).where(raw.c.id.in_(chunk)).values(produced=True))


def _story_quarantine(failure: StoryFailure) -> QuarantineEntry:
    """A failed story's quarantine record; its payload points at the raw versions, which stay stored."""
    payload = {"incident_id": failure.incident_id, "version_ids": list(failure.version_ids)}
    return QuarantineEntry(
        kind="story",
        record_id=failure.incident_id,
        reason=failure.reason,
        payload=json.dumps(payload, sort_keys=True),
    )


def story_row(document: dict[str, Any], *, integration: str) -> dict[str, Any]:
    """The ``stories`` row of a document: its indexed columns, the JSON text and its digest.

    :param document: a story document.
    :param integration: the integration, unless the document names its own.
    """
    if not isinstance(document, dict):
        raise ValueError(f"a story document must be an object, got {type(document).__name__}")
    missing = [key for key in _STORY_REQUIRED if document.get(key) in (None, "")]
    if missing:
        raise ValueError(f"story {document.get('story_id')!r} lacks {', '.join(missing)}")
    encoded = canonical_json(document)
    summary = document.get("summary") if isinstance(document.get("summary"), dict) else {}
    correlation = document.get("correlation") if isinstance(document.get("correlation"), dict) else {}
    alert_count = document.get("alert_count", summary.get("alert_count"))
    if alert_count is None:
        alert_count = len(document.get("evidence") or [])
    merged_into = column_text(document.get("merged_into"))
    status = column_text(document["status"]) or ""
    return {
        "story_id": str(document["story_id"]),
        "integration": str(document.get("integration") or integration),
        "tenant_id": str(document["tenant_id"]),
        "incident_id": str(document["source_incident_id"]),
        "title": column_text(document["title"]),
        "source_url": column_text(document.get("source_url")),
        "criticality": int(document["criticality"]),
        "severity": column_text(document.get("severity"), 64),
        "status": status,
        "vendor_status": column_text(document.get("vendor_status"), 64),
        "verdict": column_text(document.get("verdict"), 32),
        "predicted_verdict": column_text(document.get("predicted_verdict"), 32),
        "indication": column_text(document.get("indication"), 200),
        "first_signal": canonical_time(document.get("first_signal")),
        "last_signal": canonical_time(document.get("last_signal")),
        "created_at": canonical_time(document.get("created_at")),
        "updated_at": canonical_time(document.get("updated_at")),
        "merged_into": merged_into,
        "campaign_id": column_text(document.get("campaign_id") or correlation.get("campaign_id"), 500),
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
        kind = column_text(entity["type"], 32)
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
        row["verdict"] = row["verdict"] or column_text(entity.get("verdict"), 32)
    return [{**row, "roles": json.dumps(row["roles"])} for row in merged.values()]
