"""What the story list asks for (:class:`StoryQuery`), its cursors, and the SQL conditions it becomes.

Free text is matched by value prefix against the entity index (users, mailboxes, senders, URLs,
domains, IPs) and as a substring of the title (the subject), each through an index.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import and_, literal_column, or_, select

from xops_provider.models.normalize import normalize_url
from xops_provider.store import tables as t

#: What a list row holds (indexed columns, never the document).
SUMMARY_COLUMNS = (
    "story_id",
    "integration",
    "title",
    "source_url",
    "criticality",
    "status",
    "verdict",
    "predicted_verdict",
    "indication",
    "source",
    "producer",
    "campaign_id",
    "created_at",
    "updated_at",
    "merged_into",
    "alert_count",
    "is_open",
)
#: Sort name -> column; each is paired with ``story_id`` in an index.
SORTS = {
    "criticality": t.stories.c.criticality,
    "created": t.stories.c.created_at,
    "updated": t.stories.c.updated_at,
    "id": t.stories.c.story_id,
}
#: Group name -> column; each is indexed with ``criticality`` for the counts.
GROUPS = {"source": t.stories.c.source, "indication": t.stories.c.indication, "status": t.stories.c.status}
#: Entity types free text searches, by value prefix.
SEARCH_TYPES = ("user", "mailbox", "sender", "url", "domain", "ip")
#: Entity types that a campaign's stories can share as indicators.
INDICATOR_TYPES = ("sender", "url", "domain", "ip", "file", "email")
USER_TYPES = ("user", "mailbox")
#: ``verdict`` filter value meaning "no verdict yet".
NO_VERDICT = "none"
MAX_PAGE = 200
_MAX_TERM = 200
_TIME_FIELDS = {"updated": t.stories.c.updated_at, "created": t.stories.c.created_at}


class InvalidCursor(ValueError):
    """A cursor that was not issued for this query (edited, or the filters changed)."""


@dataclass(frozen=True, kw_only=True)
class StoryQuery:
    """What the list shows: filters and sort.

    :param since: only stories whose ``time_field`` is at or after this (the store's 7-digit text).
    :param until: only stories whose ``time_field`` is before this.
    :param time_field: ``updated`` or ``created``.
    :param statuses: only these workflow statuses.
    :param open_only: only stories neither closed nor merged.
    :param min_criticality: only stories at least this critical.
    :param indication: only this indication.
    :param verdict: only this verdict; ``"none"`` for stories without one.
    :param campaign_id: only this campaign's stories.
    :param integration: only this integration's stories.
    :param source: only stories whose primary recipient is this.
    :param text: free text: an entity value prefix or part of the title.
    :param sort: a key of :data:`SORTS`.
    :param descending: sort direction.
    """

    since: str | None = None
    until: str | None = None
    time_field: str = "updated"
    statuses: tuple[str, ...] = ()
    open_only: bool = False
    min_criticality: int | None = None
    indication: str | None = None
    verdict: str | None = None
    campaign_id: str | None = None
    integration: str | None = None
    source: str | None = None
    text: str | None = None
    sort: str = "criticality"
    descending: bool = True

    def __post_init__(self) -> None:
        if self.sort not in SORTS:
            raise ValueError(f"unknown sort {self.sort!r}: use one of {', '.join(SORTS)}")
        if self.time_field not in _TIME_FIELDS:
            raise ValueError(f"unknown time field {self.time_field!r}: use updated or created")

    def fingerprint(self) -> str:
        """A digest of the query, bound into its cursors."""
        text = json.dumps(asdict(self), sort_keys=True, default=list)
        return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


@dataclass(frozen=True)
class StoryPage:
    """One keyset page.

    :param stories: the rows (:data:`SUMMARY_COLUMNS` and ``users``).
    :param next_cursor: the cursor of the next page, ``None`` on the last one.
    """

    stories: list[dict[str, Any]]
    next_cursor: str | None


@dataclass(frozen=True)
class GroupCount:
    """One group of the list.

    :param value: the group's value (``None``: not set).
    :param total: its stories.
    :param by_criticality: stories per criticality, most critical first.
    """

    value: str | None
    total: int
    by_criticality: dict[int, int]


@dataclass(frozen=True)
class Campaign:
    """A campaign: its stories, the users it reached and what its stories share.

    :param campaign_id: the campaign.
    :param stories: its stories' summaries, most critical first.
    :param affected_users: recipients across the campaign.
    :param shared_indicators: ``{"type", "value", "stories"}`` items shared by two stories or more.
    :param indicators_from: ``correlation`` (the documents' related stories) or ``entity index``.
    """

    campaign_id: str
    stories: list[dict[str, Any]]
    affected_users: list[str]
    shared_indicators: list[dict[str, Any]] = field(default_factory=list)
    indicators_from: str = "entity index"


def encode_cursor(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, query: StoryQuery) -> dict[str, Any]:
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        valid = (
            isinstance(payload, dict)
            and payload.get("q") == query.fingerprint()
            and isinstance(payload.get("i"), str)
            and isinstance(payload.get("n"), bool)
            and isinstance(payload.get("k"), str | int | None)
        )
    except ValueError:
        valid = False
    if not valid:
        raise InvalidCursor("this cursor does not belong to this query: start again from the first page")
    return payload


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_prefixes(term: str) -> list[str]:
    """The entity-value prefixes a free-text term stands for (values are normalised lower-case,
    URLs keep their path's case).

    :param term: what the analyst typed.
    """
    text = term.strip()[:_MAX_TERM]
    if not text:
        return []
    prefixes = {text.lower()}
    if "://" in text:
        prefixes.add(normalize_url(text) or text)
    elif "." in text and "@" not in text and " " not in text:
        prefixes.update(normalize_url(f"{scheme}://{text}") or text for scheme in ("http", "https"))
    return sorted(prefixes)


def story_conditions(query: StoryQuery, *, sqlite: bool) -> list[Any]:
    """The WHERE conditions of a query's filters.

    :param query: the query.
    :param sqlite: whether the store is SQLite (its prefix and title searches differ).
    """
    st, se = t.stories, t.story_entities
    conditions: list[Any] = []
    when = _TIME_FIELDS[query.time_field]
    if query.since:
        conditions.append(when >= query.since)
    if query.until:
        conditions.append(when < query.until)
    if query.statuses:
        conditions.append(st.c.status.in_(query.statuses))
    if query.open_only:
        conditions.append(st.c.is_open.is_(True))
    if query.min_criticality is not None:
        conditions.append(st.c.criticality >= query.min_criticality)
    if query.verdict == NO_VERDICT:
        conditions.append(st.c.verdict.is_(None))
    elif query.verdict:
        conditions.append(st.c.verdict == query.verdict)
    for name in ("indication", "campaign_id", "integration", "source"):
        if getattr(query, name):
            conditions.append(st.c[name] == getattr(query, name))
    prefixes = search_prefixes(query.text or "")
    if prefixes:
        by_value = [_prefix(se.c.value, prefix, sqlite=sqlite) for prefix in prefixes]
        holders = select(se.c.story_id).where(or_(*by_value), se.c.type.in_(SEARCH_TYPES))
        pattern = f"%{_like_escape(query.text.strip()[:_MAX_TERM])}%"
        if sqlite:
            # SQLite's LIKE ignores ASCII case; rowid keeps the title index covering.
            rowid = literal_column("stories.rowid")
            titled = (
                select(literal_column("rowid")).select_from(st).where(st.c.title.like(pattern, escape="\\"))
            )
            conditions.append(or_(st.c.story_id.in_(holders), rowid.in_(titled)))
        else:
            titled = select(st.c.story_id).where(st.c.title.ilike(pattern, escape="\\"))
            conditions.append(st.c.story_id.in_(holders.union(titled)))
    return conditions


def _prefix(column: Any, prefix: str, *, sqlite: bool) -> Any:
    if sqlite:
        # SQLite compares bytes (BINARY): one index range, no LIKE (which ignores case).
        return and_(column >= prefix, column < prefix + "\U0010ffff")
    return column.like(_like_escape(prefix) + "%", escape="\\")


def summary_of(row: Any) -> dict[str, Any]:
    """A list row as a dict of :data:`SUMMARY_COLUMNS`.

    :param row: a row selecting them.
    """
    summary = {name: getattr(row, name) for name in SUMMARY_COLUMNS}
    summary["is_open"] = bool(summary["is_open"])
    return summary
