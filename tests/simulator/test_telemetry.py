"""The telemetry the simulator holds: hunting tables, the Cato feed and the network generator."""

from __future__ import annotations

import pytest

from xops_provider.models.timestamps import GraphTime
from xops_provider.simulator import TENANT_ID, scenarios
from xops_provider.simulator.scenarios import company_xyz as xyz
from xops_provider.simulator.store import Clock, IncidentStore
from xops_provider.simulator.telemetry import Telemetry
from xops_provider.simulator.telemetry.feed import CatoFeed
from xops_provider.simulator.telemetry.generator import NetworkGenerator
from xops_provider.simulator.telemetry.tables import HuntingTable, RowError, coerce_row

NOW = GraphTime.parse("2026-11-28T12:00:00Z")
HOUR = 3600 * 10_000_000


def _generator(count: int = 1000, **options) -> NetworkGenerator:
    return NetworkGenerator(count=count, start=NOW.ticks, end=NOW.ticks + HOUR, **options)


class TestGenerator:
    def test_deterministic_and_in_time_order(self):
        first, again = _generator(seed=3), _generator(seed=3)
        events = [first.event(i) for i in range(1000)]
        assert events == [again.event(i) for i in range(1000)]
        assert events != [_generator(seed=4).event(i) for i in range(1000)]
        assert [e.ticks for e in events] == sorted(e.ticks for e in events)
        assert NOW.ticks <= events[0].ticks <= events[-1].ticks < NOW.ticks + HOUR

    def test_planted_events_are_counted_exactly(self):
        generator = _generator(10_000, plant_domain="evil.example", plant_every=97, plant_user="pat@x.com")
        planted = [e for e in map(generator.event, range(10_000)) if e.domain == "evil.example"]
        assert len(planted) == generator.planted == 10_000 // 97
        assert {e.user for e in planted} == {"pat@x.com"}

    @pytest.mark.parametrize("count", [1, 7, 1000, 123_457])
    def test_first_at_or_after_is_exact(self, count):
        generator = _generator(count)
        for probe in (
            NOW.ticks - 1,
            NOW.ticks,
            NOW.ticks + HOUR // 3,
            NOW.ticks + HOUR - 1,
            NOW.ticks + HOUR,
        ):
            index = generator.first_at_or_after(probe)
            assert index == count or generator.ticks(index) >= probe
            assert index == 0 or generator.ticks(index - 1) < probe

    def test_rows_within_bounds(self):
        generator = _generator(1000)
        lower, upper = NOW.ticks + HOUR // 4, NOW.ticks + HOUR // 2
        rows = list(generator.rows(lower, upper))
        expected = [i for i in range(1000) if lower <= generator.ticks(i) <= upper]
        assert [int(row["ReportId"]) - 10_000 for row in rows] == expected

    def test_cato_and_device_describe_the_same_connection(self):
        generator = _generator(10)
        [record] = generator.cato_records(3, 4)
        [row] = [r for r in generator.rows(None, None) if r["ReportId"] == "10003"]
        fields = record["fieldsMap"]
        assert (fields["vpn_user_email"], fields["domain_name"], fields["dest_ip"]) == (
            row["InitiatingProcessAccountUpn"],
            row["RemoteUrl"],
            row["RemoteIP"],
        )
        assert int(fields["time"]) == row["Timestamp"] // 10_000

    def test_refuses_nonsense(self):
        with pytest.raises(ValueError, match="plant_every needs plant_domain"):
            _generator(plant_every=3)


class TestHuntingTable:
    def test_rows_are_read_in_time_order_with_generated_segments_merged(self):
        table = HuntingTable("DeviceNetworkEvents")
        late = coerce_row("DeviceNetworkEvents", {"Timestamp": "2026-11-28T12:59:00Z"}, default_time=0)
        early = coerce_row("DeviceNetworkEvents", {"Timestamp": "2026-11-28T11:00:00Z"}, default_time=0)
        table.add([late, early])
        table.segments.append(_generator(5))
        stamps = [row["Timestamp"] for row in table.scan()]
        assert stamps == sorted(stamps)
        assert len(stamps) == len(table) == 7
        assert [row["Timestamp"] for row in table.scan(NOW.ticks, NOW.ticks + HOUR // 2)] == [
            _generator(5).ticks(i) for i in range(3)
        ]

    @pytest.mark.parametrize(
        ("row", "match"),
        [
            pytest.param({"Nope": "x"}, "no column Nope", id="unknown-column"),
            pytest.param({"IsClickedThrough": "yes"}, "true or false", id="bool"),
            pytest.param({"Timestamp": "yesterday"}, "ISO 8601", id="time"),
            pytest.param({"Url": 5}, "needs a string", id="string"),
        ],
    )
    def test_bad_rows_are_refused(self, row, match):
        with pytest.raises(RowError, match=match):
            coerce_row("UrlClickEvents", row, default_time=0)

    def test_missing_columns_are_blank(self):
        row = coerce_row("UrlClickEvents", {}, default_time=42)
        assert (row["Timestamp"], row["Url"], row["IsClickedThrough"]) == (42, "", False)


class TestFeed:
    def test_stored_and_generated_runs_read_as_one_sequence(self):
        feed = CatoFeed()
        feed.append([{"time": "t", "fieldsMap": {"n": "0"}}])
        feed.extend(_generator(5))
        feed.append([{"time": "t", "fieldsMap": {"n": "6"}}])
        assert len(feed) == 7
        page, after = feed.read(0, limit=4)
        rest, end = feed.read(after, limit=4)
        assert (len(page), after, len(rest), end) == (4, 4, 3, 7)
        assert rest[-1]["fieldsMap"] == {"n": "6"}
        assert feed.read(end, limit=4) == ([], 7)

    def test_a_filtered_page_resumes_after_the_last_record_examined(self):
        feed = CatoFeed()
        feed.append([{"time": "t", "fieldsMap": {"n": str(n)}} for n in range(10)])
        even = lambda record: int(record["fieldsMap"]["n"]) % 2 == 0  # noqa: E731
        page, after = feed.read(0, limit=2, accept=even)
        assert ([r["fieldsMap"]["n"] for r in page], after) == (["0", "2"], 3)
        page, after = feed.read(after, limit=10, accept=even)
        assert ([r["fieldsMap"]["n"] for r in page], after) == (["4", "6", "8"], 10)


class TestScenarioTelemetry:
    def test_company_xyz_fills_every_table_the_same_way_each_time(self):
        def load(seed):
            telemetry = Telemetry()
            store = IncidentStore(tenant_id=TENANT_ID, clock=Clock())
            scenarios.load(store, name="company-xyz", seed=seed, now=NOW, telemetry=telemetry)
            return telemetry

        first, second = load(0), load(0)
        counts = first.counts()
        assert counts == {
            "EmailEvents": 7,
            "EmailUrlInfo": 7,
            "EmailPostDeliveryEvents": 7,
            "UrlClickEvents": 2,
            "DeviceNetworkEvents": 45,
            "CatoEvents": 45,
        }
        assert first.cato.slice(0, 45) == second.cato.slice(0, 45)
        ids = {row["NetworkMessageId"] for row in load(5).tables["EmailEvents"].scan()}
        assert ids == {*xyz.WAVE1_MESSAGE_IDS.values(), *xyz.WAVE2_MESSAGE_IDS.values()}

    @pytest.mark.parametrize("name", ["empty", "generated"])
    def test_other_scenarios_hold_no_telemetry(self, name):
        telemetry = Telemetry()
        telemetry.cato.append([{"time": "t", "fieldsMap": {}}])
        store = IncidentStore(tenant_id=TENANT_ID, clock=Clock())
        scenarios.load(store, name=name, seed=0, now=NOW, incidents=3, telemetry=telemetry)
        assert set(telemetry.counts().values()) == {0}
