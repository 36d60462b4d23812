"""A story's saved inputs replay into the same bytes, whatever the order its facts come back in."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.correlation.builders import STORY_101, cato, click, detection, post_delivery
from tests.correlation.test_pipeline import DAY, SOURCES
from xops_provider.correlation import FactSet, story_keys
from xops_provider.correlation.campaigns import assign_campaigns, campaign_of
from xops_provider.correlation.candidates import FactIndex
from xops_provider.correlation.facts import Click, EndpointDetection, Fact, NetworkEvent, PostDeliveryAction
from xops_provider.correlation.inputs import (
    ALERTS,
    HUNTING,
    StoredFact,
    apply_correlation,
    inputs_from_record,
    inputs_record,
    matched_fact_keys,
)
from xops_provider.correlation.related import related_stories
from xops_provider.stories.canonical import canonical_json

_HUNTING_TABLE = {Click: "UrlClickEvents", PostDeliveryAction: "EmailPostDeliveryEvents"}


def _stored(fact: Fact) -> StoredFact | None:
    if isinstance(fact, EndpointDetection):
        return StoredFact(table=ALERTS, kind="alerts_v2", raw=fact.raw)
    table = _HUNTING_TABLE.get(type(fact))
    return None if table is None else StoredFact(table=HUNTING, kind=table, raw=fact.raw)


def _run(stories: dict[str, dict[str, Any]], facts: list[Fact]) -> tuple[dict[str, Any], list, list]:
    """The saved record of story 101, its stored facts and its network events, as a run saves them."""
    fact_set = FactSet.of(facts)
    keys = {sid: story_keys(doc) for sid, doc in stories.items()}
    matches = FactIndex(fact_set).match(keys[STORY_101])
    related = related_stories(keys.values())
    campaign = campaign_of(keys[STORY_101], assign_campaigns(keys.values()))
    wanted = set(matched_fact_keys(matches, ()))
    record = inputs_record(fact_keys=wanted, related=related[STORY_101], campaign=campaign, sources=SOURCES)
    chosen = [f for f in facts if f.fact_key in wanted]
    stored = [s for f in chosen if (s := _stored(f)) is not None]
    network = [f for f in chosen if isinstance(f, NetworkEvent)]
    return record, stored, network


def _facts() -> list[Fact]:
    return [
        click(minute=14, user="bob@xyz.example"),
        click(minute=15, user="alice@xyz.example", action="ClickBlocked", through=False, report="r2"),
        post_delivery(minute=9),
        cato(minute=16, user="bob@xyz.example"),
        detection(minute=DAY + 40),
    ]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_replayed_inputs_give_the_same_bytes(campaign_stories: dict, data: st.DataObject) -> None:
    stories = json.loads(json.dumps(campaign_stories))
    record, stored, network = _run(stories, _facts())
    # The record goes through the store as JSON text, its facts come back in any order.
    saved = json.loads(json.dumps(record, sort_keys=True))
    expected = canonical_json(
        apply_correlation(stories[STORY_101], inputs_from_record(saved, stored, network))
    )
    again = inputs_from_record(saved, data.draw(st.permutations(stored)), data.draw(st.permutations(network)))
    assert canonical_json(apply_correlation(stories[STORY_101], again)) == expected


def test_replay_answers_from_the_facts(campaign_stories: dict) -> None:
    stories = json.loads(json.dumps(campaign_stories))
    record, stored, network = _run(stories, _facts())
    story = apply_correlation(stories[STORY_101], inputs_from_record(record, stored, network))
    assert {c["user"] for c in story["correlation"]["clicks"] if c["clicked_through"]} == {"bob@xyz.example"}
    assert story["correlation"]["network_activity"]
    assert "Not known yet" not in story["correlation"]["answers"]["clicked"]


def test_a_record_without_facts_still_names_its_sources(campaign_stories: dict) -> None:
    stories = json.loads(json.dumps(campaign_stories))
    record = inputs_record(fact_keys=(), related=(), campaign=None, sources={"hunting": "not_configured"})
    story = apply_correlation(stories[STORY_101], inputs_from_record(record, ()))
    assert "Defender advanced hunting" in story["correlation"]["answers"]["clicked"]
