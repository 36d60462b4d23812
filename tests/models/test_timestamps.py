from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xops_provider.models import timestamps
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


def _outcome(read, value):
    try:
        return read(value)
    except Exception as err:  # the error is part of the behaviour being compared
        return type(err), str(err)


_DIGITS = "0123456789"


class TestCanonicalFastPath:
    """Graph's own ``YYYY-MM-DDTHH:MM:SS[.fffffff]Z`` is read by a fast path; whatever it reads must
    come out exactly as the general reading has it, errors included."""

    @pytest.mark.parametrize(
        "text",
        [
            pytest.param("2026-03-01T10:00:33.1234567Z", id="seven-digits"),
            pytest.param("2026-03-01T10:00:33.1Z", id="one-digit"),
            pytest.param("2026-03-01T10:00:33Z", id="no-fraction"),
            pytest.param("2026-03-01T10:00:33.12345678Z", id="eight-digits-general"),
            pytest.param("2026-03-01T10:00:33.Z", id="dot-without-digits"),
            pytest.param("2024-02-29T23:59:59.9999999Z", id="leap-day"),
            pytest.param("2023-02-29T00:00:00Z", id="not-a-leap-year"),
            pytest.param("2026-04-31T00:00:00Z", id="day-31-in-april"),
            pytest.param("2026-00-10T00:00:00Z", id="month-0"),
            pytest.param("2026-13-01T00:00:00Z", id="month-13"),
            pytest.param("2026-03-01T24:00:00Z", id="hour-24"),
            pytest.param("2026-03-01T23:60:00Z", id="minute-60"),
            pytest.param("2026-12-31T23:59:60Z", id="leap-second"),
            pytest.param("0000-01-01T00:00:00Z", id="year-0"),
            pytest.param("0001-01-01T00:00:00Z", id="year-1"),
            pytest.param("9999-12-31T23:59:59.9999999Z", id="year-9999"),
            pytest.param("1969-12-31T23:59:59.9999999Z", id="before-the-epoch"),
            pytest.param("2026-03-01T10:00:33z", id="lower-case-z"),
            pytest.param("2026-03-01 10:00:33Z", id="space-separator"),
            pytest.param("2026-03-01T10:00:33.5+02:00", id="offset"),
            pytest.param("2026-03-01T10:00:33.1234567Z\n", id="trailing-newline"),
            pytest.param("2026-W09-1T10:00:33Z", id="iso-week-date"),
            pytest.param("\uff12\uff10\uff12\uff16-03-01T10:00:33Z", id="full-width-digits"),
            pytest.param("\u0662\u0660\u0662\u0666-03-01T10:00:33Z", id="arabic-indic-digits"),
            pytest.param("2026-03-01T10:00:33.\u0661Z", id="arabic-indic-fraction"),
        ],
    )
    def test_agrees_with_the_general_reading(self, text):
        assert _outcome(timestamps._ticks, text) == _outcome(timestamps._general_ticks, text)

    @given(
        st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31, 23, 59, 59)),
        st.text(alphabet=_DIGITS, max_size=9),
    )
    def test_agrees_on_any_instant(self, when, fraction):
        text = f"{when:%Y-%m-%dT%H:%M:%S}".rjust(19, "0") + (f".{fraction}" if fraction else "") + "Z"
        assert _outcome(timestamps._ticks, text) == _outcome(timestamps._general_ticks, text)

    @given(st.text(alphabet=_DIGITS + "-:.TZz +\u0661", min_size=18, max_size=32))
    def test_agrees_on_near_misses(self, text):
        assert _outcome(timestamps._ticks, text) == _outcome(timestamps._general_ticks, text)


class TestCaches:
    def test_a_repeated_value_reads_the_same(self):
        first = GraphTime.parse("2026-03-01T10:00:33.1234567Z")
        assert GraphTime.parse("2026-03-01T10:00:33.1234567Z") == first
        assert first.isoformat() == first.isoformat() == "2026-03-01T10:00:33.1234567Z"

    def test_an_error_is_raised_every_time(self):
        for _ in range(2):
            with pytest.raises(InvalidTimestamp, match="not an ISO 8601 timestamp"):
                GraphTime.parse("2026-02-30T00:00:00Z")

    @pytest.mark.parametrize(
        "value",
        [
            pytest.param(["2026-03-01T10:00:33Z"], id="unhashable"),
            pytest.param(None, id="none"),
            pytest.param(b"2026-03-01T10:00:33Z", id="bytes"),
        ],
    )
    def test_a_value_that_is_not_text_is_refused_as_before(self, value):
        with pytest.raises(InvalidTimestamp, match="expected an ISO 8601 string"):
            GraphTime.parse(value)

    def test_padded_and_subclassed_text_read_alike(self):
        class Text(str):
            pass

        padded = " " * 100 + "2026-03-01T10:00:33Z" + " " * 100
        expected = GraphTime.parse("2026-03-01T10:00:33Z")
        assert GraphTime.parse(padded) == GraphTime.parse(Text("2026-03-01T10:00:33Z")) == expected

    def test_a_subclass_parses_to_itself(self):
        class Later(GraphTime):
            pass

        parsed = Later.parse("2026-03-01T10:00:33Z")
        assert type(parsed) is Later
        assert parsed.ticks == GraphTime.parse("2026-03-01T10:00:33Z").ticks

    @pytest.mark.parametrize(
        ("text", "canonical"),
        [
            # Years before 1000 come out unpadded, as strftime writes them; pinned so that no faster
            # formatting changes stored text.
            pytest.param("0001-01-01T00:00:00Z", "1-01-01T00:00:00.0000000Z", id="year-1"),
            pytest.param("0999-12-31T23:59:59.9999999Z", "999-12-31T23:59:59.9999999Z", id="year-999"),
            pytest.param("1000-01-01T00:00:00Z", "1000-01-01T00:00:00.0000000Z", id="year-1000"),
            pytest.param("1969-12-31T23:59:59.9999999Z", "1969-12-31T23:59:59.9999999Z", id="pre-epoch"),
        ],
    )
    def test_isoformat_is_unchanged(self, text, canonical):
        assert GraphTime.parse(text).isoformat() == canonical

    @given(st.integers(min_value=-621355968000000000, max_value=2534023007999999999))
    def test_isoformat_writes_what_strftime_wrote(self, ticks):
        seconds, frac = divmod(ticks, timestamps.TICKS_PER_SECOND)
        whole = timestamps._EPOCH + dt.timedelta(seconds=seconds)
        assert GraphTime(ticks).isoformat() == f"{whole:%Y-%m-%dT%H:%M:%S}.{frac:07d}Z"
