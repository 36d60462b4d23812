"""A story's correlation inputs: what a rebuild reads besides the incident's versions.

A correlation run decides, per story, which stored facts matched it, its related stories, its
campaign and the sources' states, and saves that as one row (:func:`inputs_record`). The producer
rebuilds the story from its incident versions and that row (:func:`apply_correlation`), parsing
the facts again from the text they were received as. So the story stays a pure function of rows:
an incident update never erases a finding, and the same rows always give the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from xops_provider.correlation.campaigns import Campaign
from xops_provider.correlation.document import correlate_story
from xops_provider.correlation.endpoint_alerts import parse_endpoint_alert
from xops_provider.correlation.facts import Fact, FactError, NetworkEvent
from xops_provider.correlation.hunting_rows import parse_hunting_row
from xops_provider.correlation.keys import story_keys
from xops_provider.correlation.matching import MatchPolicy, StoryMatches, match_story
from xops_provider.correlation.pipeline import FactSet
from xops_provider.correlation.related import RelatedStory

#: Where each kind of fact is stored (the store's tables), as an inputs record names them.
HUNTING, ALERTS = "hunting_rows", "endpoint_alerts"


@dataclass(frozen=True, slots=True)
class StoredFact:
    """A fact row as the store keeps it.

    :param table: the store's table (:data:`HUNTING` or :data:`ALERTS`).
    :param kind: the hunting table the row came from, or ``alerts_v2``.
    :param raw: the record's text as received.
    """

    table: str
    kind: str
    raw: str


@dataclass(frozen=True, slots=True)
class CorrelationInputs:
    """A story's correlation inputs, with its facts as stored.

    :param facts: the facts matched to the story, and its own ``EmailEvents``/``EmailUrlInfo`` rows.
    :param network: the network events matched to it (Cato, Zeek), as stored.
    :param related: its related stories.
    :param campaign: its campaign, if any.
    :param sources: each source's state (``ok``, ``not_configured``, ``failed``).
    """

    facts: tuple[StoredFact, ...] = ()
    network: tuple[NetworkEvent, ...] = ()
    related: tuple[RelatedStory, ...] = ()
    campaign: Campaign | None = None
    sources: Mapping[str, str] = field(default_factory=dict)


def parse_stored(fact: StoredFact) -> Fact:
    """A stored fact parsed again from its text (the parsers are pure).

    :param fact: the stored row.
    :raises FactError: when the text no longer parses (a parser grew stricter).
    """
    if fact.table == ALERTS:
        return parse_endpoint_alert(fact.raw)
    return parse_hunting_row(fact.kind, fact.raw)


def apply_correlation(
    document: Mapping[str, Any], inputs: CorrelationInputs, *, policy: MatchPolicy = MatchPolicy()
) -> dict[str, Any]:
    """The story document with its correlation written in.

    :param document: the document ``build_story`` made.
    :param inputs: the story's inputs.
    :param policy: the window.
    """
    parsed = []
    for stored in inputs.facts:
        try:
            parsed.append(parse_stored(stored))
        except FactError:
            continue  # quarantined when it was first read; a row that no longer parses adds nothing
    facts = FactSet.of([*parsed, *inputs.network])
    keys = story_keys(document, emails=facts.emails, email_urls=facts.email_urls)
    matches = match_story(
        keys,
        clicks=facts.clicks,
        post_delivery=facts.post_delivery,
        network=facts.network,
        detections=facts.detections,
        policy=policy,
    )
    return correlate_story(
        document,
        keys=keys,
        matches=matches,
        related=inputs.related,
        campaign=inputs.campaign,
        sources=inputs.sources,
        policy=policy,
    )


def matched_fact_keys(matches: StoryMatches, own: Iterable[Fact]) -> list[str]:
    """The keys of the facts a rebuild needs: the matched ones and the story's own email rows.

    :param matches: what matched the story.
    :param own: its own ``EmailEvents`` and ``EmailUrlInfo`` facts (they complete its keys).
    """
    keys = {
        m.fact.fact_key for group in (matches.clicks, matches.post_delivery, matches.network) for m in group
    }
    keys |= {m.fact.fact_key for m in matches.detections}
    keys |= {fact.fact_key for fact in own}
    return sorted(keys)


def inputs_record(
    *,
    fact_keys: Iterable[str],
    related: Iterable[RelatedStory],
    campaign: Campaign | None,
    sources: Mapping[str, str],
) -> dict[str, Any]:
    """The JSON record a story's inputs are saved as (the store resolves the fact keys).

    :param fact_keys: the keys of its facts.
    :param related: its related stories.
    :param campaign: its campaign.
    :param sources: the sources' states.
    """
    return {
        "facts": sorted(set(fact_keys)),
        "related": [r.to_json() for r in related],
        "campaign": None
        if campaign is None
        else {
            "campaign_id": campaign.campaign_id,
            "tenant_id": campaign.tenant_id,
            "story_ids": list(campaign.story_ids),
            "affected_users": list(campaign.affected_users),
            "indicators": [list(i) for i in campaign.indicators],
        },
        "sources": dict(sorted(sources.items())),
    }


def inputs_from_record(
    record: Mapping[str, Any], facts: Iterable[StoredFact], network: Iterable[NetworkEvent] = ()
) -> CorrelationInputs:
    """The inputs a saved record describes, with the facts the store resolved for it.

    :param record: from :func:`inputs_record`.
    :param facts: the stored hunting rows and alerts its keys name.
    :param network: the stored network events its keys name.
    """
    campaign = record.get("campaign")
    return CorrelationInputs(
        facts=tuple(facts),
        network=tuple(network),
        related=tuple(
            RelatedStory(
                story_id=item["story_id"],
                shared=tuple((s["type"], s["value"]) for s in item["shared"]),
            )
            for item in record.get("related") or ()
        ),
        campaign=None
        if campaign is None
        else Campaign(
            campaign_id=campaign["campaign_id"],
            tenant_id=campaign["tenant_id"],
            story_ids=tuple(campaign["story_ids"]),
            affected_users=tuple(campaign["affected_users"]),
            indicators=tuple((kind, value) for kind, value in campaign["indicators"]),
        ),
        sources=dict(record.get("sources") or {}),
    )
