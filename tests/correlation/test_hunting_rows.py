"""Hunting rows -> facts: every table's parser, the real streaming-API rows, malformed rows."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from xops_provider.correlation.facts import Click, EmailDelivery, EmailUrl, FactError, NetworkEvent
from xops_provider.correlation.hunting_rows import (
    parse_click,
    parse_device_network_event,
    parse_email_event,
    parse_email_url,
    parse_hunting_row,
    parse_post_delivery,
)

GUID = "9f1c2b7a-0000-4d1e-8f00-000000000001"
CLICK = {
    "Timestamp": "2026-03-02T09:14:05.1234567Z",
    "Url": "HTTPS://Login.C0ntoso-Secure.example/auth?session=4471",
    "ActionType": "ClickAllowed",
    "AccountUpn": "Bob@XYZ.example",
    "Workload": "Email",
    "NetworkMessageId": GUID.upper(),
    "IPAddress": "198.51.100.20",
    "ThreatTypes": "Phish",
    "DetectionMethods": "",
    "IsClickedThrough": True,
    "UrlChain": "",
    "ReportId": "r1",
}
DEVICE_EVENT = {
    "Timestamp": "2026-03-02T09:15:00Z",
    "DeviceId": "ABC123",
    "DeviceName": "BOB-PC.xyz.example",
    "ActionType": "ConnectionSuccess",
    "RemoteIP": "198.51.100.7",
    "RemotePort": 443,
    "RemoteUrl": "login.c0ntoso-secure.example",
    "LocalIP": "10.0.0.5",
    "LocalPort": 50123,
    "Protocol": "Tcp",
    "InitiatingProcessAccountUpn": "bob@xyz.example",
    "InitiatingProcessAccountName": "bob",
    "InitiatingProcessFileName": "msedge.exe",
    "ReportId": "77",
}


class TestRealRows:
    def test_email_event(self, hunting_lines: dict[str, str]) -> None:
        fact = parse_email_event(hunting_lines["EmailEvents"])
        assert isinstance(fact, EmailDelivery)
        assert fact.message_id == "a194a8a6-d97c-4be1-ae31-08dacc512345"
        assert fact.recipient == "user@testmsftalerts.onmicrosoft.com"
        assert (fact.sender, fact.sender_domain) == (
            "user@testmsftalerts.onmicrosoft.com",
            "testmsftalerts.onmicrosoft.com",
        )
        assert fact.sender_ip == "81.2.69.144"
        assert fact.raw == hunting_lines["EmailEvents"]

    def test_email_url_takes_the_urls_own_host(self, hunting_lines: dict[str, str]) -> None:
        fact = parse_email_url(hunting_lines["EmailUrlInfo"])
        assert isinstance(fact, EmailUrl)
        # The row's UrlDomain names another host than its Url; the URL's own host is what joins.
        assert fact.domain == "www.example.com"

    def test_click_with_blank_user(self, hunting_lines: dict[str, str]) -> None:
        fact = parse_click(hunting_lines["UrlClickEvents"])
        assert isinstance(fact, Click)
        assert fact.user is None
        assert fact.ip is None
        assert fact.clicked_through is True
        assert fact.domain == "southcentralusr-notifyp.svc.ms"

    def test_post_delivery_without_timestamp_is_rejected(self, hunting_lines: dict[str, str]) -> None:
        with pytest.raises(FactError, match="EmailPostDeliveryEvents: missing Timestamp"):
            parse_post_delivery(hunting_lines["EmailPostDeliveryEvents"])


class TestClick:
    def test_normalised(self) -> None:
        fact = parse_click(CLICK)
        assert fact.user == "bob@xyz.example"
        assert fact.url == "https://login.c0ntoso-secure.example/auth?session=4471"
        assert fact.domain == "login.c0ntoso-secure.example"
        assert fact.message_id == GUID
        assert fact.time.isoformat() == "2026-03-02T09:14:05.1234567Z"
        assert json.loads(fact.raw) == CLICK

    def test_key_ignores_spelling_and_raw_text(self) -> None:
        respelled = {**CLICK, "AccountUpn": "bob@xyz.example", "NetworkMessageId": GUID, "Extra": 1}
        assert parse_click(respelled).fact_key == parse_click(CLICK).fact_key
        assert parse_click({**CLICK, "ReportId": "r2"}).fact_key != parse_click(CLICK).fact_key

    def test_text_and_object_give_the_same_fact(self) -> None:
        text = json.dumps(CLICK)
        from_text, from_object = parse_click(text), parse_click(CLICK)
        assert from_text.raw == text
        assert replace(from_text, raw="") == replace(from_object, raw="")

    @pytest.mark.parametrize(
        ("change", "reason"),
        [
            pytest.param({"Timestamp": None}, "missing Timestamp", id="no-time"),
            pytest.param({"Timestamp": "yesterday"}, "Timestamp is not an ISO 8601 time", id="bad-time"),
            pytest.param(
                {"Timestamp": "0001-01-01T00:00:00+01:00"},
                "Timestamp is not an ISO 8601 time",
                id="before-year-1",
            ),
            pytest.param({"Url": ""}, "missing Url", id="no-url"),
            pytest.param({"Url": ["a"]}, "Url is not text", id="url-list"),
            pytest.param({"ActionType": None}, "missing ActionType", id="no-action"),
            pytest.param({"IsClickedThrough": "maybe"}, "IsClickedThrough is not a boolean", id="bad-bool"),
            pytest.param({"NetworkMessageId": "m-1"}, "NetworkMessageId is not a GUID", id="bad-guid"),
            pytest.param({"IPAddress": "not-an-ip"}, "IPAddress is not an IP address", id="bad-ip"),
        ],
    )
    def test_malformed(self, change: dict, reason: str) -> None:
        with pytest.raises(FactError, match=reason):
            parse_click({**CLICK, **change})

    @pytest.mark.parametrize(
        ("value", "reason"),
        [
            pytest.param("{not json", "invalid JSON", id="bad-json"),
            pytest.param("[1, 2]", "not a JSON object", id="array"),
            pytest.param(42, "not a JSON object", id="number"),
            pytest.param(b"\xff\xfe", "not UTF-8", id="bad-bytes"),
        ],
    )
    def test_not_a_record(self, value: object, reason: str) -> None:
        with pytest.raises(FactError, match=reason):
            parse_click(value)

    def test_string_booleans_and_teams_click(self) -> None:
        fact = parse_click(
            {**CLICK, "IsClickedThrough": "False", "NetworkMessageId": "", "Workload": "Teams"}
        )
        assert fact.clicked_through is False
        assert fact.message_id is None


class TestDeviceNetworkEvent:
    def test_bare_host(self) -> None:
        fact = parse_device_network_event(DEVICE_EVENT)
        assert isinstance(fact, NetworkEvent)
        assert fact.source == "DeviceNetworkEvents"
        assert (fact.domain, fact.url) == ("login.c0ntoso-secure.example", None)
        assert (fact.user, fact.device, fact.device_id) == ("bob@xyz.example", "bob-pc.xyz.example", "abc123")
        assert (fact.src_ip, fact.dest_ip, fact.dest_port) == ("10.0.0.5", "198.51.100.7", 443)
        assert fact.detail == "msedge.exe"

    def test_full_url(self) -> None:
        fact = parse_device_network_event({**DEVICE_EVENT, "RemoteUrl": "https://Evil.example/a?B=1"})
        assert (fact.domain, fact.url) == ("evil.example", "https://evil.example/a?B=1")

    @pytest.mark.parametrize(
        ("change", "reason"),
        [
            pytest.param({"RemoteUrl": "", "RemoteIP": ""}, "missing RemoteUrl and RemoteIP", id="no-dest"),
            pytest.param({"RemotePort": 70000}, "RemotePort is not a port", id="bad-port"),
            pytest.param({"RemotePort": True}, "RemotePort is not a port", id="bool-port"),
            pytest.param({"LocalIP": {"a": 1}}, "LocalIP is not text", id="object-ip"),
        ],
    )
    def test_malformed(self, change: dict, reason: str) -> None:
        with pytest.raises(FactError, match=reason):
            parse_device_network_event({**DEVICE_EVENT, **change})


class TestDispatch:
    def test_by_table(self) -> None:
        assert parse_hunting_row("UrlClickEvents", CLICK) == parse_click(CLICK)

    def test_unknown_table(self) -> None:
        with pytest.raises(ValueError, match="no parser for the hunting table 'DeviceEvents'"):
            parse_hunting_row("DeviceEvents", {})

    @pytest.mark.parametrize(
        ("table", "reason"),
        [
            pytest.param("EmailEvents", "EmailEvents: missing NetworkMessageId", id="email-events"),
            pytest.param("EmailUrlInfo", "EmailUrlInfo: missing NetworkMessageId", id="email-url"),
            pytest.param("EmailPostDeliveryEvents", "missing NetworkMessageId", id="post-delivery"),
        ],
    )
    def test_message_tables_need_a_message(self, table: str, reason: str) -> None:
        with pytest.raises(FactError, match=reason):
            parse_hunting_row(table, {"Timestamp": "2026-03-02T09:14:05Z", "Url": "https://a.example/"})

    def test_post_delivery_needs_an_action(self) -> None:
        row = {"Timestamp": "2026-03-02T09:14:05Z", "NetworkMessageId": GUID}
        with pytest.raises(FactError, match="missing Action and ActionType"):
            parse_post_delivery(row)
