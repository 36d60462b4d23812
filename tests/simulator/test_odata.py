from __future__ import annotations

import pytest

from xops_provider.models.timestamps import GraphTime
from xops_provider.simulator.graph.odata import Clause, ODataError, parse_filter, parse_query


class TestParseFilter:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            pytest.param(
                "lastUpdateDateTime ge 2026-03-01T00:00:00Z",
                [Clause(field="lastUpdateDateTime", op="ge", value=GraphTime.parse("2026-03-01T00:00:00Z"))],
                id="datetime",
            ),
            pytest.param(
                "lastUpdateDateTime gt 2026-03-01T10:00:33.1234567Z",
                [
                    Clause(
                        field="lastUpdateDateTime",
                        op="gt",
                        value=GraphTime.parse("2026-03-01T10:00:33.1234567Z"),
                    )
                ],
                id="seven-digits",
            ),
            pytest.param(
                "createdDateTime lt 2026-03-01T10:00:33.1Z and status eq 'active'",
                [
                    Clause(field="createdDateTime", op="lt", value=GraphTime.parse("2026-03-01T10:00:33.1Z")),
                    Clause(field="status", op="eq", value="active"),
                ],
                id="and",
            ),
            pytest.param(
                "severity ne 'High'", [Clause(field="severity", op="ne", value="high")], id="enum-any-case"
            ),
            pytest.param(
                "(status eq 'resolved')",
                [Clause(field="status", op="eq", value="resolved")],
                id="parentheses",
            ),
            pytest.param("assignedTo eq null", [Clause(field="assignedTo", op="eq", value=None)], id="null"),
            pytest.param(
                "assignedTo eq 'o''brien@contoso.com'",
                [Clause(field="assignedTo", op="eq", value="o'brien@contoso.com")],
                id="escaped-quote",
            ),
        ],
    )
    def test_accepted(self, text, expected):
        assert parse_filter(text) == expected

    @pytest.mark.parametrize(
        ("text", "match"),
        [
            pytest.param("status eq 'active' or status eq 'resolved'", "'or' is not supported", id="or"),
            pytest.param("contains(displayName, 'x')", "function 'contains'", id="function"),
            pytest.param("displayName eq 'x'", "property 'displayName'", id="other-field"),
            pytest.param(
                "lastUpdateDateTime ge '2026-03-01T00:00:00Z'", "incompatible types", id="quoted-date"
            ),
            pytest.param(
                "lastUpdateDateTime ge 2026-03-01T00:00:00.12345678Z", "incompatible types", id="8-digits"
            ),
            pytest.param("status eq 'sleeping'", "not a valid enumeration", id="unknown-member"),
            pytest.param("status eq active", "incompatible types", id="unquoted-string"),
            pytest.param("status has 'active'", "operator 'has'", id="operator"),
            pytest.param("status eq", "incomplete", id="incomplete"),
            pytest.param("not status eq 'active'", "'not' is not supported", id="not"),
        ],
    )
    def test_refused(self, text, match):
        with pytest.raises(ODataError, match=match) as info:
            parse_filter(text)
        assert info.value.message.startswith("Invalid filter clause")


class TestParseQuery:
    def test_defaults(self):
        query = parse_query({})
        assert (query.top, query.skip, query.descending, query.expand, query.count) == (
            50,
            0,
            True,
            False,
            False,
        )

    def test_top_limit_is_graphs_exact_error(self):
        with pytest.raises(ODataError) as info:
            parse_query({"$top": "100"})
        assert info.value.code == ""
        assert info.value.message == (
            "The query specified in the URI is not valid. The limit of '50' for Top query has been exceeded. "
            "The value from the incoming request is '100'."
        )

    @pytest.mark.parametrize(
        ("params", "match"),
        [
            pytest.param({"$orderby": "createdDateTime asc"}, "OrderBy", id="orderby-field"),
            pytest.param({"$orderby": "lastUpdateDateTime up"}, "direction", id="orderby-direction"),
            pytest.param({"$top": "-1"}, "Invalid value", id="negative-top"),
            pytest.param({"$skip": "x"}, "Invalid value", id="skip-not-int"),
            pytest.param({"$expand": "evidence"}, "Could not find a property named 'evidence'", id="expand"),
            pytest.param({"$search": "x"}, "'search' is not allowed", id="unknown-option"),
        ],
    )
    def test_refused(self, params, match):
        with pytest.raises(ODataError, match=match):
            parse_query(params)

    def test_skip_ceiling_counts_skip_plus_top(self):
        parse_query({"$skip": "50", "$top": "50"}, skip_ceiling=100)
        with pytest.raises(ODataError, match="cannot exceed '100'"):
            parse_query({"$skip": "100", "$top": "50"}, skip_ceiling=100)
