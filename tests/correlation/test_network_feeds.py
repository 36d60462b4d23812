"""Cato eventsFeed records and Zeek logs -> network events: every real Cato line, and bad ones."""

from __future__ import annotations

import json

import pytest

from xops_provider.correlation.facts import FactError
from xops_provider.correlation.network_feeds import (
    FeedError,
    parse_cato_feed_page,
    parse_cato_record,
    parse_network_line,
    parse_zeek_dns,
    parse_zeek_ssl,
)

DNS = {
    "ts": 1772442845.123456,
    "uid": "CAbc1",
    "id.orig_h": "10.0.0.5",
    "id.orig_p": 51000,
    "id.resp_h": "10.0.0.53",
    "id.resp_p": 53,
    "proto": "udp",
    "trans_id": 4242,
    "query": "Login.C0ntoso-Secure.example",
    "qtype_name": "A",
    "rcode_name": "NOERROR",
    "answers": ["198.51.100.7"],
}
SSL = {
    "ts": 1772442846.5,
    "uid": "CAbc2",
    "id.orig_h": "10.0.0.5",
    "id.orig_p": 51001,
    "id.resp_h": "198.51.100.7",
    "id.resp_p": 443,
    "version": "TLSv13",
    "server_name": "login.c0ntoso-secure.example",
    "established": True,
}


class TestCatoFixture:
    def test_every_real_line_parses(self, cato_lines: list[str]) -> None:
        events = [parse_cato_record(line) for line in cato_lines]
        assert len(events) == 11
        assert all(e.source == "cato" for e in events)
        assert [e.raw for e in events] == cato_lines
        # The fixture repeats one record: the same key, so a refetch writes nothing twice.
        assert len({e.fact_key for e in events}) == 10

    @pytest.mark.parametrize(
        ("line", "expected"),
        [
            pytest.param(
                0,
                {"time": "2022-04-22T02:53:25.9100000Z", "user": None, "dest_ip": "10.64.4.10",
                 "action": "Block"},
                id="ips-epoch-millis",
            ),
            pytest.param(
                2,
                {"user": "peter@xxx.com", "src_ip": "185.69.144.176", "dest_ip": None, "domain": None},
                id="admin-login",
            ),
            pytest.param(
                6,
                {"domain": "www.example.org", "url": None,
                 "detail": "Security / IPS: Domain reputation based signature - Phishing"},
                id="ips-phishing",
            ),
            pytest.param(7, {"url": None, "domain": "www.example.org"}, id="path-only-url"),
            pytest.param(
                9,
                {"user": "john.doe@account.fr", "device": "host01.groupe.ad.account", "dest_port": 443,
                 "domain": "cdn.discordapp.com"},
                id="anti-malware-sdp-user",
            ),
        ],
    )  # fmt: skip
    def test_fields(self, cato_lines: list[str], line: int, expected: dict) -> None:
        event = parse_cato_record(cato_lines[line])
        actual = {name: getattr(event, name) for name in expected}
        actual["time"] = event.time.isoformat() if "time" in expected else None
        assert {k: v for k, v in actual.items() if k in expected} == expected

    def test_display_name_is_not_a_user(self, cato_lines: list[str]) -> None:
        # Line 1 names "unmapped user" and no address.
        assert parse_cato_record(cato_lines[1]).user is None


class TestCatoRecord:
    def test_feed_wrapper_time_wins(self) -> None:
        record = {
            "time": "2026-03-02T09:15:00Z",
            "fieldsMap": {"time": "1", "vpn_user_email": "Bob@XYZ.example"},
        }
        event = parse_cato_record(record)
        assert event.time.isoformat() == "2026-03-02T09:15:00.0000000Z"
        assert event.user == "bob@xyz.example"

    def test_key_without_an_id_is_the_record(self) -> None:
        first = parse_cato_record({"time": "2026-03-02T09:15:00Z", "fieldsMap": {"src_ip": "10.0.0.1"}})
        second = parse_cato_record({"time": "2026-03-02T09:15:00Z", "fieldsMap": {"src_ip": "10.0.0.2"}})
        assert first.fact_key != second.fact_key

    @pytest.mark.parametrize(
        ("record", "reason"),
        [
            pytest.param({"fieldsMap": {"src_ip": "1.2.3.4"}}, "no event time", id="no-time"),
            pytest.param({"time": "later", "fieldsMap": {}}, "time is not an ISO 8601 time", id="bad-time"),
            pytest.param({"fieldsMap": "x"}, "fieldsMap is not an object", id="fields-text"),
            pytest.param({"time": "-5"}, "time is not an ISO 8601", id="negative-epoch"),
            pytest.param({"time": "99999999999999999"}, "time is not an epoch time", id="after-year-9999"),
            pytest.param({"time": "1650596005910", "dest_ip": "1.2.3"}, "dest_ip is not an IP", id="bad-ip"),
            pytest.param(
                {"time": "1650596005910", "dest_port": "https"}, "dest_port is not a port", id="bad-port"
            ),
            pytest.param(
                {"time": "1650596005910", "user_name": ["a"]}, "user_name is not text", id="list-user"
            ),
        ],
    )
    def test_malformed(self, record: dict, reason: str) -> None:
        with pytest.raises(FactError, match=reason):
            parse_cato_record(record)

    def test_malformed_line(self) -> None:
        with pytest.raises(FactError, match=r"cato: invalid JSON \(Expecting"):
            parse_cato_record('{"time": 1,')


class TestCatoPage:
    def test_page_with_a_bad_record(self, cato_lines: list[str]) -> None:
        good = {"time": "2026-03-02T09:15:00Z", "fieldsMap": json.loads(cato_lines[4])}
        page = {
            "data": {
                "eventsFeed": {
                    "marker": "m-2",
                    "fetchedCount": 2,
                    "accounts": [{"id": "1714", "records": [good, {"fieldsMap": {}}]}],
                }
            }
        }
        result = parse_cato_feed_page(page)
        assert (result.marker, result.fetched_count, len(result.events)) == ("m-2", 2, 1)
        ((raw, reason),) = result.rejected
        assert json.loads(raw) == {"fieldsMap": {}}
        assert "no event time" in reason

    @pytest.mark.parametrize(
        ("payload", "reason"),
        [
            pytest.param(
                {"errors": [{"message": "permission denied"}], "data": None}, "permission denied", id="key"
            ),
            pytest.param(
                {"errors": [{"message": "rate limit for operation: eventsFeed reached"}]},
                "rate limit",
                id="quota",
            ),
            pytest.param({"data": {}}, "without data.eventsFeed", id="no-feed"),
            pytest.param([], "not a JSON object", id="array"),
        ],
    )
    def test_failed_page(self, payload: object, reason: str) -> None:
        with pytest.raises(FeedError, match=reason):
            parse_cato_feed_page(payload)


class TestZeek:
    def test_dns(self) -> None:
        event = parse_zeek_dns(json.dumps(DNS))
        assert event.source == "zeek_dns"
        assert event.time.isoformat() == "2026-03-02T09:14:05.1234560Z"
        assert (event.domain, event.src_ip, event.dest_ip, event.dest_port) == (
            "login.c0ntoso-secure.example",
            "10.0.0.5",
            "10.0.0.53",
            53,
        )
        assert (event.action, event.detail, event.user) == ("NOERROR", "A -> 198.51.100.7", None)

    def test_ssl(self) -> None:
        event = parse_network_line("zeek_ssl", json.dumps(SSL))
        assert (event.domain, event.dest_ip, event.action, event.detail) == (
            "login.c0ntoso-secure.example",
            "198.51.100.7",
            "established",
            "TLSv13",
        )
        assert event.time.isoformat() == "2026-03-02T09:14:06.5000000Z"

    def test_nested_ids_and_iso_ts(self) -> None:
        nested = {k: v for k, v in SSL.items() if not k.startswith("id.")}
        nested.update(
            ts="2026-03-02T09:14:06.5Z", id={"orig_h": "10.0.0.5", "resp_h": "198.51.100.7", "resp_p": 443}
        )
        assert parse_zeek_ssl(nested).dest_ip == "198.51.100.7"
        assert parse_zeek_ssl(nested).time == parse_zeek_ssl(SSL).time

    @pytest.mark.parametrize(
        ("parser", "record", "reason"),
        [
            pytest.param(parse_zeek_dns, {**DNS, "ts": None}, "zeek_dns: missing ts", id="dns-no-ts"),
            pytest.param(parse_zeek_dns, {**DNS, "ts": "noon"}, "ts is not an epoch or ISO", id="dns-bad-ts"),
            pytest.param(parse_zeek_dns, {**DNS, "ts": True}, "ts is not an epoch time", id="dns-bool-ts"),
            pytest.param(parse_zeek_dns, {**DNS, "query": ""}, "zeek_dns: missing query", id="dns-no-query"),
            pytest.param(
                parse_zeek_dns, {**DNS, "id.resp_h": "x"}, "id.resp_h is not an IP", id="dns-bad-ip"
            ),
            pytest.param(
                parse_zeek_ssl,
                {k: v for k, v in SSL.items() if k not in ("server_name", "id.resp_h")},
                "missing server_name and id.resp_h",
                id="ssl-no-dest",
            ),
        ],
    )
    def test_malformed(self, parser, record: dict, reason: str) -> None:
        with pytest.raises(FactError, match=reason):
            parser(record)

    def test_unknown_source(self) -> None:
        with pytest.raises(ValueError, match="no parser for the network source 'netflow'"):
            parse_network_line("netflow", "{}")
