"""The story reads repository: the list, its groups, one story, a campaign and the integrations.

Every filter and sort runs on an index (``tables.py``), and pages are keyset pages: a cursor names the
last row's ``(sort column, story_id)``, so page 200 costs what page 1 does. Rows whose sort column is
NULL come last in both directions, read as a second index range once the first one is exhausted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Engine, Integer, func, select, tuple_
from sqlalchemy.engine import URL

from xops_provider.store import tables as t
from xops_provider.store.reads.campaigns import read_campaign
from xops_provider.store.reads.listing import StoryListing
from xops_provider.store.reads.query import (
    GROUPS,
    MAX_PAGE,
    SORTS,
    SUMMARY_COLUMNS,
    USER_TYPES,
    Campaign,
    GroupCount,
    StoryPage,
    StoryQuery,
    decode_cursor,
    encode_cursor,
    story_conditions,
    summary_of,
)


class StoryReads(StoryListing):
    """Read-only queries over the stories, their entity index and the sync state: the Workbench's list,
    groups, story and campaign pages, and the ``xops`` command's reads (:class:`StoryListing`).

    :param engine: an engine from :func:`~xops_provider.store.database.create_store_engine`.
    """

    def __init__(self, *, engine: Engine) -> None:
        super().__init__(engine=engine)
        self._sqlite = engine.dialect.name == "sqlite"

    @classmethod
    def open(cls, url: str | URL, *, migrate: bool = True) -> StoryReads:
        """Open the store at ``url`` for reading only (the Workbench, tests).

        :param url: a SQLAlchemy URL.
        :param migrate: upgrade the schema first; otherwise it must be current.
        """
        from xops_provider.store.store import Store

        return Store.open(url, migrate=migrate).reads

    def close(self) -> None:
        """Release the connections."""
        self.engine.dispose()

    # -- the list --------------------------------------------------------------------------------

    def page(self, query: StoryQuery, *, cursor: str | None = None, limit: int = 50) -> StoryPage:
        """One keyset page of the list.

        :param query: filters and sort.
        :param cursor: ``next_cursor`` of the previous page; ``None`` for the first.
        :param limit: rows per page (at most :data:`MAX_PAGE`).
        :raises InvalidCursor: the cursor was not issued for this query.
        """
        limit = max(1, min(limit, MAX_PAGE))
        after = decode_cursor(cursor, query) if cursor else None
        st = t.stories
        column, story_id = SORTS[query.sort], st.c.story_id
        order = (column.desc(), story_id.desc()) if query.descending else (column, story_id)
        rows: list[Any] = []
        with self.engine.connect() as conn:
            if after is None or not after["n"]:
                ranged = story_conditions(query, sqlite=self._sqlite)
                if column.nullable:
                    ranged.append(column.is_not(None))
                if after is not None:
                    key = (after["k"], after["i"])
                    if column is story_id:
                        ranged.append(story_id < after["i"] if query.descending else story_id > after["i"])
                    else:
                        bound = tuple_(column, story_id)
                        ranged.append(bound < key if query.descending else bound > key)
                rows = conn.execute(self._summary_select(ranged).order_by(*order).limit(limit + 1)).all()
            if len(rows) <= limit and column.nullable:
                # Rows without a sort value come last: the second range, by story_id alone.
                unset = [*story_conditions(query, sqlite=self._sqlite), column.is_(None)]
                if after is not None and after["n"]:
                    unset.append(story_id < after["i"] if query.descending else story_id > after["i"])
                rest = self._summary_select(unset).order_by(order[1]).limit(limit + 1 - len(rows))
                rows += conn.execute(rest).all()
        more = len(rows) > limit
        rows = rows[:limit]
        summaries = self._with_users([summary_of(row) for row in rows])
        next_cursor = None
        if more:
            last = summaries[-1]
            value = last[column.name]
            next_cursor = encode_cursor(
                {"q": query.fingerprint(), "n": value is None, "k": value, "i": last["story_id"]}
            )
        return StoryPage(stories=summaries, next_cursor=next_cursor)

    def offset_page(self, query: StoryQuery, *, offset: int, limit: int = 50) -> list[dict[str, Any]]:
        """The same order read with ``OFFSET``: the baseline the keyset pages are measured against.

        :param query: filters and sort.
        :param offset: rows to skip.
        :param limit: rows per page.
        """
        st = t.stories
        column = SORTS[query.sort]
        nulls = column.is_(None)
        order = (
            (nulls, column.desc(), st.c.story_id.desc())
            if query.descending
            else (nulls, column, st.c.story_id)
        )
        statement = (
            self._summary_select(story_conditions(query, sqlite=self._sqlite))
            .order_by(*order)
            .offset(offset)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [summary_of(row) for row in conn.execute(statement)]

    def groups(self, query: StoryQuery, *, by: str, limit: int = 200) -> list[GroupCount]:
        """The list grouped by ``source``, ``indication`` or ``status``, largest first, with counts by
        criticality.

        :param query: filters (its sort is ignored).
        :param by: a key of :data:`GROUPS`.
        :param limit: at most this many groups.
        """
        if by not in GROUPS:
            raise ValueError(f"unknown grouping {by!r}: use one of {', '.join(GROUPS)}")
        column, crit = GROUPS[by], t.stories.c.criticality
        per_level = [
            func.sum(func.cast(crit == level, Integer)).label(f"c{level}") for level in range(10, 0, -1)
        ]
        total = func.count().label("total")
        statement = (
            select(column.label("value"), total, *per_level)
            .where(*story_conditions(query, sqlite=self._sqlite))
            .group_by(column)
            .order_by(total.desc(), column)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(statement).all()
        return [
            GroupCount(
                value=row.value,
                total=int(row.total),
                by_criticality={
                    level: int(getattr(row, f"c{level}") or 0)
                    for level in range(10, 0, -1)
                    if getattr(row, f"c{level}")
                },
            )
            for row in rows
        ]

    @staticmethod
    def _summary_select(conditions: Sequence[Any]) -> Any:
        return select(*(t.stories.c[name] for name in SUMMARY_COLUMNS)).where(*conditions)

    # -- one story and its links -----------------------------------------------------------------

    def story(self, story_id: str) -> dict[str, Any] | None:
        """A story document, ``None`` when there is none.

        :param story_id: the story.
        """
        with self.engine.connect() as conn:
            document = conn.execute(
                select(t.stories.c.document).where(t.stories.c.story_id == story_id)
            ).scalar_one_or_none()
        return None if document is None else json.loads(document)

    def summaries(self, story_ids: Iterable[str]) -> list[dict[str, Any]]:
        """The summaries of the given stories that exist, in the order given.

        :param story_ids: the stories.
        """
        wanted = list(dict.fromkeys(story_ids))[:MAX_PAGE]
        if not wanted:
            return []
        with self.engine.connect() as conn:
            rows = conn.execute(self._summary_select([t.stories.c.story_id.in_(wanted)])).all()
        found = {row.story_id: summary_of(row) for row in rows}
        return self._with_users([found[story_id] for story_id in wanted if story_id in found])

    def merged_into(self, story_id: str) -> list[dict[str, Any]]:
        """The stories whose incidents Defender merged into this story's incident.

        :param story_id: the surviving story.
        """
        # Read through the partial index of merged stories (ix_stories_merged_into_set), and sorted
        # here: with ORDER BY story_id, SQLite walked the primary key instead (1.8 s at 50,000).
        statement = self._summary_select([t.stories.c.merged_into == story_id]).limit(MAX_PAGE)
        with self.engine.connect() as conn:
            rows = [summary_of(row) for row in conn.execute(statement)]
        return sorted(rows, key=lambda row: row["story_id"])

    def users(self, story_ids: Sequence[str]) -> dict[str, list[str]]:
        """The users and mailboxes of each story, from the entity index.

        :param story_ids: the stories.
        """
        se = t.story_entities
        found: dict[str, set[str]] = {story_id: set() for story_id in story_ids}
        if not found:
            return {}
        statement = select(se.c.story_id, se.c.value).where(
            se.c.story_id.in_(list(found)), se.c.type.in_(USER_TYPES)
        )
        with self.engine.connect() as conn:
            for story_id, value in conn.execute(statement):
                found[story_id].add(value)
        return {story_id: sorted(values) for story_id, values in found.items()}

    def _with_users(self, summaries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        users = self.users([summary["story_id"] for summary in summaries])
        return [{**summary, "users": users.get(summary["story_id"], [])} for summary in summaries]

    # -- campaigns, facets, integrations ---------------------------------------------------------

    def campaign(self, campaign_id: str, *, limit: int = MAX_PAGE) -> Campaign | None:
        """A campaign's page, ``None`` when no story names it.

        Indicators come from the documents' ``correlation.related_stories[].shared`` when correlation
        recorded them, else from the entity values that two of its stories or more hold.

        :param campaign_id: the campaign.
        :param limit: at most this many stories.
        """
        return read_campaign(self.engine, campaign_id, limit=limit, with_users=self._with_users)

    def campaign_summaries(self) -> list[dict[str, Any]]:
        """Every campaign with its story count, highest criticality and first signal, largest first."""
        st = t.stories
        query = (
            select(
                st.c.campaign_id,
                func.count().label("stories"),
                func.max(st.c.criticality).label("max_criticality"),
                func.min(st.c.first_signal).label("first_signal"),
            )
            .where(st.c.campaign_id.is_not(None))
            .group_by(st.c.campaign_id)
            .order_by(func.count().desc(), st.c.campaign_id)
        )
        with self.engine.connect() as conn:
            return [row._asdict() for row in conn.execute(query)]

    def facets(self) -> dict[str, list[str]]:
        """The values the list's filters offer: integrations and indications in the store."""
        st = t.stories
        with self.engine.connect() as conn:
            return {
                name: [
                    value
                    for value in conn.execute(select(st.c[name]).distinct().order_by(st.c[name])).scalars()
                    if value
                ]
                for name in ("integration", "indication")
            }

    def integrations(self) -> list[dict[str, Any]]:
        """Each integration's sync state and story counts, by name."""
        s, st = t.sync_state, t.stories
        counts = select(
            st.c.integration,
            func.count().label("stories"),
            func.sum(func.cast(st.c.is_open, Integer)).label("open"),
        ).group_by(st.c.integration)
        with self.engine.connect() as conn:
            states = {
                row.integration: dict(row._mapping)
                for row in conn.execute(select(s).order_by(s.c.integration))
            }
            stories = {
                row.integration: (int(row.stories), int(row.open or 0)) for row in conn.execute(counts)
            }
        result = []
        for name in sorted(set(states) | set(stories)):
            state = states.get(name, {})
            total, open_count = stories.get(name, (0, 0))
            result.append(
                {
                    "integration": name,
                    "tenant_id": state.get("tenant_id"),
                    "watermark": state.get("watermark"),
                    "runs": state.get("runs", 0),
                    "versions_stored": state.get("versions_stored", 0),
                    "quarantined": state.get("quarantined", 0),
                    "updated_at": state.get("updated_at"),
                    "stories": total,
                    "open_stories": open_count,
                }
            )
        return result
