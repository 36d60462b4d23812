"""The whole correlation of a run in plain Python: the specification end to end, and the naive
per-story baseline the benchmark compares the store's set-based SQL with.

:func:`correlate_stories` matches every story against every fact (``stories x facts``), relates
the stories, assigns campaigns and writes each story's correlation. The store's implementation must
give the same documents; it only finds the candidates faster. :func:`plan_for_stories` gives the
hunting queries a run needs, for all its stories at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from xops_provider.correlation.campaigns import CampaignAssignment, assign_campaigns, campaign_of
from xops_provider.correlation.document import correlate_story
from xops_provider.correlation.facts import (
    Click,
    EmailDelivery,
    EmailUrl,
    EndpointDetection,
    Fact,
    NetworkEvent,
    PostDeliveryAction,
)
from xops_provider.correlation.keys import KeyPolicy, StoryKeys, story_keys
from xops_provider.correlation.kql import HUNTING_BATCH_SIZE, HuntingPlan, plan_hunting_queries
from xops_provider.correlation.matching import MatchPolicy, match_story
from xops_provider.correlation.related import RelationPolicy, related_stories
from xops_provider.models.timestamps import GraphTime

#: How long before the earliest receipt the hunting queries start.
RECEIPT_SLACK_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class FactSet:
    """The facts of a run, by type."""

    emails: tuple[EmailDelivery, ...] = ()
    email_urls: tuple[EmailUrl, ...] = ()
    clicks: tuple[Click, ...] = ()
    post_delivery: tuple[PostDeliveryAction, ...] = ()
    network: tuple[NetworkEvent, ...] = ()
    detections: tuple[EndpointDetection, ...] = ()

    @classmethod
    def of(cls, facts: Iterable[Fact]) -> FactSet:
        """Facts of any types, sorted into a set.

        :param facts: the facts.
        """
        groups: dict[type, list[Any]] = {}
        for fact in facts:
            groups.setdefault(type(fact), []).append(fact)
        return cls(
            emails=tuple(groups.get(EmailDelivery, ())),
            email_urls=tuple(groups.get(EmailUrl, ())),
            clicks=tuple(groups.get(Click, ())),
            post_delivery=tuple(groups.get(PostDeliveryAction, ())),
            network=tuple(groups.get(NetworkEvent, ())),
            detections=tuple(groups.get(EndpointDetection, ())),
        )


@dataclass(frozen=True, slots=True)
class CorrelationRun:
    """What a run produced.

    :param stories: the correlated documents, by story id (sorted).
    :param keys: each story's keys, by story id.
    :param campaigns: the campaigns; ``campaigns.by_story`` is the next run's ``previous_campaigns``.
    """

    stories: Mapping[str, dict[str, Any]]
    keys: Mapping[str, StoryKeys]
    campaigns: CampaignAssignment


def correlate_stories(
    stories: Iterable[Mapping[str, Any]],
    *,
    facts: FactSet,
    sources: Mapping[str, str],
    previous_campaigns: Mapping[str, str] | None = None,
    key_policy: KeyPolicy = KeyPolicy(),
    match_policy: MatchPolicy = MatchPolicy(),
    relation_policy: RelationPolicy = RelationPolicy(),
) -> CorrelationRun:
    """Correlate every story of a run (all stories of the tenants concerned, for campaigns to be whole).

    :param stories: the story documents, as produced.
    :param facts: every fact of the run.
    :param sources: each source's state (:mod:`.answers`).
    :param previous_campaigns: the last run's story -> campaign id.
    :param key_policy: what keys leave out.
    :param match_policy: the window.
    :param relation_policy: the limits of related stories and campaigns.
    :raises ValueError: when a story id is given twice.
    """
    documents = {}
    for story in stories:
        if story["story_id"] in documents:
            raise ValueError(f"story {story['story_id']} is given twice")
        documents[story["story_id"]] = story
    keys = {
        story_id: story_keys(document, emails=facts.emails, email_urls=facts.email_urls, policy=key_policy)
        for story_id, document in documents.items()
    }
    related = related_stories(keys.values(), policy=relation_policy)
    assignment = assign_campaigns(keys.values(), previous=previous_campaigns, policy=relation_policy)
    correlated = {}
    for story_id in sorted(documents):
        story_keys_ = keys[story_id]
        matches = match_story(
            story_keys_,
            clicks=facts.clicks,
            post_delivery=facts.post_delivery,
            network=facts.network,
            detections=facts.detections,
            policy=match_policy,
        )
        correlated[story_id] = correlate_story(
            documents[story_id],
            keys=story_keys_,
            matches=matches,
            related=related[story_id],
            campaign=campaign_of(story_keys_, assignment),
            sources=sources,
            policy=match_policy,
        )
    return CorrelationRun(stories=correlated, keys={k: keys[k] for k in sorted(keys)}, campaigns=assignment)


def plan_for_stories(
    stories: Iterable[StoryKeys],
    *,
    policy: MatchPolicy = MatchPolicy(),
    until: GraphTime | None = None,
    batch_size: int = HUNTING_BATCH_SIZE,
) -> HuntingPlan | None:
    """The hunting queries for a run's stories, all at once; ``None`` when none has a receipt time.

    The time range starts :data:`RECEIPT_SLACK_SECONDS` before the earliest receipt (``EmailEvents``
    can date a message a little before the alert's ``receivedDateTime``) and ends at ``until``.

    :param stories: the stories' keys.
    :param policy: the window.
    :param until: the end of the range; by default the latest receipt plus the window. A click on a
        story's message matches at any time, so a caller that wants later clicks passes its own end
        (the run's data interval, for instance: never the wall clock in here).
    :param batch_size: values per query.
    """
    stories = list(stories)
    times = [k.received_at for k in stories if k.received_at is not None]
    if not times:
        return None
    return plan_hunting_queries(
        since=min(times).shift(seconds=-RECEIPT_SLACK_SECONDS),
        until=until or max(times).shift(seconds=policy.window_seconds),
        message_ids=sorted({v for k in stories for v in k.message_ids}),
        urls=sorted({v for k in stories for v in k.urls}),
        recipients=sorted({v for k in stories for v in k.recipients}),
        domains=sorted({v for k in stories for v in k.url_domains}),
        ips=sorted({v for k in stories for v in k.ips}),
        batch_size=batch_size,
    )
