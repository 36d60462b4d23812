"""The correlation written into a story document: schema, timeline, Raw Data and criticality."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.correlation.builders import (
    PHISH_DOMAIN,
    STORY_101,
    STORY_103,
    WAVE2,
    cato,
    click,
    detection,
    device_event,
    post_delivery,
)
from xops_provider.correlation.assembly import (
    MAX_USER_ONLY_NETWORK_EVENTS,
    TIMELINE_KINDS,
    build_correlation,
    criticality_signals,
)
from xops_provider.correlation.document import SUMMARY_PREFIX, correlate_story
from xops_provider.correlation.keys import story_keys
from xops_provider.correlation.matching import match_story
from xops_provider.stories.criticality import CLICK_BONUS, ENDPOINT_BONUS, NETWORK_BONUS
from xops_provider.stories.narrative import CORRELATION_PENDING

SOURCES = {"hunting": "ok", "alerts": "ok", "cato": "ok"}
DAY = 24 * 60


@pytest.fixture
def correlate(campaign_stories: dict):
    def run(story_id: str = STORY_103, *, story: dict | None = None, **facts: Any) -> dict[str, Any]:
        story = story or campaign_stories[story_id]
        keys = story_keys(story)
        return correlate_story(story, keys=keys, matches=match_story(keys, **facts), sources=SOURCES)

    return run


@pytest.fixture
def medium_story(campaign_stories: dict) -> dict[str, Any]:
    """Story 103 as produced, with a known base: medium severity, no classification (criticality 5)."""
    story = campaign_stories[STORY_103]
    story["severity"] = "medium"
    story["details"]["classification"] = None
    return story


class TestDocument:
    def test_valid_against_the_schema(self, correlate, assert_valid_story) -> None:
        story = correlate(
            clicks=[click(minute=DAY + 9, message=WAVE2, user="erin@xyz.example")],
            post_delivery=[post_delivery(minute=DAY + 6, message=WAVE2, recipient="erin@xyz.example")],
            network=[
                device_event(minute=DAY + 10),
                cato(minute=DAY + 11, user="frank@xyz.example", domain="x.example"),
            ],
            detections=[detection(minute=DAY + 30)],
        )
        assert_valid_story(story)
        correlation = story["correlation"]
        assert [len(correlation[k]) for k in ("clicks", "network_activity", "endpoint_detections")] == [
            1,
            2,
            1,
        ]
        assert correlation["window"] == {
            "start": "2026-03-03T08:00:00.1234567Z",
            "end": "2026-03-04T08:00:00.1234567Z",
        }
        assert correlation["affected_users"] == ["erin@xyz.example", "frank@xyz.example"]

    def test_each_finding_is_a_timeline_entry_at_its_own_time(self, correlate) -> None:
        story = correlate(
            clicks=[click(minute=DAY + 9, message=WAVE2, user="erin@xyz.example")],
            post_delivery=[post_delivery(minute=DAY + 6, message=WAVE2, recipient="erin@xyz.example")],
            network=[
                device_event(minute=DAY + 10),
                cato(minute=DAY + 11, user="frank@xyz.example", domain="x.example"),
            ],
            detections=[detection(minute=DAY + 30, alert_id="da7")],
        )
        entries = [e for e in story["timeline"] if e["kind"] in TIMELINE_KINDS]
        assert [(e["time"][11:16], e["kind"]) for e in entries] == [
            ("08:06", "post_delivery_action"),
            ("08:09", "url_click"),
            ("08:10", "network_access"),  # frank's visit elsewhere is listed, not a step of the story
            ("08:30", "endpoint_detection"),
        ]
        assert entries[1]["title"] == (
            "erin@xyz.example clicked through https://login.c0ntoso-secure.example/auth?session=4471 "
            "(ClickAllowed, UrlClickEvents)"
        )
        assert (
            entries[0]["title"]
            == "Phish ZAP: Moved to quarantine for erin@xyz.example (EmailPostDeliveryEvents)"
        )
        assert (
            entries[2]["title"]
            == f"erin@xyz.example reached {PHISH_DOMAIN} (ConnectionSuccess, DeviceNetworkEvents)"
        )
        assert entries[3]["alert_id"] == "da7"
        assert all(e["incident_id"] == "103" and e["fact_key"] for e in entries)
        times = [e["time"] for e in story["timeline"]]
        assert times == sorted(times)

    def test_raw_data_keeps_the_records_as_received(self, correlate) -> None:
        fact = cato(minute=DAY + 11)
        story = correlate(network=[fact])
        (record,) = [r for r in story["raw_data"] if r["kind"] == "network_event"]
        assert record == {
            "kind": "network_event",
            "source": "cato",
            "fact_key": fact.fact_key,
            "time": fact.time.isoformat(),
            "payload": fact.raw,
        }
        assert story["raw_data"][0]["kind"] == "incident_version"

    def test_narrative_and_summary(self, correlate) -> None:
        story = correlate(detections=[detection(minute=DAY + 120)])
        narrative = story["details"]["narrative"]
        assert CORRELATION_PENDING not in narrative
        assert narrative.endswith(f"{SUMMARY_PREFIX}1 endpoint detection after delivery.")
        assert story["summary"]["criticality"] == story["criticality"]
        # The story's own signals end at 09:30; the detection's activity began at 10:00.
        assert story["last_signal"] == story["summary"]["last_signal"] == "2026-03-03T10:00:00.1234567Z"

    def test_applying_again_replaces_rather_than_adds(self, correlate, campaign_stories: dict) -> None:
        first = correlate(
            clicks=[click(minute=DAY + 9, message=WAVE2)], detections=[detection(minute=DAY + 30)]
        )
        again = correlate(
            story=first,
            clicks=[click(minute=DAY + 9, message=WAVE2)],
            detections=[detection(minute=DAY + 30)],
        )
        assert json.dumps(again, sort_keys=True) == json.dumps(first, sort_keys=True)
        emptied = correlate(story=first)
        assert not [e for e in emptied["timeline"] if e["kind"] in TIMELINE_KINDS]
        assert [r["kind"] for r in emptied["raw_data"]] == [
            r["kind"] for r in campaign_stories[STORY_103]["raw_data"]
        ]
        assert emptied["details"]["narrative"].endswith(
            f"{SUMMARY_PREFIX}no click-through, network access or endpoint detection found."
        )

    def test_user_only_events_are_capped(self, correlate) -> None:
        events = [
            cato(minute=DAY + n, user="frank@xyz.example", domain="x.example", event_id=f"e{n}")
            for n in range(1, MAX_USER_ONLY_NETWORK_EVENTS + 6)
        ]
        story = correlate(network=[*events, device_event(minute=DAY + 300)])
        correlation = story["correlation"]
        assert len(correlation["network_activity"]) == MAX_USER_ONLY_NETWORK_EVENTS + 1
        assert correlation["network_activity_omitted"] == 5
        assert correlation["network_activity"][-1]["source"] == "DeviceNetworkEvents"

    def test_keys_of_another_story(self, campaign_stories: dict) -> None:
        keys = story_keys(campaign_stories[STORY_101])
        with pytest.raises(ValueError, match="keys of mdo:xyz-tenant:101 given for mdo:xyz-tenant:103"):
            correlate_story(campaign_stories[STORY_103], keys=keys, matches=match_story(keys), sources={})


class TestCriticalityRaise:
    @pytest.mark.parametrize(
        ("facts", "raise_by"),
        [
            pytest.param({}, 0, id="nothing"),
            pytest.param({"clicks": [click(minute=DAY + 9, message=WAVE2)]}, CLICK_BONUS, id="click-through"),
            pytest.param(
                {"clicks": [click(minute=DAY + 9, message=WAVE2, action="ClickBlocked", through=False)]},
                0,
                id="blocked-click",
            ),
            pytest.param({"network": [cato(minute=DAY + 9)]}, NETWORK_BONUS, id="reached-domain"),
            pytest.param({"network": [cato(minute=DAY + 9, action="Block")]}, 0, id="blocked-connection"),
            pytest.param(
                {"network": [cato(minute=DAY + 9, user="erin@xyz.example", domain="x.example")]},
                0,
                id="user-activity-elsewhere",
            ),
            pytest.param(
                {"detections": [detection(minute=DAY + 30)]}, ENDPOINT_BONUS, id="endpoint-detection"
            ),
            pytest.param(
                {
                    "clicks": [click(minute=DAY + 9, message=WAVE2)],
                    "network": [cato(minute=DAY + 9)],
                    "detections": [detection(minute=DAY + 30)],
                },
                5,
                id="all-clamped-at-ten",
            ),
        ],
    )
    def test_rule(self, correlate, medium_story: dict, facts: dict, raise_by: int) -> None:
        assert correlate(story=medium_story, **facts)["criticality"] == 5 + raise_by

    def test_false_positive_stays_at_one(self, correlate, medium_story: dict) -> None:
        medium_story["details"]["classification"] = "falsePositive"
        assert (
            correlate(story=medium_story, clicks=[click(minute=DAY + 9, message=WAVE2)])["criticality"] == 1
        )

    def test_signals_keep_only_what_raises(self, campaign_stories: dict) -> None:
        keys = story_keys(campaign_stories[STORY_103])
        matches = match_story(
            keys,
            network=[cato(minute=DAY + 9, action="Block"), cato(minute=DAY + 10, event_id="e2")],
        )
        correlation = build_correlation(
            keys=keys, matches=matches, related=(), campaign=None, sources=SOURCES
        )
        signals = criticality_signals(correlation)
        assert [e["action"] for e in signals.network_activity] == ["Allow"]
