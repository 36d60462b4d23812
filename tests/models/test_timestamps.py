from __future__ import annotations

import datetime as dt

import pytest

from xops_provider.models.timestamps import GraphTime, InvalidTimestamp, normalize_timestamp


class TestGraphTime:
    @pytest.mark.parametrize(
        ("text", "canonical"),
        [
            pytest.param("2026-03-01T10:00:33.1234567Z", "2026-03-01T10:00:33.1234567Z", id="seven-digits"),
            pytest.param("2026-03-01T10:00:33.1Z", "2026-03-01T10:00:33.1000000Z", id="one-digit"),
            pytest.param("2026-03-01T10:00:33Z", "2026-03-01T10:00:33.0000000Z", id="no-fraction"),
            pytest.param("2026-03-01T10:00:33", "2026-03-01T10:00:33.0000000Z", id="no-zone-is-utc"),
            pytest.param("2026-03-01T12:00:33.5+02:00", "2026-03-01T10:00:33.5000000Z", id="offset"),
            pytest.param(
                "2026-03-01T10:00:33.123456789Z", "2026-03-01T10:00:33.1234567Z", id="nanos-truncated"
            ),
            pytest.param(" 2026-03-01T10:00:33Z ", "2026-03-01T10:00:33.0000000Z", id="padded"),
        ],
    )
    def test_canonical_form_keeps_every_tick(self, text, canonical):
        assert normalize_timestamp(text) == canonical

    def test_distinguishes_values_that_datetime_would_merge(self):
        a = GraphTime.parse("2026-03-01T10:00:33.1234567Z")
        b = GraphTime.parse("2026-03-01T10:00:33.1234568Z")
        assert a < b
        assert a.to_datetime() == b.to_datetime()  # what pendulum and datetime would see

    @pytest.mark.parametrize(
        "text",
        [
            pytest.param("", id="empty"),
            pytest.param("yesterday", id="words"),
            pytest.param("2026-13-01T00:00:00Z", id="month-13"),
            pytest.param(1700000000, id="number"),
        ],
    )
    def test_refuses_what_is_not_a_timestamp(self, text):
        with pytest.raises(InvalidTimestamp, match="ISO 8601"):
            GraphTime.parse(text)

    def test_round_trips_through_datetime_and_shift(self):
        now = dt.datetime(2026, 3, 1, 10, 0, 33, 123456, tzinfo=dt.UTC)
        t = GraphTime.from_datetime(now)
        assert t.to_datetime() == now
        assert t.shift(seconds=-300).isoformat() == "2026-03-01T09:55:33.1234560Z"
