"""The three answers: each cites its records, and says "not known yet" only for a missing source."""

from __future__ import annotations

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
)
from tests.stories.campaign import PHISH_URL
from xops_provider.correlation.assembly import build_correlation
from xops_provider.correlation.campaigns import assign_campaigns
from xops_provider.correlation.keys import story_keys
from xops_provider.correlation.matching import match_story
from xops_provider.correlation.related import RelatedStory

ALL_OK = {"hunting": "ok", "alerts": "ok", "cato": "ok"}
DAY = 24 * 60


@pytest.fixture
def answer(campaign_stories: dict):
    def run(
        story_id: str = STORY_101, *, sources=ALL_OK, related=(), campaign=None, **facts
    ) -> dict[str, str]:
        keys = story_keys(campaign_stories[story_id])
        correlation = build_correlation(
            keys=keys,
            matches=match_story(keys, **facts),
            related=related,
            campaign=campaign,
            sources=sources,
        )
        return correlation["answers"]

    return run


class TestClicked:
    def test_click_through_cites_who_what_when_where(self, answer) -> None:
        text = answer(clicks=[click(minute=74)])["clicked"]
        assert (
            text
            == f"Yes: bob@xyz.example clicked through {PHISH_URL} at 2026-03-02 09:14 UTC (UrlClickEvents)."
        )

    def test_reached_domain(self, answer) -> None:
        text = answer(network=[cato(minute=80, user="carol@xyz.example")])["clicked"]
        assert (
            text
            == f"Yes: carol@xyz.example reached {PHISH_DOMAIN} at 2026-03-02 09:20 UTC (Cato events feed)."
        )

    def test_blocked_click(self, answer) -> None:
        text = answer(clicks=[click(minute=74, action="ClickBlocked", through=False)])["clicked"]
        assert text.startswith(
            f"No click got through: bob@xyz.example's click on {PHISH_URL} at 2026-03-02 09:14 UTC "
            "was not let through (ClickBlocked, UrlClickEvents)"
        )
        assert "No click found" not in text

    def test_blocked_network_attempt(self, answer) -> None:
        text = answer(network=[cato(minute=80, action="Block")])["clicked"]
        assert (
            f"bob@xyz.example tried to reach {PHISH_DOMAIN} at 2026-03-02 09:20 UTC (Block, Cato events feed)"
            in text
        )
        assert text.startswith("No click got through")

    def test_nothing_found(self, answer) -> None:
        assert answer()["clicked"] == (
            "No click found in the hunting data for 4 recipients; no network event reached the email's URLs "
            "or domains within 24 h (the Cato events feed, Defender advanced hunting)."
        )

    def test_hunting_not_configured(self, answer) -> None:
        assert answer(sources={})["clicked"] == "Not known yet: Defender advanced hunting is not configured."

    def test_sources_grouped_by_state(self, answer) -> None:
        text = answer(sources={"alerts": "failed", "cato": "not_configured", "zeek": "not_configured"})
        assert text["related_activity"] == (
            "Not known yet: the Cato events feed, Defender advanced hunting and Zeek are not configured; "
            "Defender alerts could not be queried."
        )

    def test_feed_failed(self, answer) -> None:
        text = answer(sources={"hunting": "ok", "cato": "failed"})["clicked"]
        assert text.startswith("No click found in the hunting data for 4 recipients")
        assert text.endswith("not known yet: the Cato events feed could not be queried.")

    def test_records_answer_whatever_the_sources(self, answer) -> None:
        text = answer(sources={"hunting": "ok", "cato": "not_configured"}, clicks=[click(minute=74)])[
            "clicked"
        ]
        assert "not known" not in text

    def test_many_records_are_counted(self, answer) -> None:
        clicks = [click(minute=70 + n, user=f"u{n}@xyz.example", report=f"r{n}") for n in range(5)]
        assert answer(clicks=clicks)["clicked"].endswith("and 2 more.")

    def test_unknown_state_refused(self, answer) -> None:
        with pytest.raises(ValueError, match="unknown state 'maybe'"):
            answer(sources={"hunting": "maybe"})


class TestRelatedActivity:
    def test_detection_and_network(self, answer) -> None:
        text = answer(
            STORY_103,
            network=[device_event(minute=DAY + 20)],
            detections=[detection(minute=DAY + 30, alert_id="da42")],
        )["related_activity"]
        assert text.startswith(
            "1 endpoint detection after delivery: “Suspicious process launched from a downloaded file” (high "
            "severity) on erin-laptop.xyz.example at 2026-03-03 08:30 UTC (Defender for Endpoint, alert da42)"
        )
        assert (
            "1 network event of the recipients or towards the email's URLs, domains or IPs within 24 h (1 "
            in text
        )
        assert (
            f"erin@xyz.example to {PHISH_DOMAIN} at 2026-03-03 08:20 UTC "
            "(ConnectionSuccess, DeviceNetworkEvents)" in text
        )

    def test_user_only_activity_is_related_but_not_towards_the_email(self, answer) -> None:
        text = answer(network=[cato(minute=30, domain="wikipedia.org")])["related_activity"]
        assert "(0 towards them): bob@xyz.example to wikipedia.org" in text

    def test_nothing_found(self, answer) -> None:
        assert answer()["related_activity"] == (
            "No network or endpoint activity of the 4 recipients or towards the email's URLs or domains "
            "within 24 h after delivery (Defender alerts, the Cato events feed, Defender advanced hunting)."
        )

    def test_alerts_not_configured(self, answer) -> None:
        text = answer(sources={"hunting": "ok"}, network=[cato(minute=30)])["related_activity"]
        assert text.endswith("; not known yet: Defender alerts is not configured.")

    def test_nothing_configured(self, answer) -> None:
        assert answer(sources={})["related_activity"] == (
            "Not known yet: Defender alerts and Defender advanced hunting are not configured."
        )


class TestBroaderAttack:
    def test_campaign(self, answer, campaign_stories: dict) -> None:
        keys = [story_keys(campaign_stories[s]) for s in (STORY_101, STORY_103)]
        (campaign,) = assign_campaigns(keys).campaigns.values()
        text = answer(campaign=campaign)["broader_attack"]
        assert text.startswith(
            f"Yes: part of campaign {campaign.campaign_id} with 1 other story ({STORY_103}) "
        )
        assert "affecting 6 users (alice@xyz.example; bob@xyz.example; carol@xyz.example and 3 more)" in text
        assert (
            "joined by sender billing@contoso-invoices.example; sender domain contoso-invoices.example"
            in text
        )

    def test_shared_recipient_only(self, answer) -> None:
        related = [RelatedStory(story_id="mdo:xyz-tenant:900", shared=(("recipient", "bob@xyz.example"),))]
        assert answer(related=related)["broader_attack"] == (
            "No campaign: 1 other story shares only a recipient (bob@xyz.example) and no sender, URL, "
            "domain, mail cluster, attachment or sender IP (mdo:xyz-tenant:900)."
        )

    def test_alone(self, answer) -> None:
        assert answer()["broader_attack"].startswith("No: no other story shares")

    def test_users_outside_the_story_clicked(self, answer) -> None:
        text = answer(STORY_103, clicks=[click(minute=DAY + 9, message=WAVE2, user="zed@xyz.example")])
        assert text["broader_attack"].endswith(
            "; 1 user outside this story clicked its links (zed@xyz.example)."
        )
