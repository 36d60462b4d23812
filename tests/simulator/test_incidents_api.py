from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.simulator.conftest import INCIDENTS, Graph, fresh_token
from xops_provider.models.timestamps import GraphTime
from xops_provider.simulator import CLIENT_ID, READ_ROLE

GENERATED = pytest.mark.simulator(scenario="generated", incidents=130, seed=11)


def _key(incident):
    return (GraphTime.parse(incident["lastUpdateDateTime"]).ticks, int(incident["id"]))


@GENERATED
class TestListing:
    def test_walks_every_incident_once_in_order(self, simulator, graph):
        listed = graph.walk(**{"$orderby": "lastUpdateDateTime asc"})
        expected = simulator.admin.incidents()
        assert [i["id"] for i in listed] == [i["id"] for i in expected]
        assert listed == sorted(listed, key=_key)
        assert len({i["id"] for i in listed}) == 130

    def test_default_and_desc_order_are_newest_first(self, graph):
        desc = graph.walk(**{"$orderby": "lastUpdateDateTime desc"})
        assert desc == sorted(desc, key=_key, reverse=True)
        assert graph.walk() == desc

    def test_next_link_is_absolute_on_the_same_host_with_skip(self, simulator, graph):
        body = graph.list(**{"$top": "50", "$filter": "status ne 'resolved'", "$expand": "alerts"}).json()
        link = urlsplit(body["@odata.nextLink"])
        assert f"{link.scheme}://{link.netloc}" == simulator.base_url
        assert link.path == INCIDENTS
        query = parse_qs(link.query)
        assert query["$skip"] == ["50"]
        assert query["$filter"] == ["status ne 'resolved'"]
        assert query["$expand"] == ["alerts"]
        assert body["@odata.context"] == f"{simulator.base_url}/v1.0/$metadata#security/incidents(alerts())"

    def test_last_page_has_no_next_link(self, graph):
        body = graph.list(**{"$skip": "100", "$top": "50"}).json()
        assert len(body["value"]) == 30
        assert "@odata.nextLink" not in body

    def test_top_zero_has_no_next_link(self, graph):
        body = graph.list(**{"$top": "0", "$count": "true"}).json()
        assert (body["value"], body["@odata.count"]) == ([], 130)
        assert "@odata.nextLink" not in body

    def test_top_defaults_to_fifty(self, graph):
        assert len(graph.list().json()["value"]) == 50

    def test_count(self, graph):
        body = graph.list(**{"$count": "true", "$top": "5", "$filter": "status eq 'redirected'"}).json()
        redirected = [i for i in graph.walk() if i["status"].lower() == "redirected"]
        assert body["@odata.count"] == len(redirected)

    @pytest.mark.parametrize(
        ("op", "keep"),
        [
            pytest.param("ge", lambda t, pivot: t >= pivot, id="ge"),
            pytest.param("gt", lambda t, pivot: t > pivot, id="gt"),
            pytest.param("le", lambda t, pivot: t <= pivot, id="le"),
            pytest.param("lt", lambda t, pivot: t < pivot, id="lt"),
            pytest.param("eq", lambda t, pivot: t == pivot, id="eq"),
            pytest.param("ne", lambda t, pivot: t != pivot, id="ne"),
        ],
    )
    def test_last_update_filter_keeps_all_seven_digits(self, simulator, graph, op, keep):
        everything = simulator.admin.incidents()
        pivot = GraphTime.parse(everything[60]["lastUpdateDateTime"])
        listed = graph.walk(**{"$filter": f"lastUpdateDateTime {op} {pivot.isoformat()}"})
        expected = {i["id"] for i in everything if keep(GraphTime.parse(i["lastUpdateDateTime"]), pivot)}
        assert {i["id"] for i in listed} == expected

    def test_one_tick_later_excludes_the_pivot(self, simulator, graph):
        everything = simulator.admin.incidents()
        pivot = GraphTime.parse(everything[60]["lastUpdateDateTime"])
        listed = graph.walk(**{"$filter": f"lastUpdateDateTime ge {pivot.shift(seconds=1e-7).isoformat()}"})
        assert everything[60]["id"] not in {i["id"] for i in listed}
        assert len(listed) == 130 - 61

    def test_created_status_and_severity_filters_combine(self, simulator, graph):
        everything = simulator.admin.incidents()
        pivot = GraphTime.parse(everything[30]["createdDateTime"])
        listed = graph.walk(
            **{"$filter": f"createdDateTime gt {pivot} and status eq 'active' and severity ne 'low'"}
        )
        expected = {
            i["id"]
            for i in everything
            if GraphTime.parse(i["createdDateTime"]) > pivot
            and i["status"].lower() == "active"
            and i["severity"].lower() != "low"
        }
        assert expected
        assert {i["id"] for i in listed} == expected

    def test_expand_alerts(self, graph):
        page = graph.list(**{"$expand": "alerts", "$top": "20"}).json()["value"]
        assert all(isinstance(i["alerts"], list) for i in page)
        assert any(i["alerts"] for i in page)
        assert all("alerts" not in i for i in graph.list(**{"$top": "20"}).json()["value"])

    def test_select(self, graph):
        page = graph.list(**{"$select": "status,severity", "$top": "3"}).json()["value"]
        assert all(set(i) == {"id", "status", "severity"} for i in page)


class TestTies:
    def test_next_link_walks_a_tie_group_larger_than_a_page(self, simulator, graph):
        simulator.admin.create_incident()
        tie = simulator.admin.bulk_create(120)
        simulator.admin.create_incident()
        listed = graph.walk(
            **{
                "$filter": f"lastUpdateDateTime ge {tie['lastUpdateDateTime']}",
                "$orderby": "lastUpdateDateTime asc",
            }
        )
        tied = [i["id"] for i in listed if i["lastUpdateDateTime"] == tie["lastUpdateDateTime"]]
        assert tied == sorted(tie["ids"], key=int)
        assert len(listed) == 121


class TestErrors:
    def test_top_over_fifty_answers_graphs_exact_error(self, graph):
        response = graph.list(**{"$top": "51"})
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == ""
        assert error["message"] == (
            "The query specified in the URI is not valid. The limit of '50' for Top query has been exceeded. "
            "The value from the incoming request is '51'."
        )
        assert error["details"] == []

    @pytest.mark.parametrize(
        "expression",
        [
            pytest.param("status eq 'active' or severity eq 'high'", id="or"),
            pytest.param("startswith(displayName,'x')", id="function"),
            pytest.param("displayName eq 'x'", id="field"),
        ],
    )
    def test_invalid_filter_is_a_graph_bad_request(self, graph, expression):
        response = graph.session.get(
            graph.base_url + INCIDENTS,
            params={"$filter": expression},
            headers={"client-request-id": "abc-123"},
        )
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "BadRequest"
        assert error["message"].startswith("Invalid filter clause")
        assert set(error["innerError"]) == {"date", "request-id", "client-request-id"}
        assert error["innerError"]["request-id"] == response.headers["request-id"]
        assert response.headers["client-request-id"] == error["innerError"]["client-request-id"] == "abc-123"

    def test_missing_token(self, simulator):
        response = Graph(simulator, None).list()
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "InvalidAuthenticationToken"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")

    def test_unknown_token(self, simulator):
        response = Graph(simulator, "simtok.not-a-token").list()
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "InvalidAuthenticationToken"

    def test_token_without_read_permission(self, simulator):
        simulator.admin.set_roles(CLIENT_ID, ["ThreatHunting.Read.All"])
        response = Graph(simulator, fresh_token(simulator)).list()
        assert response.status_code == 403
        error = response.json()["error"]
        assert error["code"] == "Forbidden"
        assert READ_ROLE in error["message"]

    def test_unknown_segment(self, graph):
        response = graph.get("/v1.0/security/incidentz")
        assert response.status_code == 400
        assert response.json()["error"]["message"] == "Resource not found for the segment 'incidentz'."


@pytest.mark.simulator(scenario="company-xyz")
class TestOneIncident:
    def test_get_with_and_without_alerts(self, simulator, graph):
        from xops_provider.simulator.scenarios.company_xyz import MAIN_INCIDENT_ID

        plain = graph.get(f"{INCIDENTS}/{MAIN_INCIDENT_ID}").json()
        assert plain["id"] == MAIN_INCIDENT_ID
        assert "alerts" not in plain
        assert plain["@odata.context"].endswith("#security/incidents/$entity")
        expanded = graph.get(f"{INCIDENTS}/{MAIN_INCIDENT_ID}", **{"$expand": "alerts"}).json()
        assert len(expanded["alerts"]) == 2
        alerts = graph.get(f"{INCIDENTS}/{MAIN_INCIDENT_ID}/alerts").json()["value"]
        assert [a["id"] for a in alerts] == [a["id"] for a in expanded["alerts"]]

    def test_unknown_incident(self, graph):
        response = graph.get(f"{INCIDENTS}/999999")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "NotFound"

    def test_patch_updates_and_bumps(self, simulator, graph):
        from xops_provider.simulator.scenarios.company_xyz import WAVE2_INCIDENT_ID

        before = simulator.admin.incident(WAVE2_INCIDENT_ID)
        response = graph.patch(
            WAVE2_INCIDENT_ID,
            {
                "status": "resolved",
                "classification": "truePositive",
                "determination": "phishing",
                "assignedTo": "soc@companyxyz.com",
                "customTags": ["xops"],
                "resolvingComment": "Campaign contained",
            },
        )
        assert response.status_code == 200, response.text
        after = response.json()
        assert (after["status"], after["classification"], after["determination"]) == (
            "resolved",
            "truePositive",
            "phishing",
        )
        assert after["customTags"] == ["xops"]
        assert GraphTime.parse(after["lastUpdateDateTime"]) > GraphTime.parse(before["lastUpdateDateTime"])
        assert simulator.admin.incident(WAVE2_INCIDENT_ID)["resolvingComment"] == "Campaign contained"

    @pytest.mark.parametrize(
        "body",
        [
            pytest.param({"severity": "low"}, id="read-only-property"),
            pytest.param({"status": "sleeping"}, id="bad-member"),
            pytest.param({"status": "redirected"}, id="redirect-is-defenders"),
            pytest.param({"classification": "unknownFutureValue"}, id="sentinel"),
            pytest.param({"customTags": "x"}, id="tags-not-a-list"),
        ],
    )
    def test_patch_refuses(self, graph, body):
        from xops_provider.simulator.scenarios.company_xyz import WAVE2_INCIDENT_ID

        response = graph.patch(WAVE2_INCIDENT_ID, body)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "BadRequest"

    def test_patch_needs_write_permission(self, simulator):
        from xops_provider.simulator.scenarios.company_xyz import WAVE2_INCIDENT_ID

        simulator.admin.set_roles(CLIENT_ID, [READ_ROLE])
        response = Graph(simulator, fresh_token(simulator)).patch(WAVE2_INCIDENT_ID, {"status": "resolved"})
        assert response.status_code == 403
        assert "SecurityIncident.ReadWrite.All" in response.json()["error"]["message"]

    def test_comment(self, simulator, graph):
        from xops_provider.simulator.scenarios.company_xyz import MAIN_INCIDENT_ID

        before = simulator.admin.incident(MAIN_INCIDENT_ID)["lastUpdateDateTime"]
        response = graph.post(
            f"{INCIDENTS}/{MAIN_INCIDENT_ID}/comments",
            {
                "@odata.type": "microsoft.graph.security.alertComment",
                "comment": "Story <b>opened</b> in XOps",
            },
        )
        assert response.status_code == 200, response.text
        comments = response.json()["value"]
        assert comments[-1]["comment"] == "Story <b>opened</b> in XOps"
        assert comments[-1]["createdByDisplayName"] == f"API-App:{CLIENT_ID}"
        after = simulator.admin.incident(MAIN_INCIDENT_ID)
        assert after["comments"][-1]["comment"] == "Story <b>opened</b> in XOps"
        assert GraphTime.parse(after["lastUpdateDateTime"]) > GraphTime.parse(before)


class TestUnknownEnumMembers:
    def test_awaiting_action_needs_the_prefer_header(self, simulator, graph):
        created = simulator.admin.create_incident(status="awaitingAction")
        assert graph.list().json()["value"][0]["status"] == "unknownFutureValue"
        assert graph.get(f"{INCIDENTS}/{created['id']}").json()["status"] == "unknownFutureValue"
        graph.session.headers["Prefer"] = "include-unknown-enum-members"
        assert graph.list().json()["value"][0]["status"] == "awaitingAction"
        assert graph.get(f"{INCIDENTS}/{created['id']}").json()["status"] == "awaitingAction"


@pytest.mark.simulator(scenario="generated", incidents=200, seed=2)
class TestConcurrency:
    def test_parallel_pages_are_all_answered(self, graph):
        from concurrent.futures import ThreadPoolExecutor

        def page(skip):
            return graph.list(
                **{"$skip": str(skip), "$expand": "alerts", "$orderby": "lastUpdateDateTime asc"}
            )

        with ThreadPoolExecutor(max_workers=8) as pool:
            responses = list(pool.map(page, range(0, 200, 10)))
        assert {r.status_code for r in responses} == {200}
        firsts = [r.json()["value"][0]["id"] for r in responses]
        assert len(set(firsts)) == len(firsts)
