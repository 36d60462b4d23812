"""``POST /v1.0/security/runHuntingQuery`` over the real simulator: answers, refusals, permission,
hunting's own quota and its faults. Quota assertions are on counts and headers, never on time."""

from __future__ import annotations

import pytest

from tests.simulator.conftest import (
    HUNTING,
    INCIDENTS,
    Graph,
    app_token,
    fresh_token,
    hunt,
    hunt_rows,
    kql_string,
)
from xops_provider.simulator import READ_ROLE
from xops_provider.simulator.scenarios import company_xyz as xyz

OTHER_APP = "5e2c9a41-7b3d-4f60-8c1e-a2d4f6b8c0e3"
ANY_QUERY = "EmailEvents | take 1"


def _graph_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert set(error["innerError"]) == {"date", "request-id", "client-request-id"}
    return error


@pytest.mark.simulator(scenario="company-xyz")
class TestAnswers:
    def test_shape_follows_graph(self, simulator, graph):
        response = hunt(
            graph, "UrlClickEvents | where IsClickedThrough == true | project AccountUpn, Timestamp"
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["@odata.context"].endswith("$metadata#microsoft.graph.security.huntingQueryResults")
        assert body["schema"] == [
            {"name": "AccountUpn", "type": "String"},
            {"name": "Timestamp", "type": "DateTime"},
        ]
        [row] = body["results"]
        assert row["AccountUpn"] == xyz.CLICKER
        # Seven fractional digits and a Z, as Defender writes them.
        assert row["Timestamp"][-1] == "Z"
        assert len(row["Timestamp"].split(".")[1]) == 8

    def test_types_of_the_answer(self, graph):
        body = graph.post(HUNTING, {"Query": "UrlClickEvents | take 1", "Timespan": "P7D"}).json()
        types = {column["name"]: column["type"] for column in body["schema"]}
        assert (types["IsClickedThrough"], types["Timestamp"]) == ("Boolean", "DateTime")
        assert isinstance(body["results"][0]["IsClickedThrough"], bool)
        email = graph.post(HUNTING, {"Query": "EmailEvents | take 1"}).json()["results"][0]
        assert isinstance(email["UrlCount"], int)

    def test_one_query_serves_a_batch_of_messages(self, graph):
        ids = ", ".join(kql_string(i) for i in xyz.WAVE1_MESSAGE_IDS.values())
        rows = hunt_rows(
            graph, f"EmailUrlInfo | where NetworkMessageId in ({ids}) | project NetworkMessageId, Url"
        )
        assert sorted(r["NetworkMessageId"] for r in rows) == sorted(xyz.WAVE1_MESSAGE_IDS.values())
        assert {r["Url"] for r in rows} == {xyz.CAMPAIGN_URL}


class TestHostileStrings:
    @pytest.mark.parametrize(
        "subject",
        [
            pytest.param('Payroll" | project ReportId | where "1" == "1', id="pipe-and-quote"),
            pytest.param('a\\" | take 1000000 | where Subject == \\"', id="escapes"),
            pytest.param("}; drop table EmailEvents; //", id="sql-ish"),
        ],
    )
    def test_a_literal_stays_a_literal(self, simulator, graph, subject):
        simulator.admin.add_hunting_rows(
            "EmailEvents",
            [
                {"Subject": subject, "NetworkMessageId": "hostile"},
                {"Subject": "other", "NetworkMessageId": "x"},
            ],
        )
        rows = hunt_rows(
            graph, f"EmailEvents | where Subject == {kql_string(subject)} | project NetworkMessageId"
        )
        assert rows == [{"NetworkMessageId": "hostile"}]

    def test_an_injected_pipe_matches_nothing_instead_of_running(self, simulator, graph):
        simulator.admin.add_hunting_rows("EmailEvents", [{"Subject": "x"}])
        response = hunt(graph, 'EmailEvents | where Subject == "x | summarize count()"')
        assert response.status_code == 200, response.text
        assert response.json()["results"] == []


class TestRefusals:
    @pytest.mark.parametrize(
        ("body", "match"),
        [
            pytest.param({"Query": "EmailEvents | summarize count()"}, "'summarize'", id="operator"),
            pytest.param({"Query": "DeviceProcessEvents"}, "DeviceProcessEvents", id="table"),
            pytest.param({"Query": ""}, "Query property", id="empty"),
            pytest.param({"query": ANY_QUERY}, "property 'query'", id="lower-case-key"),
            pytest.param({"Query": ANY_QUERY, "Limit": 5}, "property 'Limit'", id="unknown-property"),
            pytest.param({}, "Query property", id="no-query"),
        ],
    )
    def test_bad_request_in_graphs_shape(self, graph, body, match):
        error = _graph_error(graph.post(HUNTING, body), 400, "BadRequest")
        assert match in error["message"]

    def test_unreadable_body(self, simulator, graph):
        response = graph.session.post(simulator.base_url + HUNTING, data=b"{not json")
        assert "JSON" in _graph_error(response, 400, "BadRequest")["message"]

    def test_needs_a_token(self, simulator):
        _graph_error(
            Graph(simulator, None).post(HUNTING, {"Query": ANY_QUERY}), 401, "InvalidAuthenticationToken"
        )

    def test_needs_threat_hunting_permission(self, simulator):
        simulator.admin.set_roles(simulator.client_id, [READ_ROLE])
        graph = Graph(simulator, fresh_token(simulator))
        error = _graph_error(hunt(graph, ANY_QUERY), 403, "Forbidden")
        assert "ThreatHunting.Read.All" in error["message"]


class TestQuota:
    def test_default_is_45_calls_then_429_with_retry_after(self, simulator, graph):
        statuses = [hunt(graph, ANY_QUERY).status_code for _ in range(45)]
        refused = hunt(graph, ANY_QUERY)
        assert statuses == [200] * 45
        error = _graph_error(refused, 429, "TooManyRequests")
        assert "45 calls per min" in error["message"]
        assert 0 < float(refused.headers["Retry-After"]) <= 60
        # Hunting's quota is its own: the incidents API still answers.
        assert graph.list().status_code == 200
        assert simulator.admin.count(route=HUNTING, status=200) == 45
        assert simulator.admin.count(route=HUNTING, status=429) == 1

    def test_configurable_and_refusals_are_free(self, simulator, graph):
        simulator.admin.set_faults("hunting_quota=2/h")
        assert simulator.admin.faults()["hunting_quota"] == "2/h"
        assert [hunt(graph, ANY_QUERY).status_code for _ in range(5)] == [200, 200, 429, 429, 429]
        simulator.admin.set_faults("hunting_quota=2/h")  # a fresh window
        assert [hunt(graph, ANY_QUERY).status_code for _ in range(3)] == [200, 200, 429]

    def test_off_for_bulk_runs(self, simulator, graph):
        simulator.admin.set_faults("hunting_quota=off")
        assert simulator.admin.faults()["hunting_quota"] is None
        assert {hunt(graph, ANY_QUERY).status_code for _ in range(60)} == {200}

    def test_a_refused_query_uses_its_call(self, simulator, graph):
        simulator.admin.set_faults("hunting_quota=1/h")
        assert hunt(graph, "EmailEvents | summarize count()").status_code == 400
        assert hunt(graph, ANY_QUERY).status_code == 429

    def test_per_app(self, simulator, graph, certificate):
        simulator.admin.set_faults("hunting_quota=1/h")
        other = Graph(simulator, app_token(simulator, OTHER_APP, certificate))
        assert [hunt(graph, ANY_QUERY).status_code, hunt(graph, ANY_QUERY).status_code] == [200, 429]
        assert hunt(other, ANY_QUERY).status_code == 200

    def test_unauthenticated_calls_are_charged_to_nobody(self, simulator, graph):
        simulator.admin.set_faults("hunting_quota=1/h")
        assert Graph(simulator, None).post(HUNTING, {"Query": ANY_QUERY}).status_code == 401
        assert hunt(graph, ANY_QUERY).status_code == 200


class TestFaultsAndLog:
    def test_storms(self, simulator, graph):
        simulator.admin.set_faults("hunting_429=2x,hunting_400=1x,retry_after=0.5")
        first, second, third, fourth = (hunt(graph, ANY_QUERY) for _ in range(4))
        assert [r.status_code for r in (first, second, third, fourth)] == [429, 429, 400, 200]
        assert first.headers["Retry-After"] == "0.5"
        assert "hunting_400" in _graph_error(third, 400, "BadRequest")["message"]
        # The incidents API is untouched by hunting's faults.
        assert graph.get(INCIDENTS).status_code == 200

    def test_every_call_is_in_the_log_and_the_counters(self, simulator, graph):
        simulator.admin.set_faults("hunting_quota=2/h")
        queries = [ANY_QUERY, "EmailEvents | summarize count()", ANY_QUERY]
        statuses = [hunt(graph, query).status_code for query in queries]
        Graph(simulator, None).post(HUNTING, {"Query": "UrlClickEvents"})
        log = simulator.admin.hunting_queries()
        assert [(e["query"], e["status"]) for e in log] == [
            *zip(queries, statuses, strict=True),
            ("UrlClickEvents", 401),
        ]
        assert statuses == [200, 400, 429]
        assert {e["client_id"] for e in log[:3]} == {simulator.client_id}
        assert log[3]["client_id"] is None
        assert simulator.admin.count(route=HUNTING) == len(log)
        simulator.admin.clear_hunting_queries()
        assert simulator.admin.hunting_queries() == []
