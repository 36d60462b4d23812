"""Story documents -> StoryKeys, and what the keys leave out."""

from __future__ import annotations

from typing import Any

import pytest

from tests.correlation.builders import PHISH_DOMAIN, STORY_101, STORY_102, STORY_103, WAVE1, WAVE2
from tests.stories.campaign import INVOICE_URL, PHISH_URL
from xops_provider.correlation.hunting_rows import parse_email_event, parse_email_url
from xops_provider.correlation.keys import KeyPolicy, story_keys


def entity(entity_type: str, value: str, *roles: str, **attributes: Any) -> dict[str, Any]:
    return {"type": entity_type, "value": value, "roles": list(roles), "attributes": attributes}


def document(*entities: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "story_id": "mdo:t:1",
        "tenant_id": "t",
        "first_signal": "2026-03-02T08:00:00.0000000Z",
        "timeline": [],
        "entities": list(entities),
        **extra,
    }


def message(**attributes: Any) -> dict[str, Any]:
    return entity("email", WAVE1, received_at="2026-03-02T08:00:00.1234567Z", **attributes)


class TestCampaignStories:
    def test_first_wave(self, campaign_stories: dict) -> None:
        keys = story_keys(campaign_stories[STORY_101])
        assert keys.recipients == {
            "alice@xyz.example",
            "bob@xyz.example",
            "carol@xyz.example",
            "dave@xyz.example",
        }
        # The From (P2) sender; the envelope's bounce address names the mailing service.
        assert keys.senders == {"billing@contoso-invoices.example"}
        assert keys.sender_domains == {"contoso-invoices.example"}
        assert keys.urls == {PHISH_URL, INVOICE_URL.replace("Contoso-Invoices", "contoso-invoices")}
        assert keys.url_domains == {PHISH_DOMAIN, "contoso-invoices.example"}
        assert keys.sender_ips == {"203.0.113.45"}
        assert keys.ips == frozenset()
        assert keys.message_ids == {WAVE1}
        assert len(keys.mail_clusters) == 1
        assert keys.received_at.isoformat() == "2026-03-02T08:00:00.1234567Z"
        assert keys.merged_into is None

    def test_second_wave_names_a_device_and_a_destination(self, campaign_stories: dict) -> None:
        keys = story_keys(campaign_stories[STORY_103])
        assert keys.message_ids == {WAVE2}
        assert keys.ips == {"198.51.100.7"}
        assert keys.devices == {"erin-laptop.xyz.example", "d3v1ce0000000000000000000000000000000001"}

    def test_merged_story(self, campaign_stories: dict) -> None:
        assert story_keys(campaign_stories[STORY_102]).merged_into == STORY_101

    def test_to_json(self, campaign_stories: dict) -> None:
        plain = story_keys(campaign_stories[STORY_101]).to_json()
        assert plain["recipients"] == sorted(plain["recipients"])
        assert plain["received_at"] == "2026-03-02T08:00:00.1234567Z"


class TestLeftOut:
    @pytest.mark.parametrize(
        ("sender", "recipient", "kept"),
        [
            pytest.param("mallory@evil.example", "bob@xyz.example", {"evil.example"}, id="attacker-domain"),
            pytest.param("mallory@gmail.com", "bob@xyz.example", set(), id="free-mail"),
            pytest.param("ceo@xyz.example", "bob@xyz.example", set(), id="own-tenant"),
        ],
    )
    def test_sender_domains(self, sender: str, recipient: str, kept: set[str]) -> None:
        keys = story_keys(
            document(
                entity("sender", sender, "p2_sender", domain=sender.split("@")[1]),
                entity("mailbox", recipient, "recipient"),
            )
        )
        assert keys.sender_domains == kept
        assert keys.senders == {sender}  # the address itself stays an indicator

    @pytest.mark.parametrize(
        ("url", "urls", "domains"),
        [
            pytest.param("https://evil.example/x", {"https://evil.example/x"}, {"evil.example"}, id="attack"),
            pytest.param("https://aka.ms/LearnAboutSenderIdentification", set(), set(), id="safety-tip"),
            pytest.param(
                "https://nam02.safelinks.protection.outlook.com/?url=x", set(), set(), id="safelinks"
            ),
            pytest.param("http://198.51.100.9/x", {"http://198.51.100.9/x"}, set(), id="ip-host"),
            pytest.param("not a url", set(), set(), id="no-host"),
        ],
    )
    def test_urls(self, url: str, urls: set[str], domains: set[str]) -> None:
        keys = story_keys(document(entity("url", url, "in_email")))
        assert (keys.urls, keys.url_domains) == (urls, domains)

    def test_link_to_an_ip_makes_a_destination(self) -> None:
        assert story_keys(document(entity("url", "http://198.51.100.9/x"))).ips == {"198.51.100.9"}

    @pytest.mark.parametrize(
        ("ip", "sender_ips", "ips"),
        [
            pytest.param("203.0.113.45", {"203.0.113.45"}, set(), id="attacker-relay"),
            pytest.param("40.107.22.1", set(), set(), id="exchange-online"),
            pytest.param("10.1.2.3", set(), set(), id="private"),
        ],
    )
    def test_sender_ips(self, ip: str, sender_ips: set[str], ips: set[str]) -> None:
        keys = story_keys(document(message(sender_ip=ip), entity("ip", ip, "sender_ip")))
        assert (keys.sender_ips, keys.ips) == (sender_ips, ips)

    def test_destination_ips_exclude_senders_and_private(self) -> None:
        keys = story_keys(
            document(
                message(sender_ip="203.0.113.45"),
                entity("ip", "203.0.113.45"),
                entity("ip", "198.51.100.7", "destination"),
                entity("ip", "192.168.1.1"),
            )
        )
        assert keys.ips == {"198.51.100.7"}

    def test_policy_is_configurable(self) -> None:
        policy = KeyPolicy(common_domains=frozenset({"evil.example"}))
        assert (
            story_keys(document(entity("url", "https://evil.example/x")), policy=policy).urls == frozenset()
        )


class TestRecipientsAndTimes:
    def test_user_entities_with_the_recipient_role(self) -> None:
        keys = story_keys(
            document(entity("user", "Zoe@XYZ.example", "recipient"), entity("user", "admin@xyz.example"))
        )
        assert keys.recipients == {"zoe@xyz.example"}

    def test_email_events_of_own_messages_complete_the_keys(self) -> None:
        row = {
            "Timestamp": "2026-03-02T07:59:58Z",
            "NetworkMessageId": WAVE1,
            "RecipientEmailAddress": "Gina@xyz.example",
            "SenderFromAddress": "other@evil.example",
            "SenderIPv4": "203.0.113.46",
        }
        other = {**row, "NetworkMessageId": WAVE2, "RecipientEmailAddress": "hank@xyz.example"}
        url = {
            "Timestamp": "2026-03-02T07:59:58Z",
            "NetworkMessageId": WAVE1,
            "Url": "https://evil.example/p",
        }
        keys = story_keys(
            document(message(recipients=["bob@xyz.example"])),
            emails=[parse_email_event(row), parse_email_event(other)],
            email_urls=[parse_email_url(url)],
        )
        assert keys.recipients == {"bob@xyz.example", "gina@xyz.example"}
        assert keys.senders == {"other@evil.example"}
        assert keys.sender_ips == {"203.0.113.46"}
        assert keys.urls == {"https://evil.example/p"}
        assert keys.received_at.isoformat() == "2026-03-02T07:59:58.0000000Z"

    def test_cluster_message_ids_are_not_the_storys(self) -> None:
        cluster = entity("other", "mail_cluster:x=y", kind="mailCluster", network_message_ids=[WAVE2])
        keys = story_keys(document(message(), cluster))
        assert keys.message_ids == {WAVE1}
        assert keys.mail_clusters == {"mail_cluster:x=y"}

    @pytest.mark.parametrize(
        ("story", "expected"),
        [
            pytest.param(
                document(timeline=[{"kind": "email_received", "time": "2026-03-02T07:00:00Z"}]),
                "2026-03-02T07:00:00.0000000Z",
                id="timeline",
            ),
            pytest.param(document(), "2026-03-02T08:00:00.0000000Z", id="first-signal"),
            pytest.param(document(first_signal=None), None, id="none"),
        ],
    )
    def test_receipt_fallbacks(self, story: dict, expected: str | None) -> None:
        received = story_keys(story).received_at
        assert (received.isoformat() if received else None) == expected

    def test_non_guid_message_keys_are_not_message_ids(self) -> None:
        keys = story_keys(
            document(entity("email", "<abc@mail.example>"), entity("file", "x.exe", sha256="AB12"))
        )
        assert keys.message_ids == frozenset()
        assert keys.attachment_hashes == {"ab12"}
