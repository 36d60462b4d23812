"""Checked values and batched hunting queries: hostile text never changes a query."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.correlation.kql_grammar import KqlSyntaxError, parse_kql
from xops_provider.correlation.kql import (
    HUNTING_TABLES,
    TABLE_COLUMNS,
    build_query,
    expected_call_count,
    kql_datetime,
    kql_string,
    plan_hunting_queries,
)
from xops_provider.correlation.values import (
    InvalidValue,
    check_domain,
    check_email,
    check_ip,
    check_message_id,
    check_url,
    check_value,
)
from xops_provider.models.timestamps import GraphTime

SINCE = GraphTime.parse("2026-03-02T08:00:00.1234567Z")
UNTIL = GraphTime.parse("2026-03-03T08:00:00.1234567Z")
GUID = "9f1c2b7a-0000-4d1e-8f00-000000000001"
HOSTILE = [
    '") | take 1 //',
    'evil.example") | take 1 //',
    "bob@xyz.example\n| take 1",
    'https://x.example/") | project AccountUpn //',
    'https://x.example/a\\" or 1==1',
    "https://x.example/a|b",
    GUID + '" or Url != "',
    "line\nbreak",
    "tab\there",
    '"',
    "\\",
]


def _guid(n: int) -> str:
    return f"{n:08x}-0000-4000-8000-{n:012x}"


class TestValueChecks:
    @pytest.mark.parametrize(
        ("check", "value", "expected"),
        [
            pytest.param(check_message_id, GUID.upper(), GUID, id="guid-upper"),
            pytest.param(check_email, " Bob@XYZ.example ", "bob@xyz.example", id="email-case"),
            pytest.param(check_email, "o'brien@xyz.example", "o'brien@xyz.example", id="email-apostrophe"),
            pytest.param(check_email, "bob@bücher.example", "bob@xn--bcher-kva.example", id="email-idn"),
            pytest.param(check_domain, "Evil.Example.", "evil.example", id="domain-root-dot"),
            pytest.param(check_url, "HTTPS://X.Example/A?b=C", "https://x.example/A?b=C", id="url-case"),
            pytest.param(check_url, "http://198.51.100.7/x", "http://198.51.100.7/x", id="url-ip-host"),
            pytest.param(check_url, "http://[2001:db8::1]/x", "http://[2001:db8::1]/x", id="url-ipv6-host"),
            pytest.param(check_ip, "2001:DB8::0:1", "2001:db8::1", id="ipv6-canonical"),
        ],
    )
    def test_accepted_and_normalised(self, check, value: str, expected: str) -> None:
        assert check(value) == expected

    @pytest.mark.parametrize(
        ("kind", "value", "reason"),
        [
            pytest.param("message_id", "m-500", "not a GUID", id="guid-short"),
            pytest.param("message_id", GUID + "\n| take 1", "not a GUID", id="guid-newline"),
            pytest.param("message_id", 42, "not a GUID", id="guid-number"),
            pytest.param("email", 'a"b@xyz.example', "not an e-mail", id="email-quote"),
            pytest.param("email", "bob@localhost", "not an e-mail", id="email-single-label"),
            pytest.param("email", "bob@xyz.example\n| take 1", "not a host name", id="email-newline"),
            pytest.param("domain", "evil", "not a domain", id="domain-single-label"),
            pytest.param("domain", "evil.example/path", "not a host name", id="domain-path"),
            pytest.param("domain", "a" * 64 + ".example", "not a host name", id="domain-long-label"),
            pytest.param("url", "javascript:alert(1)", "http", id="url-scheme"),
            pytest.param("url", "https://x.example/a b", "printable", id="url-space"),
            pytest.param("url", "https://x.example/" + "a" * 3000, "2048", id="url-long"),
            pytest.param("url", "https://bad_host!.example/", "printable|host", id="url-host"),
            pytest.param("ip", "999.1.1.1", "not an IP", id="ip-range"),
        ],
    )
    def test_rejected_with_a_reason(self, kind: str, value: object, reason: str) -> None:
        with pytest.raises(InvalidValue, match=reason):
            check_value(kind, value)

    @pytest.mark.parametrize("value", [pytest.param(v, id=f"hostile-{i}") for i, v in enumerate(HOSTILE)])
    @pytest.mark.parametrize("kind", ["message_id", "email", "url", "domain", "ip"])
    def test_hostile_values_fail_every_check(self, kind: str, value: str) -> None:
        with pytest.raises(InvalidValue):
            check_value(kind, value)

    def test_unknown_kind(self) -> None:
        with pytest.raises(ValueError, match="unknown value kind"):
            check_value("subject", "x")


class TestLiterals:
    @pytest.mark.parametrize(
        ("value", "literal"),
        [
            pytest.param("plain", '"plain"', id="plain"),
            pytest.param('a"b', '"a\\"b"', id="quote"),
            pytest.param("a\\b", '"a\\\\b"', id="backslash"),
            pytest.param('") | take 1 //', '"\\") | take 1 //"', id="breakout"),
            pytest.param('\\") | take 1 //', '"\\\\\\") | take 1 //"', id="escaped-breakout"),
        ],
    )
    def test_string_is_one_literal(self, value: str, literal: str) -> None:
        assert kql_string(value) == literal
        parsed = parse_kql(f"EmailEvents | where Subject == {literal}")
        assert parsed.operators == ["where"]
        assert parsed.literals == [value]

    @pytest.mark.parametrize("value", ["a\nb", "a\rb", "a\x00b", "a\x7fb"])
    def test_control_characters_refused(self, value: str) -> None:
        with pytest.raises(ValueError, match="control characters"):
            kql_string(value)

    def test_datetime_keeps_seven_digits(self) -> None:
        assert kql_datetime(SINCE) == "datetime(2026-03-02T08:00:00.1234567Z)"


class TestPlan:
    def test_one_query_per_table_and_batch(self) -> None:
        plan = plan_hunting_queries(
            since=SINCE,
            until=UNTIL,
            message_ids=[_guid(n) for n in range(250)],
            urls=["https://evil.example/a", "https://evil.example/b"],
            recipients=["bob@xyz.example"],
            domains=["evil.example"],
            ips=["198.51.100.7"],
            batch_size=100,
        )
        counts = {table: sum(1 for q in plan.queries if q.table == table) for table in HUNTING_TABLES}
        # UrlClickEvents: 250 ids + 2 URLs + 1 recipient = 253 values; DeviceNetworkEvents: 2 + 1 + 1.
        assert counts == {
            "EmailEvents": 3,
            "EmailUrlInfo": 3,
            "EmailPostDeliveryEvents": 3,
            "UrlClickEvents": 3,
            "DeviceNetworkEvents": 1,
        }
        assert len(plan.queries) == expected_call_count(
            value_counts={"message_id": 250, "url": 2, "email": 1, "domain": 1, "ip": 1}, batch_size=100
        )
        assert all(len(q.values) <= 100 for q in plan.queries)

    @pytest.mark.parametrize(("values", "batch"), [(1, 100), (100, 100), (101, 100), (1000, 7)])
    def test_tables_times_batches(self, values: int, batch: int) -> None:
        # Message ids alone feed the four e-mail tables: tables x ceil(values / batch).
        plan = plan_hunting_queries(
            since=SINCE, until=UNTIL, message_ids=[_guid(n) for n in range(values)], batch_size=batch
        )
        assert len(plan.queries) == 4 * math.ceil(values / batch)
        assert expected_call_count(value_counts={"message_id": values}, batch_size=batch) == len(plan.queries)

    def test_every_query_is_in_the_contract_subset(self) -> None:
        plan = plan_hunting_queries(
            since=SINCE,
            until=UNTIL,
            message_ids=[GUID],
            urls=["https://evil.example/a?x=1&y='2'"],
            recipients=["bob@xyz.example"],
            domains=["evil.example"],
            ips=["198.51.100.7", "2001:db8::1"],
        )
        for query in plan.queries:
            parsed = parse_kql(query.query)
            assert parsed.table == query.table
            assert parsed.operators == ["where", "where", "project"]
            assert parsed.columns[-len(TABLE_COLUMNS[query.table]) :] == list(TABLE_COLUMNS[query.table])
            assert sorted(parsed.literals) == sorted(v for _, v in query.values)

    def test_device_events_by_url_domain_and_ip(self) -> None:
        plan = plan_hunting_queries(
            since=SINCE,
            until=UNTIL,
            urls=["https://evil.example/a"],
            domains=["evil.example"],
            ips=["198.51.100.7"],
        )
        (query,) = [q for q in plan.queries if q.table == "DeviceNetworkEvents"]
        assert 'RemoteIP in ("198.51.100.7")' in query.query
        assert 'RemoteUrl in~ ("evil.example", "https://evil.example/a")' in query.query
        assert (
            "datetime(2026-03-02T08:00:00.1234567Z) .. datetime(2026-03-03T08:00:00.1234567Z)" in query.query
        )

    def test_hostile_values_are_dropped_and_reported(self) -> None:
        plan = plan_hunting_queries(
            since=SINCE,
            until=UNTIL,
            message_ids=[GUID, *HOSTILE],
            urls=HOSTILE,
            recipients=HOSTILE,
            domains=HOSTILE,
            ips=HOSTILE,
        )
        assert {v for q in plan.queries for _, v in q.values} == {GUID}
        assert len(plan.rejected) == 5 * len(HOSTILE)
        assert {r.kind for r in plan.rejected} == {"message_id", "email", "url", "domain", "ip"}
        assert all(r.reason for r in plan.rejected)
        for query in plan.queries:
            assert parse_kql(query.query).operators == ["where", "where", "project"]
            assert "take" not in query.query

    def test_order_and_repeats_do_not_change_the_queries(self) -> None:
        ids = [_guid(n) for n in range(30)]
        shuffled = ids * 2
        random.Random(7).shuffle(shuffled)
        first = plan_hunting_queries(since=SINCE, until=UNTIL, message_ids=ids, batch_size=8)
        second = plan_hunting_queries(since=SINCE, until=UNTIL, message_ids=shuffled, batch_size=8)
        assert first == second

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            pytest.param({"batch_size": 0}, "batch_size", id="batch-size"),
            pytest.param({"since": UNTIL, "until": SINCE}, "until is before since", id="reversed-range"),
        ],
    )
    def test_bad_arguments(self, kwargs: dict, message: str) -> None:
        arguments = {"since": SINCE, "until": UNTIL, "message_ids": [GUID], **kwargs}
        with pytest.raises(ValueError, match=message):
            plan_hunting_queries(**arguments)

    def test_empty_batch_refused(self) -> None:
        with pytest.raises(ValueError, match="at least one value"):
            build_query(table="EmailEvents", batch=[], since=SINCE, until=UNTIL)

    def test_no_values_no_queries(self) -> None:
        assert plan_hunting_queries(since=SINCE, until=UNTIL).queries == ()


class TestGrammarGuard:
    """The test parser itself rejects what the subset excludes, so passing it means something."""

    @pytest.mark.parametrize(
        "query",
        [
            'EmailEvents | where Url == "a" | take 1 | extend x = 1',
            'EmailEvents | where Url has "a"',
            'EmailEvents | where Url == "a"" | take 1',
            "EmailEvents | where Url == 'a'",
        ],
    )
    def test_outside_the_subset(self, query: str) -> None:
        with pytest.raises(KqlSyntaxError):
            parse_kql(query)


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(st.text(min_size=0, max_size=60), max_size=12),
    kind=st.sampled_from(["message_ids", "urls", "recipients", "domains", "ips"]),
)
def test_any_text_yields_only_subset_queries(values: list[str], kind: str) -> None:
    plan = plan_hunting_queries(since=SINCE, until=UNTIL, batch_size=5, **{kind: values})
    accepted = {v for q in plan.queries for _, v in q.values}
    for query in plan.queries:
        parsed = parse_kql(query.query)
        assert parsed.operators == ["where", "where", "project"]
        assert set(parsed.literals) <= accepted
        assert query.query.count("\n") == 3
