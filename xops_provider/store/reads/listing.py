"""Reads for the ``xops`` command: one story, the export in keyset batches, offset pages and counts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import false, func, select, tuple_

from xops_provider.models.normalize import normalize_entity_value
from xops_provider.models.timestamps import GraphTime
from xops_provider.store import tables as t
from xops_provider.store.base import Repository, canonical_time

#: The columns :meth:`StoryListing.list_stories` returns for each story.
LISTING_COLUMNS = (
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


class StoryListing(Repository):
    """What the ``xops`` command reads: stories one by one, as an export, as a table, and counts."""

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
            bound = since.isoformat() if isinstance(since, GraphTime) else canonical_time(since)
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
            select(*(st.c[name] for name in LISTING_COLUMNS))
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
