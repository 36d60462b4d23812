"""Related stories: stories of the same tenant that share an indicator, each naming what it shares.

The indicators are the story's keys (:class:`~xops_provider.correlation.keys.StoryKeys`) of the
kinds in :data:`RELATION_KINDS`; only :data:`ATTACK_KINDS` (everything but the recipient) make
campaigns (:mod:`.campaigns`). Two rules keep common values from gluing unrelated stories:

1. the keys already leave out free-mail, platform and own-tenant domains, shared relays and
   private IPs (:mod:`.keys`);
2. a **broad** indicator (:data:`BROAD_KINDS`: a sender domain, a URL domain, a sender IP or a
   recipient) shared by more than ``max_stories_per_broad_indicator`` stories describes
   infrastructure or a busy mailbox, not one attack, and relates nothing. Precise indicators (a
   sender address, a URL, a mail cluster, an attachment hash) have no such limit: a campaign that
   sends one URL to ten thousand users is one campaign.

A story Defender merged into another (``merged_into``) relates to nothing: its survivor holds its
alerts, and would otherwise always be related to it.

A story lists at most ``max_related_stories`` related stories, those sharing the most indicators
first, then by story id. An indicator shared by more than :data:`CANDIDATE_LIMIT` stories offers
only its first stories (by id) as candidates, so a very large campaign costs linear time; its full
extent is the campaign's.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from xops_provider.correlation.keys import StoryKeys

ATTACK_KINDS = (
    "sender",
    "sender_domain",
    "url",
    "url_domain",
    "mail_cluster",
    "attachment_hash",
    "sender_ip",
)
RELATION_KINDS = (*ATTACK_KINDS, "recipient")
BROAD_KINDS = frozenset({"sender_domain", "url_domain", "sender_ip", "recipient"})
MAX_STORIES_PER_BROAD_INDICATOR = 500
MAX_RELATED_STORIES = 25
CANDIDATE_LIMIT = 1000
_FIELD_OF: Mapping[str, str] = {
    "sender": "senders",
    "sender_domain": "sender_domains",
    "url": "urls",
    "url_domain": "url_domains",
    "mail_cluster": "mail_clusters",
    "attachment_hash": "attachment_hashes",
    "sender_ip": "sender_ips",
    "recipient": "recipients",
}

Indicator = tuple[str, str]


@dataclass(frozen=True, slots=True)
class RelationPolicy:
    """The limits of :mod:`.related` and :mod:`.campaigns` (see the module docstring).

    :param max_stories_per_broad_indicator: above this, a broad indicator relates nothing.
    :param max_related_stories: related stories listed per story.
    """

    max_stories_per_broad_indicator: int = MAX_STORIES_PER_BROAD_INDICATOR
    max_related_stories: int = MAX_RELATED_STORIES


@dataclass(frozen=True, slots=True)
class RelatedStory:
    """Another story and the indicators it shares with this one.

    :param story_id: the other story.
    :param shared: ``(kind, value)`` pairs, sorted.
    """

    story_id: str
    shared: tuple[Indicator, ...]

    def to_json(self) -> dict[str, Any]:
        """The ``related_stories`` item of the story document."""
        return {
            "story_id": self.story_id,
            "shared": [{"type": kind, "value": value} for kind, value in self.shared],
        }


def story_indicators(keys: StoryKeys, kinds: Iterable[str] = RELATION_KINDS) -> frozenset[Indicator]:
    """A story's indicators of the given kinds.

    :param keys: the story's keys.
    :param kinds: kinds of :data:`RELATION_KINDS`.
    """
    return frozenset((kind, value) for kind in kinds for value in getattr(keys, _FIELD_OF[kind]))


class IndicatorIndex:
    """The stories of a run, ordered by tenant then id, and for each indicator the stories holding it.

    :param stories: the keys of every story to relate (all stories of the tenants concerned).
    :param kinds: the indicator kinds to index.
    :param policy: the limits.
    :raises ValueError: when a story id is given twice.
    """

    def __init__(
        self,
        stories: Iterable[StoryKeys],
        *,
        kinds: Iterable[str] = RELATION_KINDS,
        policy: RelationPolicy = RelationPolicy(),
    ) -> None:
        self.stories: list[StoryKeys] = sorted(stories, key=lambda k: (k.tenant_id, k.story_id))
        ids = [k.story_id for k in self.stories]
        if len(set(ids)) != len(ids):
            raise ValueError("a story is given twice")
        self.policy = policy
        kinds = tuple(kinds)
        postings: dict[tuple[str, str, str], list[int]] = {}
        for index, keys in enumerate(self.stories):
            if keys.merged_into is not None:
                continue  # its survivor holds its alerts and relates for it
            for kind, value in story_indicators(keys, kinds):
                postings.setdefault((keys.tenant_id, kind, value), []).append(index)
        # Stories are indexed in id order, so each posting is already sorted by story id.
        self.postings: dict[tuple[str, str, str], Sequence[int]] = {
            key: posting for key, posting in postings.items() if self._usable(key[1], len(posting))
        }
        self._members: dict[int, frozenset[int]] = {}
        self.indicators: list[frozenset[Indicator]] = [frozenset() for _ in self.stories]
        grouped: dict[int, set[Indicator]] = {}
        for (_, kind, value), posting in self.postings.items():
            for index in posting:
                grouped.setdefault(index, set()).add((kind, value))
        for index, shared in grouped.items():
            self.indicators[index] = frozenset(shared)

    def _usable(self, kind: str, holders: int) -> bool:
        if holders < 2:
            return False
        return kind not in BROAD_KINDS or holders <= self.policy.max_stories_per_broad_indicator

    def postings_of(self, index: int) -> list[Sequence[int]]:
        """The usable postings of a story's indicators, in a fixed order.

        :param index: the story's position in :attr:`stories`.
        """
        tenant = self.stories[index].tenant_id
        return [self.postings[(tenant, kind, value)] for kind, value in sorted(self.indicators[index])]

    def members(self, posting: Sequence[int]) -> frozenset[int]:
        """A posting as a set, built once per posting.

        :param posting: a posting of :attr:`postings`.
        """
        found = self._members.get(id(posting))
        if found is None:
            found = self._members[id(posting)] = frozenset(posting)
        return found


def _candidates(index: IndicatorIndex, position: int, limit: int) -> Counter[int]:
    # How many usable indicators each candidate shares with the story: exact for every candidate;
    # only which stories of a large posting become candidates is limited.
    counts: Counter[int] = Counter()
    large = []
    for posting in index.postings_of(position):
        if len(posting) <= CANDIDATE_LIMIT:
            counts.update(posting)
        else:
            large.append(posting)
    if large:
        candidates = set(counts).union(*(posting[: limit + 1] for posting in large))
        for posting in large:
            members = index.members(posting)
            for candidate in candidates:
                if candidate in members:
                    counts[candidate] += 1
    counts.pop(position, None)
    return counts


def related_stories(
    stories: Iterable[StoryKeys], *, policy: RelationPolicy = RelationPolicy()
) -> dict[str, tuple[RelatedStory, ...]]:
    """For every story, the stories it shares an indicator with (rules in the module docstring).

    :param stories: the keys of every story of the tenants concerned.
    :param policy: the limits.
    :raises ValueError: when a story id is given twice.
    """
    index = IndicatorIndex(stories, kinds=RELATION_KINDS, policy=policy)
    limit = policy.max_related_stories
    result: dict[str, tuple[RelatedStory, ...]] = {}
    for position, keys in enumerate(index.stories):
        counts = _candidates(index, position, limit)
        # Positions follow story ids within a tenant, so the smaller position is the smaller id.
        best = heapq.nsmallest(limit, [(-count, other) for other, count in counts.items()])
        mine = index.indicators[position]
        result[keys.story_id] = tuple(
            RelatedStory(
                story_id=index.stories[other].story_id,
                shared=tuple(sorted(mine & index.indicators[other])),
            )
            for _, other in best
        )
    return result
