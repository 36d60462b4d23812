"""``GET /v1.0/security/alerts_v2`` over the real simulator: filters, paging and permission."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.simulator.conftest import ALERTS, Graph, fresh_token
from xops_provider.models.timestamps import GraphTime
from xops_provider.simulator import READ_ROLE
from xops_provider.simulator.scenarios import company_xyz as xyz

MDE = "microsoftDefenderForEndpoint"
MDO = "microsoftDefenderForOffice365"


def _walk(graph: Graph, **params: str) -> list[dict]:
    items: list[dict] = []
    response = graph.get(ALERTS, **params)
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body["value"])
        if "@odata.nextLink" not in body:
            return items
        response = graph.get(body["@odata.nextLink"])


def _ids(graph: Graph, **params: str) -> list[str]:
    return [alert["id"] for alert in _walk(graph, **params)]


@pytest.mark.simulator(scenario="company-xyz")
class TestFilters:
    def test_every_alert_of_every_incident(self, simulator, graph):
        expected = {a["id"] for i in simulator.admin.incidents() for a in i["alerts"]}
        assert set(_ids(graph)) == expected
        assert len(expected) == 5

    @pytest.mark.parametrize(
        ("expression", "count"),
        [
            pytest.param(f"serviceSource eq '{MDE}'", 1, id="service-source"),
            pytest.param(f"serviceSource eq '{MDO}'", 4, id="mdo"),
            pytest.param(f"(serviceSource eq '{MDE}' or serviceSource eq '{MDO}')", 5, id="or-group"),
            pytest.param(
                f"serviceSource eq '{MDE}' or serviceSource eq 'microsoftDefenderForIdentity'", 1, id="or"
            ),
            pytest.param("severity eq 'High'", 1, id="severity-any-case"),
            pytest.param("severity ge 'medium'", 4, id="severity-order"),
            pytest.param("status eq 'inProgress'", 1, id="status"),
            pytest.param(f"serviceSource ne '{MDO}' and status eq 'new'", 1, id="and"),
        ],
    )
    def test_filter(self, graph, expression, count):
        assert len(_ids(graph, **{"$filter": expression})) == count

    def test_endpoint_alert_is_bobs_after_delivery(self, simulator, graph):
        truth = simulator.admin.correlation_truth()
        delivered = truth["times"]["wave1_delivered"]
        [alert] = _walk(graph, **{"$filter": f"serviceSource eq '{MDE}' and createdDateTime ge {delivered}"})
        assert alert["id"] == xyz.ENDPOINT_ALERT_ID
        devices = [e for e in alert["evidence"] if e["@odata.type"].endswith("deviceEvidence")]
        assert devices[0]["mdeDeviceId"] == xyz.ENDPOINT_DEVICE_ID

    def test_time_filters_keep_seven_digits(self, simulator, graph):
        alerts = simulator.admin.alerts()
        pivot = GraphTime.parse(alerts[2]["createdDateTime"])
        later = _ids(graph, **{"$filter": f"createdDateTime gt {pivot.isoformat()}"})
        assert set(later) == {a["id"] for a in alerts if GraphTime.parse(a["createdDateTime"]) > pivot}
        updated = _ids(graph, **{"$filter": f"lastUpdateDateTime le {pivot.isoformat()}"})
        assert set(updated) == {a["id"] for a in alerts if GraphTime.parse(a["lastUpdateDateTime"]) <= pivot}

    @pytest.mark.parametrize(
        ("expression", "match"),
        [
            pytest.param(
                f"serviceSource eq '{MDE}' or severity eq 'high'", "'or' is only supported", id="or-mixed"
            ),
            pytest.param(f"serviceSource ne '{MDE}' or serviceSource ne '{MDO}'", "'or'", id="or-ne"),
            pytest.param(
                "severity eq 'high' or severity eq 'low'", "'or' is only supported", id="or-severity"
            ),
            pytest.param("serviceSource eq 'microsoftDefenderForPizza'", "enumeration", id="unknown-member"),
            pytest.param("title eq 'x'", "property 'title'", id="other-property"),
            pytest.param("createdDateTime ge '2026-01-01T00:00:00Z'", "incompatible types", id="quoted-date"),
            pytest.param("not (severity eq 'high')", "'not'", id="not"),
        ],
    )
    def test_refused_filter(self, graph, expression, match):
        response = graph.get(ALERTS, **{"$filter": expression})
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "BadRequest"
        assert error["message"].startswith("Invalid filter clause")
        assert match in error["message"]

    def test_needs_security_alert_permission(self, simulator):
        simulator.admin.set_roles(simulator.client_id, [READ_ROLE])
        response = Graph(simulator, fresh_token(simulator)).get(ALERTS)
        assert response.status_code == 403
        assert "SecurityAlert.Read.All" in response.json()["error"]["message"]

    def test_one_alert(self, graph):
        response = graph.get(f"{ALERTS}/{xyz.ENDPOINT_ALERT_ID}")
        assert response.status_code == 200
        assert response.json()["@odata.context"].endswith("security/alerts_v2/$entity")
        assert response.json()["serviceSource"] == MDE
        assert graph.get(f"{ALERTS}/nope").json()["error"]["code"] == "NotFound"


@pytest.mark.simulator(scenario="generated", incidents=120)
class TestPaging:
    def test_next_links_walk_every_alert_once(self, simulator, graph):
        expected = [a["id"] for a in simulator.admin.alerts()]
        walked = _ids(graph, **{"$top": "25", "$orderby": "createdDateTime asc"})
        assert len(walked) == len(set(walked)) == len(expected) > 100
        assert set(walked) == set(expected)

    def test_next_link_keeps_the_options(self, graph):
        body = graph.get(
            ALERTS, **{"$top": "10", "$filter": f"serviceSource eq '{MDO}'", "$count": "true"}
        ).json()
        assert body["@odata.count"] > 10
        query = parse_qs(urlsplit(body["@odata.nextLink"]).query)
        assert query["$skip"] == ["10"]
        assert query["$filter"] == [f"serviceSource eq '{MDO}'"]

    @pytest.mark.parametrize("direction", ["asc", "desc"])
    def test_orderby(self, graph, direction):
        alerts = _walk(graph, **{"$orderby": f"createdDateTime {direction}"})
        stamps = [GraphTime.parse(a["createdDateTime"]) for a in alerts]
        assert stamps == sorted(stamps, reverse=direction == "desc")

    def test_default_page_is_2000_and_more_is_refused(self, graph):
        assert "@odata.nextLink" not in graph.get(ALERTS).json()
        response = graph.get(ALERTS, **{"$top": "2001"})
        assert response.status_code == 400
        assert "The limit of '2000' for Top query has been exceeded" in response.json()["error"]["message"]

    def test_skip_ceiling_fault_applies(self, simulator, graph):
        simulator.admin.set_faults("skip_ceiling=50")
        assert graph.get(ALERTS, **{"$top": "25", "$skip": "25"}).status_code == 200
        assert graph.get(ALERTS, **{"$top": "25", "$skip": "26"}).status_code == 400


class TestLiveAlerts:
    def test_an_added_alert_is_listed_at_once(self, simulator, graph):
        created = simulator.admin.create_alert(
            id="da000000000000000001_-1", serviceSource=MDE, severity="high", title="Live endpoint alert"
        )
        assert created["incidentId"] in {i["id"] for i in simulator.admin.incidents()}
        assert _ids(graph, **{"$filter": f"serviceSource eq '{MDE}'"}) == ["da000000000000000001_-1"]

    def test_into_an_existing_incident(self, simulator, graph):
        incident = simulator.admin.create_incident()
        alert = simulator.admin.create_alert(incidentId=incident["id"])
        assert alert["incidentId"] == incident["id"]
        assert alert["id"] in _ids(graph)
