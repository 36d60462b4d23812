"""What each Workbench page shows, as plain data: the HTML pages render it and the JSON API returns it.

The list's query string is read here once, for both: empty fields mean "no filter", so the page's
form can submit every field, and a time frame given as a duration (``7d``) is resolved to the
instant it means, which the next page's link then carries, so that a cursor stays valid.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict
from typing import Any

from fastapi import HTTPException, Query, status

from xops_provider.models.timestamps import GraphTime, InvalidTimestamp
from xops_provider.store.reads import GROUPS, NO_VERDICT, SORTS, InvalidCursor, StoryQuery, StoryReads

STATUSES = ("Open", "PendingAnalysis", "PendingMoreInfo", "Monitoring", "Reopened", "Closed")
VERDICTS = ("Malicious", "Suspicious", "Benign", "Informational")
#: The time frames the list's form offers.
TIME_FRAMES = {"24h": "Last 24 hours", "7d": "Last 7 days", "30d": "Last 30 days", "90d": "Last 90 days"}
#: Answers the story page shows at the top, in order, with their questions.
QUESTIONS = {
    "clicked": "Did any user click or reach the malicious link or domain?",
    "related_activity": "What related network and endpoint activity was there?",
    "broader_attack": "Is this part of a broader attack affecting other users or assets?",
}
NOT_KNOWN = "Not known yet"
_DURATION = re.compile(r"^(\d{1,5})([mhd])$")
_UNITS = {"m": 60, "h": 3600, "d": 86400}


def _blank(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def resolve_time(value: str | None, *, name: str) -> str | None:
    """A time filter as the store's seven-digit text: ISO 8601, or a duration back from now.

    :param value: ``2026-03-01T00:00:00Z``, ``12h``, ``7d`` or ``30m``.
    :param name: the parameter, for the error.
    """
    text = _blank(value)
    if text is None:
        return None
    match = _DURATION.match(text)
    if match:
        now = GraphTime.from_datetime(dt.datetime.now(dt.UTC))
        return now.shift(seconds=-int(match[1]) * _UNITS[match[2]]).isoformat()
    try:
        return GraphTime.parse(text).isoformat()
    except (InvalidTimestamp, ValueError):
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, f"{name}: use ISO 8601 or a duration such as 24h or 7d"
        ) from None


class ListParams:
    """The list's query string (a FastAPI dependency, so that the API documents every field)."""

    def __init__(
        self,
        since: str | None = Query(None, description="ISO 8601, or a duration back from now: 24h, 7d"),
        until: str | None = Query(None, description="ISO 8601 (exclusive)"),
        time_field: str | None = Query(
            None, description="what the time frame applies to: updated or created"
        ),
        status_: list[str] = Query([], alias="status", description="workflow statuses (repeat for several)"),
        open_only: str | None = Query(
            None, alias="open", description="1: only stories neither closed nor merged"
        ),
        min_criticality: str | None = Query(None, description="1 to 10"),
        indication: str | None = Query(None),
        verdict: str | None = Query(None, description=f"a verdict, or {NO_VERDICT!r} for none yet"),
        campaign: str | None = Query(None, description="campaign id"),
        integration: str | None = Query(None),
        source: str | None = Query(None, description="primary recipient"),
        q: str | None = Query(
            None, description="user, sender, URL, domain or IP (prefix), or part of the subject"
        ),
        sort: str | None = Query(None, description=f"one of {', '.join(SORTS)}"),
        direction: str | None = Query(None, alias="dir", description="asc or desc"),
        cursor: str | None = Query(None, description="next_cursor of the previous page"),
        limit: int = Query(50, ge=1, le=200),
        group: str | None = Query(None, description=f"group by one of {', '.join(GROUPS)}"),
    ) -> None:
        self.raw = {
            "since": _blank(since),
            "until": _blank(until),
            "time_field": _blank(time_field) or "updated",
            "status": [value for value in status_ if value in STATUSES],
            "open": "1" if _blank(open_only) in ("1", "true", "on") else None,
            "min_criticality": _blank(min_criticality),
            "indication": _blank(indication),
            "verdict": _blank(verdict),
            "campaign": _blank(campaign),
            "integration": _blank(integration),
            "source": _blank(source),
            "q": _blank(q),
            "sort": _blank(sort) or "criticality",
            "dir": "asc" if _blank(direction) == "asc" else "desc",
            "group": _blank(group) if _blank(group) in GROUPS else None,
        }
        self.cursor = _blank(cursor)
        self.limit = limit

    def query(self) -> StoryQuery:
        """The store query these parameters ask for.

        :raises HTTPException: 400 for a value out of range.
        """
        raw = self.raw
        minimum = raw["min_criticality"]
        if minimum is not None and (not minimum.isdigit() or not 1 <= int(minimum) <= 10):
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "min_criticality: an integer from 1 to 10")
        try:
            return StoryQuery(
                since=resolve_time(raw["since"], name="since"),
                until=resolve_time(raw["until"], name="until"),
                time_field=raw["time_field"],
                statuses=tuple(raw["status"]),
                open_only=raw["open"] is not None,
                min_criticality=int(minimum) if minimum else None,
                indication=raw["indication"],
                verdict=raw["verdict"],
                campaign_id=raw["campaign"],
                integration=raw["integration"],
                source=raw["source"],
                text=raw["q"],
                sort=raw["sort"],
                descending=raw["dir"] == "desc",
            )
        except ValueError as err:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(err)) from None


def list_view(reads: StoryReads, params: ListParams) -> dict[str, Any]:
    """The list page: one page of stories (or the groups), the filters as applied, the next page.

    :param reads: the story reads repository.
    :param params: the query string.
    """
    query = params.query()
    applied = {**params.raw, "since": query.since, "until": query.until}
    view: dict[str, Any] = {"filters": applied, "stories": [], "next": None, "groups": None}
    if params.raw["group"]:
        groups = reads.groups(query, by=params.raw["group"])
        view["groups"] = [asdict(group) for group in groups]
        return view
    try:
        page = reads.page(query, cursor=params.cursor, limit=params.limit)
    except InvalidCursor as err:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(err)) from None
    view["stories"] = page.stories
    if page.next_cursor:
        view["next"] = {
            **{k: v for k, v in applied.items() if v not in (None, [])},
            "cursor": page.next_cursor,
        }
    return view


def story_view(reads: StoryReads, story_id: str) -> dict[str, Any]:
    """The story page: the document, the three answers, and the linked stories.

    :param reads: the story reads repository.
    :param story_id: the story.
    :raises HTTPException: 404 when there is no such story.
    """
    story = reads.story(story_id)
    if story is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such story")
    correlation = story.get("correlation") if isinstance(story.get("correlation"), dict) else {}
    answers = correlation.get("answers") if isinstance(correlation.get("answers"), dict) else {}
    related = [item for item in correlation.get("related_stories") or [] if isinstance(item, dict)]
    known = {
        summary["story_id"]: summary for summary in reads.summaries(str(r.get("story_id")) for r in related)
    }
    return {
        "story": story,
        "answers": [
            {"key": key, "question": question, "answer": _answer(answers.get(key))}
            for key, question in QUESTIONS.items()
        ],
        "findings": {
            name: [item for item in correlation.get(name) or [] if isinstance(item, dict)]
            for name in ("clicks", "network_activity", "endpoint_detections")
        },
        "related_stories": [
            {
                "story_id": str(item.get("story_id")),
                "shared": item.get("shared"),
                "summary": known.get(str(item.get("story_id"))),
            }
            for item in related
        ],
        "merged_stories": reads.merged_into(story_id),
        "campaign_id": story.get("campaign_id") or correlation.get("campaign_id"),
    }


def _answer(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("answer") or value.get("text")
    return value if isinstance(value, str) and value.strip() else NOT_KNOWN


def campaign_view(reads: StoryReads, campaign_id: str) -> dict[str, Any]:
    """The campaign page: its stories, affected users and shared indicators.

    :param reads: the story reads repository.
    :param campaign_id: the campaign.
    :raises HTTPException: 404 when no story names it.
    """
    campaign = reads.campaign(campaign_id)
    if campaign is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such campaign")
    return asdict(campaign)
