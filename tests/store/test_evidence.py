"""The evidence repository: network events stored once, found by the matching rule, purged by age."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.paths import REAL_FIXTURES
from xops_provider.correlation import NetworkEvent, parse_network_line
from xops_provider.correlation.matching import domain_in
from xops_provider.models.timestamps import GraphTime
from xops_provider.store.evidence import NETWORK_EVENT_KIND, NETWORK_INTEGRATION, reversed_domain
from xops_provider.sync.ports import QuarantineEntry

SEKOIA = REAL_FIXTURES / "network" / "cato_events_feed" / "records_sekoia.ndjson"
SAMPLES = Path(__file__).parent / "network"
T0 = GraphTime.parse("2026-03-09T10:00:00Z")
START, END = T0, T0.shift(seconds=24 * 3600)
EVER = (GraphTime.parse("1970-01-01T00:00:00Z"), GraphTime.parse("9999-12-31T23:59:59Z"))


def lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def cato(name: str, at: GraphTime, **fields: str) -> NetworkEvent:
    record = {"event_id": name, "account_id": "1714", "event_time": at.isoformat(), **fields}
    return parse_network_line("cato", json.dumps(record))


def dns(name: str, at: GraphTime, query: str, *, src: str = "10.0.0.5") -> NetworkEvent:
    record = {"ts": at.isoformat(), "uid": name, "id.orig_h": src, "id.resp_h": "10.0.0.1", "query": query}
    return parse_network_line("zeek_dns", json.dumps(record))


def ssl(name: str, at: GraphTime, *, server: str | None, dest: str) -> NetworkEvent:
    record = {"ts": at.isoformat(), "uid": name, "id.orig_h": "10.0.0.5", "id.resp_h": dest, "id.resp_p": 443}
    if server:
        record["server_name"] = server
    return parse_network_line("zeek_ssl", json.dumps(record))


def at(seconds: float) -> GraphTime:
    return T0.shift(seconds=seconds)


# What a story with recipient alice, URL https://files.example.org/p?id=1, domain evil.example and
# destination IP 203.0.113.9 must find in [START, END], and what it must not.
EVENTS = {
    "domain": dns("domain", at(60), "evil.example"),
    "subdomain": ssl("subdomain", at(3600), server="a.b.evil.example", dest="198.51.100.1"),
    "lookalike-prefix": dns("lookalike-prefix", at(60), "notevil.example"),
    "lookalike-suffix": dns("lookalike-suffix", at(60), "evil.example.net"),
    "parent": dns("parent", at(60), "example"),
    "user": cato("user", at(120), vpn_user_email="Alice@Contoso.com", domain_name="news.example"),
    "other-user": cato("other-user", at(120), vpn_user_email="bob@contoso.com", domain_name="news.example"),
    "ip": ssl("ip", at(300), server="cdn.other.example", dest="203.0.113.9"),
    "source-ip-only": dns("source-ip-only", at(300), "quiet.example", src="203.0.113.9"),
    "url": cato("url", at(400), url="https://files.example.org/p?id=1", dest_ip="192.0.2.1"),
    "other-url": cato("other-url", at(400), url="https://files.example.org/p?id=2"),
    "user-and-domain": cato(
        "user-and-domain", at(500), user_email="alice@contoso.com", domain_name="evil.example"
    ),
    "at-start": dns("at-start", START, "evil.example"),
    "at-end": dns("at-end", END, "evil.example"),
    "before": dns("before", at(-1), "evil.example"),
    "after": dns("after", END.shift(seconds=1), "evil.example"),
    "user-after": cato("user-after", END.shift(seconds=60), vpn_user_email="alice@contoso.com"),
}


def keys(*names: str) -> list[str]:
    return sorted((EVENTS[n] for n in names), key=lambda e: (e.time.ticks, e.fact_key))


@pytest.fixture
def loaded(store):
    added, duplicates = store.evidence.add_network_events(EVENTS.values())
    assert (added, duplicates) == (len(EVENTS), 0)
    return store


class TestReversedDomain:
    @pytest.mark.parametrize(
        ("domain", "expected"),
        [
            pytest.param("a.evil.example", "example.evil.a.", id="subdomain"),
            pytest.param("example", "example.", id="single-label"),
            pytest.param("evil.example.", "example.evil.", id="root-dot"),
        ],
    )
    def test_reverses_labels(self, domain, expected):
        assert reversed_domain(domain) == expected


class TestAddNetworkEvents:
    def test_every_real_cato_record_loads_and_reads_back_equal(self, store):
        events = [parse_network_line("cato", line) for line in lines(SEKOIA)]
        # The export holds one IPS event twice (the second without event_time): one fact.
        first = list({e.fact_key: e for e in reversed(events)}.values())
        assert store.evidence.add_network_events(events) == (len(first), len(events) - len(first))
        found = store.evidence.network_events_for(
            users=[e.user for e in events if e.user],
            domains=[e.domain for e in events if e.domain],
            ips=[e.dest_ip for e in events if e.dest_ip],
            urls=[e.url for e in events if e.url],
            since=EVER[0],
            until=EVER[1],
        )
        assert found == sorted(first, key=lambda e: (e.time.ticks, e.fact_key))

    @pytest.mark.parametrize(
        ("source", "file"),
        [
            pytest.param("zeek_dns", "zeek_dns.log", id="dns"),
            pytest.param("zeek_ssl", "zeek_ssl.log", id="ssl"),
        ],
    )
    def test_zeek_samples_load_and_read_back_equal(self, store, source, file):
        events = [parse_network_line(source, line) for line in lines(SAMPLES / file)]
        assert store.evidence.add_network_events(events) == (len(events), 0)
        found = store.evidence.network_events_for(
            domains=[e.domain for e in events if e.domain],
            ips=[e.dest_ip for e in events if e.dest_ip],
            since=EVER[0],
            until=EVER[1],
        )
        assert found == sorted(events, key=lambda e: (e.time.ticks, e.fact_key))

    def test_a_refetch_writes_nothing(self, loaded):
        again = list(EVENTS.values())
        assert loaded.evidence.add_network_events(again) == (0, len(again))
        under_example = [e for e in EVENTS.values() if domain_in(e.domain, frozenset({"example"}))]
        found = loaded.evidence.network_events_for(domains=["example"], since=EVER[0], until=EVER[1])
        assert found == sorted(under_example, key=lambda e: (e.time.ticks, e.fact_key))

    def test_repeats_in_one_batch_count_as_duplicates(self, store):
        event = EVENTS["domain"]
        assert store.evidence.add_network_events([event, event, EVENTS["ip"]]) == (2, 1)

    def test_quarantines_bad_records_once(self, store):
        entry = QuarantineEntry(kind=NETWORK_EVENT_KIND, record_id="f:3", reason="line 3: bad", payload="{")
        assert store.evidence.add_network_events([], quarantined=[entry]) == (0, 0)
        store.evidence.add_network_events([EVENTS["ip"]], quarantined=[entry])
        [record] = store.sync.quarantined(NETWORK_INTEGRATION)
        assert (record.kind, record.record_id, record.reason, record.payload) == (
            NETWORK_EVENT_KIND,
            "f:3",
            "line 3: bad",
            "{",
        )


class TestNetworkEventsFor:
    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            pytest.param(
                {"domains": ["evil.example"]},
                ["domain", "subdomain", "user-and-domain", "at-start", "at-end"],
                id="domain-and-subdomains-no-lookalike",
            ),
            pytest.param(
                {"domains": ["EVIL.Example."]},
                ["domain", "subdomain", "user-and-domain", "at-start", "at-end"],
                id="domain-normalised",
            ),
            pytest.param({"domains": ["b.evil.example"]}, ["subdomain"], id="no-parent"),
            pytest.param({"users": ["alice@contoso.com"]}, ["user", "user-and-domain"], id="user"),
            pytest.param(
                {"users": ["ALICE@contoso.com "]}, ["user", "user-and-domain"], id="user-normalised"
            ),
            pytest.param({"ips": ["203.0.113.9"]}, ["ip"], id="destination-ip-only"),
            pytest.param({"urls": ["https://files.example.org/p?id=1"]}, ["url"], id="url-exact"),
            pytest.param(
                {"users": ["alice@contoso.com"], "domains": ["evil.example"], "ips": ["203.0.113.9"]},
                ["domain", "subdomain", "user", "ip", "user-and-domain", "at-start", "at-end"],
                id="union-once-each",
            ),
            pytest.param({"domains": ["unknown.example"], "ips": ["not an ip"]}, [], id="nothing"),
            pytest.param({}, [], id="no-values"),
        ],
    )
    def test_returns_exactly_the_matching_events(self, loaded, query, expected):
        assert loaded.evidence.network_events_for(**query, since=START, until=END) == keys(*expected)

    def test_window_bounds_are_included(self, loaded):
        found = loaded.evidence.network_events_for(domains=["evil.example"], since=at(60), until=at(3600))
        assert found == keys("domain", "user-and-domain", "subdomain")

    def test_many_values_span_chunks(self, loaded):
        users = [f"user{i}@contoso.com" for i in range(1200)] + ["alice@contoso.com"]
        domains = [f"d{i}.example.net" for i in range(600)] + ["evil.example"]
        found = loaded.evidence.network_events_for(users=users, domains=domains, since=START, until=END)
        assert found == keys("domain", "subdomain", "user", "user-and-domain", "at-start", "at-end")


class TestPurgeNetworkEvents:
    def test_deletes_only_events_before_the_cutoff(self, loaded):
        assert loaded.evidence.purge_network_events(older_than=START) == 1
        assert loaded.evidence.purge_network_events(older_than=START) == 0
        remaining = loaded.evidence.network_events_for(domains=["evil.example"], since=EVER[0], until=EVER[1])
        assert remaining == keys("at-start", "domain", "subdomain", "user-and-domain", "at-end", "after")

    def test_a_purged_event_can_be_imported_again(self, loaded):
        loaded.evidence.purge_network_events(older_than=EVER[1])
        assert loaded.evidence.add_network_events([EVENTS["ip"]]) == (1, 0)
