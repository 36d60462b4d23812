"""Company XYZ's correlation truth agrees with its incidents and with what the hunting, alerts_v2
and Cato APIs serve; the noise is there, and does not join."""

from __future__ import annotations

import pytest

from tests.simulator.conftest import ALERTS, Graph, fresh_token, hunt_rows
from xops_provider.models.incident import evidence_kind
from xops_provider.models.normalize import normalize_domain, url_domain
from xops_provider.models.timestamps import TICKS_PER_SECOND, GraphTime
from xops_provider.simulator.scenarios import company_xyz as xyz

TRUTH = xyz.COMPANY_XYZ_CORRELATION_TRUTH
DAY = 24 * 3600 * TICKS_PER_SECOND

pytestmark = pytest.mark.simulator(scenario="company-xyz")


@pytest.fixture
def messages(simulator) -> dict[str, dict]:
    """Every ``analyzedMessageEvidence`` of the incidents, by ``networkMessageId``."""
    found: dict[str, dict] = {}
    for incident in simulator.admin.incidents():
        for alert in incident["alerts"]:
            for evidence in alert["evidence"]:
                if evidence_kind(evidence["@odata.type"]) == "analyzedMessageEvidence":
                    found.setdefault(evidence["networkMessageId"], evidence)
    return found


def _delivered(messages: dict[str, dict]) -> dict[str, list[int]]:
    by_user: dict[str, list[int]] = {}
    for evidence in messages.values():
        by_user.setdefault(evidence["recipientEmailAddress"], []).append(
            GraphTime.parse(evidence["receivedDateTime"]).ticks
        )
    return by_user


def _within_a_day_after_delivery(delivered: dict[str, list[int]], user: str, ticks: int) -> bool:
    return any(0 <= ticks - at <= DAY for at in delivered.get(user, []))


class TestMessages:
    def test_message_ids_are_the_incidents(self, messages):
        waves = TRUTH["message_ids"]
        assert set(messages) == {*waves["wave1"].values(), *waves["wave2"].values()}
        for message_id, evidence in messages.items():
            recipient = evidence["recipientEmailAddress"]
            assert message_id in (waves["wave1"].get(recipient), waves["wave2"].get(recipient))

    def test_email_events_match_the_evidence(self, graph, messages):
        rows = hunt_rows(graph, "EmailEvents")
        assert len(rows) == len(messages) == 7
        for row in rows:
            evidence = messages[row["NetworkMessageId"]]
            assert row["RecipientEmailAddress"] == evidence["recipientEmailAddress"]
            assert row["Subject"] == evidence["subject"]
            assert row["SenderFromAddress"] == evidence["p1Sender"]["emailAddress"]
            assert row["SenderIPv4"] == evidence["senderIp"]
            assert GraphTime.parse(row["Timestamp"]) == GraphTime.parse(evidence["receivedDateTime"])

    def test_url_info_carries_the_campaign_urls(self, graph, messages):
        rows = hunt_rows(graph, "EmailUrlInfo")
        assert {row["NetworkMessageId"] for row in rows} == set(messages)
        for row in rows:
            assert [row["Url"]] == messages[row["NetworkMessageId"]]["urls"]
            assert row["UrlDomain"] == TRUTH["campaign_domain"]

    def test_every_copy_was_zapped(self, graph):
        rows = hunt_rows(graph, 'EmailPostDeliveryEvents | where ActionType == "Phish ZAP"')
        assert sorted(row["NetworkMessageId"] for row in rows) == sorted(TRUTH["zapped_message_ids"])


class TestClicks:
    def test_exactly_one_click_through_and_one_blocked(self, graph):
        through = hunt_rows(
            graph, 'UrlClickEvents | where IsClickedThrough == true and ActionType == "ClickAllowed"'
        )
        blocked = hunt_rows(graph, 'UrlClickEvents | where ActionType == "ClickBlocked"')
        assert [row["AccountUpn"] for row in through] == list(TRUTH["clicked_through"])
        assert [row["AccountUpn"] for row in blocked] == list(TRUTH["click_blocked"])
        assert len(hunt_rows(graph, "UrlClickEvents")) == 2

    def test_clicks_join_their_own_copies(self, simulator, graph):
        times = simulator.admin.correlation_truth()["times"]
        rows = {row["AccountUpn"]: row for row in hunt_rows(graph, "UrlClickEvents")}
        for click in TRUTH["clicks"]:
            row = rows[click["upn"]]
            assert row["NetworkMessageId"] == TRUTH["message_ids"]["wave1"][click["upn"]]
            assert (row["ActionType"], row["IsClickedThrough"], row["Url"], row["IPAddress"]) == (
                click["action"],
                click["is_clicked_through"],
                click["url"],
                click["ip"],
            )
        assert GraphTime.parse(rows[xyz.CLICKER]["Timestamp"]) == GraphTime.parse(times["bob_click"])

    def test_the_click_alert_is_bobs_click(self, simulator, graph):
        main = simulator.admin.incident(xyz.MAIN_INCIDENT_ID)
        alert = next(a for a in main["alerts"] if a["title"].startswith("A potentially malicious URL click"))
        [row] = hunt_rows(graph, "UrlClickEvents | where IsClickedThrough == true")
        assert GraphTime.parse(row["Timestamp"]) == GraphTime.parse(alert["firstActivityDateTime"])

    def test_silent_recipients_never_clicked(self, graph):
        users = ", ".join(f'"{u}"' for u in TRUTH["never_clicked"])
        assert hunt_rows(graph, f"UrlClickEvents | where AccountUpn in~ ({users})") == []


class TestNetwork:
    def _campaign_visitors(self, events: list[tuple[str, str, int]], delivered) -> dict[str, int]:
        visitors: dict[str, int] = {}
        for user, domain, ticks in events:
            if domain == TRUTH["campaign_domain"] and _within_a_day_after_delivery(delivered, user, ticks):
                visitors[user] = visitors.get(user, 0) + 1
        return visitors

    def test_cato_reaches_the_domain_only_for_bob(self, simulator, messages):
        events = [
            (
                record["fieldsMap"]["vpn_user_email"],
                normalize_domain(record["fieldsMap"]["domain_name"]),
                int(record["fieldsMap"]["time"]) * 10_000,
            )
            for record in simulator.admin.cato_events()
        ]
        visitors = self._campaign_visitors(events, _delivered(messages))
        assert tuple(visitors) == TRUTH["reached_domain_via_cato"]
        assert visitors[xyz.CLICKER] == TRUTH["domain_events"]["cato"]
        self._noise_is_there(events)

    def test_device_network_events_reach_the_domain_only_for_bob(self, graph, messages):
        rows = hunt_rows(graph, "DeviceNetworkEvents")
        events = [
            (
                row["InitiatingProcessAccountUpn"],
                url_domain(row["RemoteUrl"]),
                GraphTime.parse(row["Timestamp"]).ticks,
            )
            for row in rows
        ]
        visitors = self._campaign_visitors(events, _delivered(messages))
        assert tuple(visitors) == TRUTH["reached_domain_via_device"]
        assert visitors[xyz.CLICKER] == TRUTH["domain_events"]["device"]
        bob = {row["DeviceId"] for row in rows if row["InitiatingProcessAccountUpn"] == xyz.CLICKER}
        assert bob == {TRUTH["endpoint_device"]["id"]}
        self._noise_is_there(events)

    @staticmethod
    def _noise_is_there(events: list[tuple[str, str | None, int]]) -> None:
        noise = TRUTH["must_not_join"]
        assert (noise["unrelated_user"], noise["unrelated_domain"]) in {(u, d) for u, d, _ in events}
        assert (noise["lookalike_visitor"], noise["lookalike_domain"]) in {(u, d) for u, d, _ in events}
        stale = [t for u, d, t in events if u == noise["stale_visitor"] and d == TRUTH["campaign_domain"]]
        assert len(stale) == 1
        silent = {d for u, d, _ in events if u == noise["silent_recipient"]}
        assert not silent & {TRUTH["campaign_domain"], noise["lookalike_domain"]}


class TestEndpoint:
    def test_one_endpoint_alert_on_bobs_user_and_device_after_delivery(self, simulator, graph):
        delivered = simulator.admin.correlation_truth()["times"]["wave1_delivered"]
        endpoint = "serviceSource eq 'microsoftDefenderForEndpoint'"
        response = graph.get(ALERTS, **{"$filter": f"{endpoint} and createdDateTime ge {delivered}"})
        [alert] = response.json()["value"]
        assert alert["id"] == TRUTH["endpoint_alert_id"]
        kinds = {evidence_kind(e["@odata.type"]): e for e in alert["evidence"]}
        assert kinds["userEvidence"]["userAccount"]["userPrincipalName"] == TRUTH["endpoint_device"]["user"]
        device = kinds["deviceEvidence"]
        assert (device["mdeDeviceId"], device["deviceDnsName"]) == (
            TRUTH["endpoint_device"]["id"],
            TRUTH["endpoint_device"]["dns_name"],
        )
        assert TRUTH["endpoint_device"]["ip"] in device["ipInterfaces"]


class TestTruth:
    def test_ids_do_not_depend_on_the_seed(self, simulator):
        simulator.admin.reset(scenario="company-xyz", seed=7)
        rows = hunt_rows(Graph(simulator, fresh_token(simulator)), "EmailEvents | project NetworkMessageId")
        expected = {*TRUTH["message_ids"]["wave1"].values(), *TRUTH["message_ids"]["wave2"].values()}
        assert {row["NetworkMessageId"] for row in rows} == expected
        assert xyz.ENDPOINT_ALERT_ID in {a["id"] for a in simulator.admin.alerts()}

    def test_admin_truth_adds_times_to_the_constant(self, simulator):
        truth = simulator.admin.correlation_truth()
        assert truth["endpoint_alert_id"] == TRUTH["endpoint_alert_id"]
        assert set(truth["times"]) == set(TRUTH["hours"])
        delivered = GraphTime.parse(truth["times"]["wave1_delivered"])
        clicked = GraphTime.parse(truth["times"]["bob_click"])
        assert 0.49 * 3600 < (clicked.ticks - delivered.ticks) / TICKS_PER_SECOND < 0.51 * 3600 + 1
        simulator.admin.load_scenario("empty")
        assert simulator.admin.correlation_truth() == {}
        assert set(simulator.admin.hunting_tables().values()) == {0}
