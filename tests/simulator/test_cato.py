"""Cato's ``eventsFeed`` at ``POST /api/v1/graphql2`` over the real simulator: markers, keys,
filters, faults, live and generated events."""

from __future__ import annotations

import pytest

from tests.simulator.conftest import CATO, Cato, hunt_rows
from xops_provider.simulator.scenarios import company_xyz as xyz
from xops_provider.simulator.telemetry.feed import MarkerError, decode_marker, encode_marker


def _errors(body: dict) -> list[str]:
    assert body.get("data") is None
    return [error["message"] for error in body["errors"]]


def _ids(pages: list[list[dict]]) -> list[str]:
    return [record["fieldsMap"]["internalId"] for page in pages for record in page]


@pytest.mark.simulator(scenario="company-xyz", faults="cato_page=7")
class TestMarkers:
    def test_pages_have_no_gap_and_no_duplicate(self, simulator, cato):
        pages, _ = cato.walk()
        assert [len(page) for page in pages] == [7] * 6 + [3]
        walked = [record for page in pages for record in page]
        assert walked == simulator.admin.cato_events()
        assert len(set(_ids(pages))) == len(walked) == 45

    def test_caught_up_answers_zero_with_the_same_marker(self, cato):
        _, marker = cato.walk()
        again = cato.page(marker)
        assert (again["fetchedCount"], again["marker"], again["accounts"][0]["records"]) == (0, marker, [])

    def test_a_marker_resumes_after_the_last_record(self, cato):
        first = cato.page("")
        second = cato.page(first["marker"])
        replay = cato.page(first["marker"])
        assert second == replay
        assert first["accounts"][0]["records"][-1] != second["accounts"][0]["records"][0]
        assert second["accounts"][0]["id"] == cato.account_id

    def test_events_added_live_follow_the_caught_up_marker(self, simulator, cato):
        _, marker = cato.walk()
        records = [
            {"time": "2026-03-02T10:00:00Z", "fieldsMap": {"event_type": "Security", "internalId": f"L{n}"}}
            for n in range(9)
        ]
        added = simulator.admin.add_cato_events(records)
        assert added["count"] == 54
        pages, _ = cato.walk(marker)
        assert _ids(pages) == [f"L{n}" for n in range(9)]
        assert pages[0][0]["time"] == "2026-03-02T10:00:00Z"

    def test_filters(self, cato):
        filters = [{"fieldName": "vpn_user_email", "operator": "is", "values": [xyz.CLICKER]}]
        pages, _ = cato.walk(filters=filters)
        records = [record for page in pages for record in page]
        assert {r["fieldsMap"]["vpn_user_email"] for r in records} == {xyz.CLICKER}
        domains = [r["fieldsMap"]["domain_name"] for r in records]
        assert domains.count(xyz.CAMPAIGN_DOMAIN) == 2


class TestRefusals:
    @pytest.mark.parametrize("key", [pytest.param("wrong", id="wrong"), pytest.param("", id="missing")])
    def test_bad_key(self, simulator, key):
        assert _errors(Cato(simulator, api_key=key).call()) == ["permission denied"]

    def test_another_account(self, cato):
        assert _errors(cato.call(account_ids=["999"])) == ["permission denied"]

    @pytest.mark.parametrize(
        "marker",
        [
            pytest.param("not-a-marker!", id="garbage"),
            pytest.param("eG9wcy1jYXRvOjQxNzI6YWJj", id="not-a-position"),
            pytest.param("c29tZXRoaW5nIGVsc2U", id="foreign"),
        ],
    )
    def test_bad_marker(self, cato, marker):
        assert _errors(cato.call(marker=marker)) == ["invalid marker"]

    def test_only_events_feed(self, simulator, cato):
        response = cato.session.post(
            cato.url, json={"query": "{ accountSnapshot { id } }"}, headers={"x-api-key": cato.api_key}
        )
        assert _errors(response.json()) == ["this service answers the eventsFeed query only"]

    def test_unknown_filter_operator(self, cato):
        filters = [{"fieldName": "event_type", "operator": "like", "values": ["S%"]}]
        assert "not supported" in _errors(cato.call(filters=filters))[0]

    def test_unreadable_body_is_400(self, cato):
        response = cato.session.post(cato.url, data=b"{", headers={"x-api-key": cato.api_key})
        assert response.status_code == 400

    def test_calls_are_counted(self, simulator, cato):
        cato.page("")
        Cato(simulator, api_key="wrong").call()
        assert simulator.admin.count(route=CATO, method="POST") == 2


class TestFaults:
    def test_cato_error_answers_graphql_errors(self, simulator, cato):
        simulator.admin.set_faults("cato_error=2x")
        assert [_errors(cato.call()) for _ in range(2)] == [
            ["rate limit for operation: eventsFeed reached"]
        ] * 2
        assert "errors" not in cato.call()

    def test_cato_quota(self, simulator, cato):
        simulator.admin.set_faults("cato_quota=2/h")
        bodies = [cato.call() for _ in range(3)]
        assert ["errors" in body for body in bodies] == [False, False, True]

    def test_graph_faults_leave_the_feed_alone(self, simulator, cato):
        simulator.admin.set_faults("503=1,429=1,truncate=1")
        assert "errors" not in cato.call()


class TestGenerated:
    def test_streams_in_pages_of_3000_and_plants_a_known_count(self, simulator, cato):
        generated = simulator.admin.generate_network_events(
            7_500, plant_domain="evil.example", plant_every=250, hours=2
        )
        assert generated["planted"] == 30
        pages, _ = cato.walk()
        assert [len(page) for page in pages] == [3000, 3000, 1500]
        records = [record for page in pages for record in page]
        assert len(set(_ids(pages))) == 7_500
        assert sum(r["fieldsMap"]["domain_name"] == "evil.example" for r in records) == 30
        times = [r["time"] for r in records]
        assert times == sorted(times)
        assert generated["tables"]["DeviceNetworkEvents"] == 7_500

    def test_the_same_events_in_device_network_events(self, simulator, graph, cato):
        simulator.admin.generate_network_events(
            600, plant_domain="evil.example", plant_every=100, plant_user="pat@contoso-sim.com"
        )
        pages, _ = cato.walk(
            filters=[{"fieldName": "domain_name", "operator": "is", "values": ["evil.example"]}]
        )
        from_cato = [
            (r["fieldsMap"]["vpn_user_email"], r["fieldsMap"]["dest_ip"]) for page in pages for r in page
        ]
        rows = hunt_rows(
            graph,
            'DeviceNetworkEvents | where RemoteUrl == "evil.example" '
            "| project InitiatingProcessAccountUpn, RemoteIP",
        )
        assert [(r["InitiatingProcessAccountUpn"], r["RemoteIP"]) for r in rows] == from_cato
        assert len(rows) == 6


class TestMarkerCodec:
    @pytest.mark.parametrize("position", [0, 1, 2999, 2_000_000])
    def test_round_trip(self, position):
        assert decode_marker(encode_marker(position)) == position

    def test_empty_is_the_start(self):
        assert decode_marker("") == decode_marker(None) == 0

    def test_foreign_marker(self):
        with pytest.raises(MarkerError, match="invalid marker"):
            decode_marker("AAAA")
