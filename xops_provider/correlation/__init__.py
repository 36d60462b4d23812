"""Correlation: the pure rules that answer a story's three questions from other sources' records.

What belongs here: reading hunting rows, alerts_v2 alerts and network events (Cato, Zeek) into
facts; the batched hunting queries and the checks that keep attacker text out of them; the rules
that match facts to a story, relate stories and group them into campaigns; and the ``correlation``
object, timeline entries, Raw Data and criticality raise they write into a story document. It is
pure domain code, like :mod:`xops_provider.stories`: no Airflow, HTTP or SQL, no wall clock, and the
same inputs always give the same bytes. Fetching, storing and scheduling live elsewhere and call in.

Modules, in the order of a run:

- :mod:`.values`, :mod:`.kql`: checked values and the batched queries (:func:`plan_hunting_queries`);
- :mod:`.facts`, :mod:`.hunting_rows`, :mod:`.network_feeds`, :mod:`.endpoint_alerts`: the facts
  and their strict parsers (:class:`FactError` on malformed input);
- :mod:`.keys`: what a story joins on (:func:`story_keys`);
- :mod:`.matching`: facts -> story (:func:`match_story`), the specification of the store's SQL;
- :mod:`.related`, :mod:`.campaigns`: related stories and stable campaigns;
- :mod:`.answers`, :mod:`.assembly`, :mod:`.document`: the answers, the ``correlation`` object and
  the document (:func:`correlate_story`);
- :mod:`.pipeline`: all of it for a run in plain Python (:func:`correlate_stories`).
"""

from xops_provider.correlation.campaigns import Campaign, CampaignAssignment, assign_campaigns
from xops_provider.correlation.document import correlate_story
from xops_provider.correlation.endpoint_alerts import parse_endpoint_alert
from xops_provider.correlation.facts import (
    Click,
    EmailDelivery,
    EmailUrl,
    EndpointDetection,
    FactError,
    NetworkEvent,
    PostDeliveryAction,
)
from xops_provider.correlation.hunting_rows import parse_hunting_row
from xops_provider.correlation.keys import StoryKeys, story_keys
from xops_provider.correlation.kql import HuntingPlan, expected_call_count, plan_hunting_queries
from xops_provider.correlation.matching import MatchPolicy, StoryMatches, match_story
from xops_provider.correlation.network_feeds import parse_cato_feed_page, parse_network_line
from xops_provider.correlation.pipeline import FactSet, correlate_stories, plan_for_stories
from xops_provider.correlation.related import RelatedStory, RelationPolicy, related_stories

__all__ = [
    "Campaign",
    "CampaignAssignment",
    "Click",
    "EmailDelivery",
    "EmailUrl",
    "EndpointDetection",
    "FactError",
    "FactSet",
    "HuntingPlan",
    "MatchPolicy",
    "NetworkEvent",
    "PostDeliveryAction",
    "RelatedStory",
    "RelationPolicy",
    "StoryKeys",
    "StoryMatches",
    "assign_campaigns",
    "correlate_stories",
    "correlate_story",
    "expected_call_count",
    "match_story",
    "parse_cato_feed_page",
    "parse_endpoint_alert",
    "parse_hunting_row",
    "parse_network_line",
    "plan_for_stories",
    "plan_hunting_queries",
    "related_stories",
    "story_keys",
]
