from __future__ import annotations

import pytest

from tests.simulator.conftest import INCIDENTS
from xops_provider.models.timestamps import GraphTime
from xops_provider.simulator import CLIENT_ID, DEFAULT_ROLES, READ_ROLE
from xops_provider.simulator.admin import SimulatorAdminError
from xops_provider.simulator.scenarios.company_xyz import (
    CLICK_INCIDENT_ID,
    MAIN_INCIDENT_ID,
    WAVE2_INCIDENT_ID,
)


def _time(incident):
    return GraphTime.parse(incident["lastUpdateDateTime"])


class TestCreate:
    def test_realistic_defaults(self, simulator, graph):
        created = simulator.admin.create_incident()
        assert created["id"].isdigit()
        assert created["status"] == "active"
        assert created["alerts"]
        assert all(a["id"].startswith("fa") for a in created["alerts"])
        assert all(a["incidentId"] == created["id"] for a in created["alerts"])
        listed = graph.list(**{"$expand": "alerts"}).json()["value"]
        assert [i["id"] for i in listed] == [created["id"]]

    def test_overrides(self, simulator):
        created = simulator.admin.create_incident(
            id="777", displayName="Custom <title>", severity="low", alerts=[{"id": "fa-custom", "title": "x"}]
        )
        assert (created["id"], created["displayName"], created["severity"]) == (
            "777",
            "Custom <title>",
            "low",
        )
        assert [a["id"] for a in created["alerts"]] == ["fa-custom"]
        assert created["alerts"][0]["incidentId"] == "777"

    def test_duplicate_and_non_numeric_ids_are_refused(self, simulator):
        simulator.admin.create_incident(id="5")
        with pytest.raises(SimulatorAdminError, match="already exists"):
            simulator.admin.create_incident(id="5")
        with pytest.raises(SimulatorAdminError, match="numeric"):
            simulator.admin.create_incident(id="abc")

    def test_bulk_shares_one_timestamp(self, simulator):
        result = simulator.admin.bulk_create(7)
        incidents = simulator.admin.incidents()
        assert len(result["ids"]) == 7
        assert {i["lastUpdateDateTime"] for i in incidents} == {result["lastUpdateDateTime"]}
        assert [i["id"] for i in incidents] == sorted(result["ids"], key=int)

    def test_bulk_with_a_given_short_timestamp(self, simulator):
        result = simulator.admin.bulk_create(3, last_update="2026-11-27T10:00:33.1Z")
        assert {i["lastUpdateDateTime"] for i in simulator.admin.incidents()} == {"2026-11-27T10:00:33.1Z"}
        assert result["lastUpdateDateTime"] == "2026-11-27T10:00:33.1Z"


@pytest.mark.simulator(scenario="company-xyz")
class TestChanges:
    def test_updates_bump_to_unique_increasing_times(self, simulator):
        times = [
            _time(simulator.admin.update_incident(WAVE2_INCIDENT_ID, assignedTo=f"a{n}@x")) for n in range(6)
        ]
        assert times == sorted(times)
        assert len(set(times)) == 6
        assert all(
            t > _time(i) for i in simulator.admin.incidents() if i["id"] != WAVE2_INCIDENT_ID for t in times
        )
        stamp = simulator.admin.incident(WAVE2_INCIDENT_ID)["lastUpdateDateTime"]
        assert len(stamp.split(".")[1]) == 8  # seven digits and the Z

    def test_update_any_field(self, simulator):
        updated = simulator.admin.update_incident(MAIN_INCIDENT_ID, severity="low", summary="from a test")
        assert (updated["severity"], updated["summary"]) == ("low", "from a test")

    def test_resolve_and_reopen(self, simulator):
        resolved = simulator.admin.resolve(MAIN_INCIDENT_ID, comment="done")
        assert (resolved["status"], resolved["classification"], resolved["resolvingComment"]) == (
            "resolved",
            "truePositive",
            "done",
        )
        reopened = simulator.admin.reopen(MAIN_INCIDENT_ID)
        assert reopened["status"] == "active"
        assert _time(reopened) > _time(resolved)

    def test_merge_moves_alerts_and_bumps_both(self, simulator):
        before = {i["id"]: i for i in simulator.admin.incidents()}
        result = simulator.admin.merge(WAVE2_INCIDENT_ID, into=MAIN_INCIDENT_ID)
        source, target = result["source"], result["target"]
        assert (source["status"], source["redirectIncidentId"], source["alerts"]) == (
            "redirected",
            MAIN_INCIDENT_ID,
            [],
        )
        moved = {a["id"] for a in before[WAVE2_INCIDENT_ID]["alerts"]}
        assert moved <= {a["id"] for a in target["alerts"]}
        assert all(a["incidentId"] == MAIN_INCIDENT_ID for a in target["alerts"])
        assert _time(source) > _time(before[WAVE2_INCIDENT_ID])
        assert _time(target) > _time(source)

    def test_merge_into_itself_is_refused(self, simulator):
        with pytest.raises(SimulatorAdminError, match="itself"):
            simulator.admin.merge(MAIN_INCIDENT_ID, into=MAIN_INCIDENT_ID)

    def test_add_and_remove_alert(self, simulator):
        before = simulator.admin.incident(WAVE2_INCIDENT_ID)
        added = simulator.admin.add_alert(WAVE2_INCIDENT_ID, title="User clicked <again>")
        new = [a for a in added["alerts"] if a["title"] == "User clicked <again>"]
        assert len(new) == 1
        assert new[0]["id"].startswith("fa")
        assert _time(added) > _time(before)
        removed = simulator.admin.remove_alert(new[0]["id"])
        assert [a["id"] for a in removed["alerts"]] == [a["id"] for a in before["alerts"]]
        assert _time(removed) > _time(added)

    def test_unknown_ids(self, simulator):
        with pytest.raises(SimulatorAdminError, match="404"):
            simulator.admin.update_incident("424242", status="active")
        with pytest.raises(SimulatorAdminError, match="404"):
            simulator.admin.remove_alert("fa-nope")

    def test_full_list_is_in_graph_order(self, simulator):
        incidents = simulator.admin.incidents()
        assert [i["id"] for i in incidents][-1] == WAVE2_INCIDENT_ID
        assert incidents == sorted(incidents, key=lambda i: (_time(i), int(i["id"])))
        assert next(i for i in incidents if i["id"] == CLICK_INCIDENT_ID)["status"] == "redirected"


class TestIdentityAdmin:
    def test_roles_and_apps_never_show_secrets(self, simulator):
        simulator.admin.set_roles(CLIENT_ID, [READ_ROLE])
        apps = simulator.admin.apps()
        assert apps == [
            {
                "client_id": CLIENT_ID,
                "has_secret": True,
                "roles": [READ_ROLE],
                "certificates": [],
                "consent": "grant",
                "redirect_uris": [],
            }
        ]
        assert simulator.connection["password"] not in str(apps)

    def test_reset_restores_default_roles(self, simulator):
        assert simulator.admin.apps()[0]["roles"] == list(DEFAULT_ROLES)


class TestCounters:
    def test_counts_graph_and_identity_but_not_admin(self, simulator, graph):
        graph.list()
        graph.get(f"{INCIDENTS}/1")
        counters = simulator.admin.counters()
        rows = {(r["method"], r["route"], r["status"]): r["count"] for r in counters["requests"]}
        assert rows == {
            ("POST", "/{tenant}/oauth2/v2.0/token", 200): 1,
            ("GET", INCIDENTS, 200): 1,
            ("GET", INCIDENTS + "/{incident_id}", 404): 1,
        }
        assert counters["tokens_issued"] == 1
        simulator.admin.reset_counters()
        assert simulator.admin.counters()["total"] == 0

    def test_openapi_documents_the_admin_api(self, simulator):
        import requests

        spec = requests.get(
            f"{simulator.base_url}/_admin/openapi.json", verify=str(simulator.ca_path), timeout=30
        )
        paths = spec.json()["paths"]
        assert {"/_admin/reset", "/_admin/faults", "/_admin/incidents/bulk", "/_admin/counters"} <= set(paths)


class TestScenarioSwitch:
    def test_load_scenario_keeps_faults(self, simulator):
        simulator.admin.set_faults("429=0.1")
        health = simulator.admin.load_scenario("company-xyz")
        assert (health["scenario"], health["incidents"], health["faults"]) == (
            "company-xyz",
            4,
            "429=0.1,retry_after=1",
        )

    def test_unknown_scenario(self, simulator):
        with pytest.raises(SimulatorAdminError, match="unknown scenario"):
            simulator.admin.reset(scenario="nope")

    def test_bad_fault_spec(self, simulator):
        with pytest.raises(SimulatorAdminError, match="unknown fault"):
            simulator.admin.set_faults("teapot=1")

    def test_reset_without_a_seed_returns_to_the_servers_seed(self, simulator):
        def alert_ids(**seed):
            simulator.admin.reset(scenario="generated", incidents=5, **seed)
            return [a["id"] for i in simulator.admin.incidents() for a in i["alerts"]]

        other = alert_ids(seed=9)
        assert alert_ids() == alert_ids(seed=0) != other

    def test_new_ids_follow_the_scenarios(self, simulator):
        simulator.admin.load_scenario("generated", incidents=3)
        assert simulator.admin.create_incident()["id"] == "100004"
