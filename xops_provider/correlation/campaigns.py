"""Campaigns: groups of two or more stories of a tenant joined through attack indicators.

A campaign is a connected component of the graph whose nodes are stories and whose edges are
shared **attack** indicators (:data:`~xops_provider.correlation.related.ATTACK_KINDS`: sender,
sender domain, URL, URL domain, mail cluster, attachment hash, sender IP), under the limits of
:mod:`.related`. A shared recipient alone never joins two stories: the same user receiving two
unrelated phish is not a campaign. Components are found with union-find over an index of
indicators, in time linear in the number of (story, indicator) pairs.

Campaign ids are stable, given the previous assignment (story id -> campaign id):

1. Every previous id is offered to the components holding stories that had it. Offers are served
   in order of (most such stories first, then the smaller campaign id, then the component's
   smallest story id); a component takes the first id it is offered, and an id goes to one
   component only. So a growing campaign keeps its id; when campaigns join, the id that more of
   the joined stories had survives (on a tie, the smaller id); when a campaign splits, the part
   with more of its stories keeps the id (on a tie, the part with the smaller story id).
2. A component left without an id gets ``campaign:<sha256(tenant, smallest story id)[:20]>``; if
   that id is already in use (now or in the previous assignment), a counter is hashed in too.
3. A story alone is in no campaign. A merged story (``merged_into``) is not a member itself;
   :func:`campaign_of` gives it its survivor's campaign.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from xops_provider.correlation.keys import StoryKeys
from xops_provider.correlation.related import (
    ATTACK_KINDS,
    Indicator,
    IndicatorIndex,
    RelationPolicy,
)

CAMPAIGN_PREFIX = "campaign:"


@dataclass(frozen=True, slots=True)
class Campaign:
    """A campaign.

    :param campaign_id: its stable id.
    :param tenant_id: its tenant.
    :param story_ids: its stories, sorted.
    :param affected_users: the recipients across its stories, sorted.
    :param indicators: the attack indicators that join its stories, sorted.
    """

    campaign_id: str
    tenant_id: str
    story_ids: tuple[str, ...]
    affected_users: tuple[str, ...]
    indicators: tuple[Indicator, ...]


@dataclass(frozen=True, slots=True)
class CampaignAssignment:
    """The campaigns of a run.

    :param campaigns: by campaign id.
    :param by_story: the campaign id of each story in a campaign (the next run's ``previous``).
    """

    campaigns: Mapping[str, Campaign]
    by_story: Mapping[str, str]


class _UnionFind:
    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, item: int) -> int:
        root = item
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[item] != root:  # path compression
            self.parent[item], item = root, self.parent[item]
        return root

    def union(self, first: int, second: int) -> None:
        a, b = self.find(first), self.find(second)
        if a != b:
            # The smaller index stays the root, so roots are the components' smallest story ids.
            self.parent[max(a, b)] = min(a, b)


def new_campaign_id(tenant_id: str, story_id: str, attempt: int = 0) -> str:
    """The id a new campaign gets: a hash of its tenant and smallest story id.

    :param tenant_id: the tenant.
    :param story_id: the campaign's smallest story id.
    :param attempt: 0, or the number of ids already found in use.
    """
    text = f"{tenant_id}\n{story_id}" + (f"\n{attempt}" if attempt else "")
    return CAMPAIGN_PREFIX + hashlib.sha256(text.encode()).hexdigest()[:20]


def _components(index: IndicatorIndex) -> dict[int, list[int]]:
    union = _UnionFind(len(index.stories))
    for posting in index.postings.values():
        first = posting[0]
        for other in posting[1:]:
            union.union(first, other)
    groups: dict[int, list[int]] = {}
    for position in range(len(index.stories)):
        groups.setdefault(union.find(position), []).append(position)
    return {root: members for root, members in groups.items() if len(members) >= 2}


def _assign_ids(
    index: IndicatorIndex, groups: Mapping[int, list[int]], previous: Mapping[str, str]
) -> dict[int, str]:
    offers = []
    for root, members in groups.items():
        held: dict[str, int] = {}
        for position in members:
            if old := previous.get(index.stories[position].story_id):
                held[old] = held.get(old, 0) + 1
        offers += [(-count, old, index.stories[root].story_id, root) for old, count in held.items()]
    chosen: dict[int, str] = {}
    taken: set[str] = set()
    for _, old, _, root in sorted(offers):
        if root not in chosen and old not in taken:
            chosen[root] = old
            taken.add(old)
    in_use = taken | set(previous.values())
    for root in sorted(groups, key=lambda r: (index.stories[r].tenant_id, index.stories[r].story_id)):
        if root in chosen:
            continue
        keys, attempt = index.stories[root], 0
        while (candidate := new_campaign_id(keys.tenant_id, keys.story_id, attempt)) in in_use:
            attempt += 1
        chosen[root] = candidate
        in_use.add(candidate)
    return chosen


def assign_campaigns(
    stories: Iterable[StoryKeys],
    *,
    previous: Mapping[str, str] | None = None,
    policy: RelationPolicy = RelationPolicy(),
) -> CampaignAssignment:
    """The campaigns among the stories, with ids kept from the previous assignment (module docstring).

    :param stories: the keys of every story of the tenants concerned.
    :param previous: the last run's ``by_story``; stories absent from ``stories`` are ignored.
    :param policy: the limits of :mod:`.related`.
    :raises ValueError: when a story id is given twice.
    """
    index = IndicatorIndex(stories, kinds=ATTACK_KINDS, policy=policy)
    groups = _components(index)
    present = {k.story_id for k in index.stories}
    ids = _assign_ids(index, groups, {s: c for s, c in (previous or {}).items() if s in present})
    campaigns: dict[str, Campaign] = {}
    by_story: dict[str, str] = {}
    for root, members in groups.items():
        campaign_id = ids[root]
        stories_in = [index.stories[p] for p in members]
        campaigns[campaign_id] = Campaign(
            campaign_id=campaign_id,
            tenant_id=index.stories[root].tenant_id,
            story_ids=tuple(k.story_id for k in stories_in),
            affected_users=tuple(sorted({user for k in stories_in for user in k.recipients})),
            indicators=tuple(sorted({i for p in members for i in index.indicators[p]})),
        )
        by_story.update((k.story_id, campaign_id) for k in stories_in)
    return CampaignAssignment(
        campaigns={key: campaigns[key] for key in sorted(campaigns)},
        by_story={key: by_story[key] for key in sorted(by_story)},
    )


def campaign_of(keys: StoryKeys, assignment: CampaignAssignment) -> Campaign | None:
    """A story's campaign: its own, or its survivor's when it was merged into another.

    :param keys: the story's keys.
    :param assignment: the run's campaigns.
    """
    campaign_id = assignment.by_story.get(keys.merged_into or keys.story_id)
    return assignment.campaigns[campaign_id] if campaign_id else None
