"""DefenderIncidentsHook against the simulator: paging, failure translation, fallback, write-back."""

from __future__ import annotations

import pytest

from xops_provider.hooks.defender import (
    DefenderIncidentsHook,
    _has_skip,
    _segment,
    _versions,
    _without_expand,
    incidents_filter,
)
from xops_provider.models.timestamps import GraphTime


class TestHelpers:
    def test_filter_keeps_seven_digits(self):
        since = GraphTime.parse("2026-03-01T10:00:33.1234567Z")
        assert incidents_filter(since) == "lastUpdateDateTime ge 2026-03-01T10:00:33.1234567Z"

    def test_filter_pads_to_seven_digits(self):
        assert incidents_filter(GraphTime.parse("2026-03-01T10:00:33.1Z")).endswith("33.1000000Z")

    @pytest.mark.parametrize(
        ("link", "expected"),
        [
            pytest.param(
                "https://g.example/v1.0/security/incidents?$top=50&$expand=alerts&$skip=50",
                "https://g.example/v1.0/security/incidents?$top=50&$skip=50",
                id="middle",
            ),
            pytest.param(
                "https://g.example/v1.0/security/incidents?%24expand=alerts&%24skiptoken=a%2Bb%3D%3D",
                "https://g.example/v1.0/security/incidents?%24skiptoken=a%2Bb%3D%3D",
                id="encoded-keeps-token-bytes",
            ),
            pytest.param(
                "https://g.example/v1.0/security/incidents?$top=5",
                "https://g.example/v1.0/security/incidents?$top=5",
                id="absent",
            ),
        ],
    )
    def test_without_expand(self, link, expected):
        assert _without_expand(link) == expected

    @pytest.mark.parametrize(
        ("link", "expected"),
        [
            pytest.param("https://g.example/x?$top=50&$skip=100", True, id="skip"),
            pytest.param("https://g.example/x?%24skip=100", True, id="encoded"),
            pytest.param("https://g.example/x?$skiptoken=abc", False, id="skiptoken"),
        ],
    )
    def test_has_skip(self, link, expected):
        assert _has_skip(link) is expected

    @pytest.mark.parametrize(
        "value",
        [pytest.param("", id="empty"), pytest.param("1/../2", id="path"), pytest.param("1?x", id="query")],
    )
    def test_segment_refuses_non_ids(self, value):
        with pytest.raises(ValueError, match="not an incident id"):
            _segment(value)

    def test_versions_skip_unreadable(self):
        records = [
            {"id": "1", "lastUpdateDateTime": "2026-03-01T00:00:00Z"},
            {"id": 2, "lastUpdateDateTime": "2026-03-01T00:00:00.5Z"},
            {"id": "", "lastUpdateDateTime": "2026-03-01T00:00:00Z"},
            {"id": "3", "lastUpdateDateTime": "yesterday"},
            {"id": True, "lastUpdateDateTime": "2026-03-01T00:00:00Z"},
            "not a dict",
        ]
        assert [i for i, _ in _versions(records)] == ["1", "2"]

    def test_page_size_bounds(self):
        with pytest.raises(ValueError, match="page_size must be between 1 and 50"):
            DefenderIncidentsHook(page_size=51)

    def test_update_needs_a_field(self):
        with pytest.raises(ValueError, match="at least one field"):
            DefenderIncidentsHook().update_incident("1")

    def test_comment_cannot_be_empty(self):
        with pytest.raises(ValueError, match="cannot be empty"):
            DefenderIncidentsHook().add_comment("1", "  ")
