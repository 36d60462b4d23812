"""A whole run: the campaign correlated end to end, the queries it needs, and purity."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.correlation.builders import (
    PHISH_DOMAIN,
    STORY_101,
    STORY_102,
    STORY_103,
    WAVE1,
    WAVE2,
    cato,
    click,
    detection,
    device_event,
    post_delivery,
)
from xops_provider.correlation import FactSet, correlate_stories, plan_for_stories, story_keys
from xops_provider.correlation.facts import Fact
from xops_provider.correlation.hunting_rows import parse_email_event
from xops_provider.models.timestamps import GraphTime
from xops_provider.stories.canonical import canonical_json

SOURCES = {"hunting": "ok", "alerts": "ok", "cato": "ok"}
DAY = 24 * 60


def run_facts() -> list[Fact]:
    return [
        click(minute=14, user="bob@xyz.example"),
        click(minute=15, user="alice@xyz.example", action="ClickBlocked", through=False, report="r2"),
        post_delivery(minute=9),
        cato(minute=16, user="bob@xyz.example"),
        cato(minute=17, user="zed@other.example", domain="wikipedia.org", event_id="e2"),
        device_event(minute=DAY + 20),
        detection(minute=DAY + 40),
        parse_email_event(
            {
                "Timestamp": "2026-03-03T08:00:00Z",
                "NetworkMessageId": WAVE2,
                "RecipientEmailAddress": "gina@xyz.example",
                "SenderFromAddress": "billing@contoso-invoices.example",
            }
        ),
    ]


def run_bytes(stories: list[dict[str, Any]], facts: list[Fact], previous: dict | None = None) -> bytes:
    run = correlate_stories(stories, facts=FactSet.of(facts), sources=SOURCES, previous_campaigns=previous)
    return canonical_json({"stories": run.stories, "campaigns": dict(run.campaigns.by_story)})


class TestRun:
    def test_campaign_end_to_end(self, campaign_stories: dict, assert_valid_story) -> None:
        run = correlate_stories(campaign_stories.values(), facts=FactSet.of(run_facts()), sources=SOURCES)
        for story in run.stories.values():
            assert_valid_story(story)
        first, merged, second = (run.stories[s]["correlation"] for s in (STORY_101, STORY_102, STORY_103))
        assert first["campaign_id"] == merged["campaign_id"] == second["campaign_id"] is not None
        assert set(run.campaigns.by_story) == {STORY_101, STORY_103}
        assert [r["story_id"] for r in first["related_stories"]] == [STORY_103]
        assert merged["related_stories"] == []
        # EmailEvents named gina as a recipient of the second wave: she is affected too.
        assert "gina@xyz.example" in second["affected_users"]
        assert first["answers"]["clicked"].startswith("Yes: bob@xyz.example clicked through")
        assert [e["domain"] for e in first["network_activity"]] == [PHISH_DOMAIN]
        assert second["endpoint_detections"][0]["matched_on"] == ["device"]
        assert run.stories[STORY_101]["criticality"] == 10

    def test_next_run_keeps_the_campaign_id(self, campaign_stories: dict) -> None:
        first = correlate_stories(campaign_stories.values(), facts=FactSet(), sources=SOURCES)
        stored = dict(first.campaigns.by_story)
        renamed = {story: "campaign:kept" for story in stored}
        again = correlate_stories(
            campaign_stories.values(), facts=FactSet(), sources=SOURCES, previous_campaigns=renamed
        )
        assert set(again.campaigns.by_story.values()) == {"campaign:kept"}

    def test_story_given_twice(self, campaign_stories: dict) -> None:
        story = campaign_stories[STORY_101]
        with pytest.raises(ValueError, match="given twice"):
            correlate_stories([story, story], facts=FactSet(), sources=SOURCES)

    def test_hunting_plan_for_the_run(self, campaign_stories: dict) -> None:
        plan = plan_for_stories(story_keys(s) for s in campaign_stories.values())
        assert plan is not None
        assert plan.rejected == ()
        by_table = {q.table: q for q in plan.queries}
        assert set(by_table) == {
            "EmailEvents",
            "EmailUrlInfo",
            "EmailPostDeliveryEvents",
            "UrlClickEvents",
            "DeviceNetworkEvents",
        }
        assert {v for _, v in by_table["EmailEvents"].values} == {WAVE1, WAVE2}
        # From an hour before the first receipt to the last receipt plus the window.
        assert "datetime(2026-03-02T07:00:00.1234567Z) .. datetime(2026-03-04T08:00:00.1234567Z)" in (
            by_table["EmailEvents"].query
        )
        later = plan_for_stories(
            (story_keys(s) for s in campaign_stories.values()), until=GraphTime.parse("2026-03-10T00:00:00Z")
        )
        assert "datetime(2026-03-10T00:00:00.0000000Z)" in later.queries[0].query

    def test_no_receipt_no_plan(self) -> None:
        assert plan_for_stories([]) is None


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_same_inputs_same_bytes(campaign_stories: dict, data: st.DataObject) -> None:
    stories = list(json.loads(json.dumps(campaign_stories)).values())
    facts = run_facts()
    expected = run_bytes(stories, facts)
    shuffled_stories = data.draw(st.permutations(stories))
    shuffled_facts = data.draw(
        st.permutations(facts + data.draw(st.lists(st.sampled_from(facts), max_size=4)))
    )
    assert run_bytes(list(shuffled_stories), list(shuffled_facts)) == expected
