"""A campaign's page: its stories, the users it reached and the indicators its stories share."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Engine, func, select

from xops_provider.store import tables as t
from xops_provider.store.reads.query import INDICATOR_TYPES, SUMMARY_COLUMNS, Campaign, summary_of


def read_campaign(
    engine: Engine,
    campaign_id: str,
    *,
    limit: int,
    with_users: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
) -> Campaign | None:
    """A campaign's page, ``None`` when no story names it.

    Indicators come from the documents' ``correlation.related_stories[].shared`` when correlation
    recorded them, else from the entity values that two of its stories or more hold.

    :param engine: the store engine.
    :param campaign_id: the campaign.
    :param limit: at most this many stories.
    :param with_users: adds each summary's users.
    """
    st, se = t.stories, t.story_entities
    columns = [st.c[name] for name in SUMMARY_COLUMNS]
    statement = (
        select(*columns, st.c.document)
        .where(st.c.campaign_id == campaign_id)
        .order_by(st.c.criticality.desc(), st.c.story_id)
        .limit(limit)
    )
    with engine.connect() as conn:
        rows = conn.execute(statement).all()
    if not rows:
        return None
    stories = with_users([summary_of(row) for row in rows])
    users: set[str] = set()
    shared: dict[tuple[str, str], set[str]] = {}
    for row in rows:
        document = json.loads(row.document)
        users.update(_affected_users(document))
        for related in _list(_dict(document.get("correlation")).get("related_stories")):
            for kind, value in _shared_items(_dict(related).get("shared")):
                shared.setdefault((kind, value), set()).update({row.story_id, str(related.get("story_id"))})
    for story in stories:
        users.update(story["users"])
    if shared:
        indicators = [
            {"type": kind, "value": value, "stories": len(holders)}
            for (kind, value), holders in shared.items()
        ]
        origin = "correlation"
    else:
        ids = [row.story_id for row in rows]
        holders = func.count(se.c.story_id.distinct())
        common = (
            select(se.c.type, se.c.value, holders.label("stories"))
            .where(se.c.story_id.in_(ids), se.c.type.in_(INDICATOR_TYPES))
            .group_by(se.c.type, se.c.value)
            .having(holders >= 2)
        )
        with engine.connect() as conn:
            indicators = [dict(row._mapping) for row in conn.execute(common)]
        origin = "entity index"
    indicators.sort(key=lambda item: (-item["stories"], item["type"], item["value"]))
    return Campaign(
        campaign_id=campaign_id,
        stories=stories,
        affected_users=sorted(users),
        shared_indicators=indicators,
        indicators_from=origin,
    )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _affected_users(document: dict[str, Any]) -> list[str]:
    users = _list(_dict(document.get("correlation")).get("affected_users"))
    users += _list(document.get("affected_users")) + _list(
        _dict(document.get("summary")).get("affected_users")
    )
    return [user for user in users if isinstance(user, str) and user]


def _shared_items(shared: Any) -> Iterable[tuple[str, str]]:
    """``(type, value)`` pairs of a related story's ``shared``: objects with a type and value, or text."""
    for item in _list(shared) if not isinstance(shared, dict) else [shared]:
        if isinstance(item, dict) and item.get("value") not in (None, ""):
            yield str(item.get("type") or "indicator"), str(item["value"])
        elif isinstance(item, str) and item:
            yield "indicator", item
