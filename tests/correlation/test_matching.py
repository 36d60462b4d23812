"""The matching rules, with the joins that must not happen."""

from __future__ import annotations

from dataclasses import replace

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
from xops_provider.correlation.keys import StoryKeys, story_keys
from xops_provider.correlation.matching import (
    MatchPolicy,
    click_matched_on,
    domain_in,
    match_story,
    network_matched_on,
    unique_facts,
)

POLICY = MatchPolicy()
DAY = 24 * 60


@pytest.fixture
def wave1(campaign_stories: dict) -> StoryKeys:
    """Story 101: received at minute 0; alice, bob, carol and dave; the phishing URL and domain."""
    return story_keys(campaign_stories[STORY_101])


@pytest.fixture
def wave2(campaign_stories: dict) -> StoryKeys:
    """Story 103: received at minute 1440; erin and frank; erin's laptop named by an MDE alert."""
    return story_keys(campaign_stories[STORY_103])


class TestDomains:
    @pytest.mark.parametrize(
        ("host", "matches"),
        [
            pytest.param("evil.example", True, id="same"),
            pytest.param("a.b.evil.example", True, id="subdomain"),
            pytest.param("notevil.example", False, id="lookalike-prefix"),
            pytest.param("evil.example.net", False, id="lookalike-suffix"),
            pytest.param("evil-example.com", False, id="lookalike-dash"),
            pytest.param("example", False, id="parent"),
            pytest.param(None, False, id="none"),
        ],
    )
    def test_exact_or_subdomain(self, host: str | None, matches: bool) -> None:
        assert domain_in(host, frozenset({"evil.example"})) is matches


class TestClicks:
    def test_own_message_at_any_time(self, wave1: StoryKeys) -> None:
        assert click_matched_on(wave1, click(minute=3 * DAY), policy=POLICY) == ("message",)

    def test_same_url_by_anyone_in_the_window(self, wave1: StoryKeys) -> None:
        other = click(minute=60, user="zed@other.example", message=None)
        assert click_matched_on(wave1, other, policy=POLICY) == ("url",)

    def test_recipient_on_a_personalised_link(self, wave1: StoryKeys) -> None:
        personal = click(minute=60, url=f"https://x.{PHISH_DOMAIN}/t/bob", message=None)
        assert click_matched_on(wave1, personal, policy=POLICY) == ("domain",)

    @pytest.mark.parametrize(
        "fact",
        [
            pytest.param(lambda: click(minute=DAY + 1, message=None), id="same-url-after-the-window"),
            pytest.param(lambda: click(minute=-5, message=None), id="same-url-before-receipt"),
            pytest.param(
                lambda: click(
                    minute=60, user="zed@other.example", url=f"https://{PHISH_DOMAIN}/o", message=None
                ),
                id="stranger-on-the-domain",
            ),
            pytest.param(
                lambda: click(minute=60, url=f"https://{PHISH_DOMAIN}.evil.net/x", message=None),
                id="lookalike",
            ),
            pytest.param(
                lambda: click(minute=60, message=WAVE2, url="https://other.example/"), id="other-message"
            ),
        ],
    )
    def test_no_false_join(self, wave1: StoryKeys, fact) -> None:
        assert click_matched_on(wave1, fact(), policy=POLICY) == ()


class TestNetwork:
    @pytest.mark.parametrize(
        ("fact", "matched_on"),
        [
            pytest.param(lambda: cato(minute=30), ("domain", "user"), id="recipient-to-the-domain"),
            pytest.param(
                lambda: cato(minute=30, user="zed@other.example", domain=f"cdn.{PHISH_DOMAIN}"),
                ("domain",),
                id="stranger-to-a-subdomain",
            ),
            pytest.param(
                lambda: cato(minute=30, domain="wikipedia.org"), ("user",), id="recipient-elsewhere"
            ),
            pytest.param(
                lambda: cato(
                    minute=30, user=None, domain=None, url=f"https://{PHISH_DOMAIN}/auth?session=4471"
                ),
                ("url", "domain"),
                id="exact-url",
            ),
            pytest.param(lambda: cato(minute=DAY), ("domain", "user"), id="window-end-included"),
        ],
    )
    def test_matches(self, wave1: StoryKeys, fact, matched_on: tuple[str, ...]) -> None:
        assert network_matched_on(wave1, fact(), policy=POLICY) == matched_on

    @pytest.mark.parametrize(
        "fact",
        [
            pytest.param(
                lambda: cato(minute=30, user="zed@other.example", domain="wikipedia.org"), id="unrelated"
            ),
            pytest.param(lambda: cato(minute=DAY + 1), id="after-the-window"),
            pytest.param(lambda: cato(minute=-1), id="before-receipt"),
            pytest.param(
                lambda: cato(minute=30, user="zed@other.example", domain=f"{PHISH_DOMAIN}.evil.net"),
                id="lookalike-suffix",
            ),
            pytest.param(
                lambda: cato(minute=30, user="zed@other.example", domain="c0ntoso-secure.example"),
                id="parent-domain",
            ),
            pytest.param(
                lambda: cato(minute=30, user="zed@other.example", domain="xlogin.c0ntoso-secure.example"),
                id="lookalike-prefix",
            ),
        ],
    )
    def test_no_false_join(self, wave1: StoryKeys, fact) -> None:
        assert network_matched_on(wave1, fact(), policy=POLICY) == ()

    def test_destination_ip(self, wave2: StoryKeys) -> None:
        event = cato(minute=DAY + 30, user="zed@other.example", domain=None, dest_ip="198.51.100.7")
        assert network_matched_on(wave2, event, policy=POLICY) == ("ip",)

    def test_window_is_configurable(self, wave1: StoryKeys) -> None:
        event = cato(minute=90)
        assert network_matched_on(wave1, event, policy=MatchPolicy(window_seconds=3600)) == ()
        assert network_matched_on(wave1, event, policy=MatchPolicy(window_seconds=7200)) == ("domain", "user")

    def test_no_receipt_time_no_window(self, wave1: StoryKeys) -> None:
        assert network_matched_on(replace(wave1, received_at=None), cato(minute=30), policy=POLICY) == ()


class TestEndpointDetections:
    def test_device_named_by_the_story(self, wave2: StoryKeys) -> None:
        matches = match_story(wave2, detections=[detection(minute=DAY + 60)])
        assert [m.matched_on for m in matches.detections] == [("device",)]

    def test_device_a_recipient_used(self, wave1: StoryKeys) -> None:
        # Bob's Cato event names his PC; an alert on BOB-PC then concerns a recipient's device.
        alert = detection(minute=120, device="bob-pc", alert_id="da1")
        assert match_story(wave1, detections=[alert]).detections == ()
        matches = match_story(wave1, network=[cato(minute=30, domain="wikipedia.org")], detections=[alert])
        assert [m.matched_on for m in matches.detections] == [("device",)]

    def test_recipient_upn(self, wave1: StoryKeys) -> None:
        alert = detection(minute=120, device=None, upn="Carol@xyz.example")
        assert [m.matched_on for m in match_story(wave1, detections=[alert]).detections] == [("user",)]

    @pytest.mark.parametrize(
        "alert",
        [
            pytest.param(
                lambda: detection(minute=120, device="zed-pc", upn="zed@other.example"), id="unrelated"
            ),
            pytest.param(
                lambda: detection(minute=DAY + 2, device=None, upn="carol@xyz.example"), id="after-window"
            ),
            pytest.param(
                lambda: detection(minute=-30, device=None, upn="carol@xyz.example"), id="before-delivery"
            ),
            # Only "xyz\\erin" names the account: accounts join recipients by address alone.
            pytest.param(lambda: detection(minute=120, device="zed-pc"), id="account-name-only"),
        ],
    )
    def test_no_false_join(self, wave1: StoryKeys, alert) -> None:
        assert match_story(wave1, detections=[alert()]).detections == ()


class TestMatchStory:
    def test_everything_sorted_and_repeats_counted_once(self, wave2: StoryKeys) -> None:
        late, early = device_event(minute=DAY + 50), device_event(minute=DAY + 10)
        matches = match_story(
            wave2,
            clicks=[click(minute=DAY + 5, message=WAVE2, user="erin@xyz.example")] * 2,
            post_delivery=[post_delivery(minute=DAY + 3, message=WAVE2), post_delivery(minute=5)],
            network=[late, early, late],
        )
        assert [m.fact for m in matches.network] == [early, late]
        assert [m.matched_on for m in matches.network] == [("domain", "ip", "user")] * 2
        assert len(matches.clicks) == 1
        assert [m.fact.message_id for m in matches.post_delivery] == [WAVE2]

    def test_repeated_key_keeps_one_copy_whatever_the_order(self) -> None:
        first = cato(minute=30)
        second = replace(first, raw=first.raw + " ")
        assert unique_facts([first, second]) == unique_facts([second, first]) == [first]
