"""The documented rules: criticality, indication, predicted verdict, status and timeline diffs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.stories.campaign import at, simple_mdo_incident, version_of
from xops_provider.stories.criticality import Signals, criticality, effective_severity
from xops_provider.stories.indication import indication, predicted_verdict
from xops_provider.stories.status import story_status
from xops_provider.stories.timeline import alert_entries, order_timeline, version_entries
from xops_provider.stories.versions import collect_alerts, parse_versions

NO_SIGNALS = Signals()


class TestCriticality:
    @pytest.mark.parametrize(
        ("severity", "classification", "signals", "expected"),
        [
            pytest.param("informational", None, NO_SIGNALS, 2, id="informational"),
            pytest.param("low", None, NO_SIGNALS, 3, id="low"),
            pytest.param("medium", None, NO_SIGNALS, 5, id="medium"),
            pytest.param("high", None, NO_SIGNALS, 7, id="high"),
            pytest.param("unknown", None, NO_SIGNALS, 4, id="unknown"),
            pytest.param("high", "truePositive", NO_SIGNALS, 8, id="true-positive"),
            pytest.param(
                "high", "falsePositive", Signals(clicks=[{"action": "ClickAllowed"}]), 1, id="false-positive"
            ),
            pytest.param("medium", "informationalExpectedActivity", NO_SIGNALS, 2, id="expected-activity"),
            pytest.param("informational", "informationalExpectedActivity", NO_SIGNALS, 1, id="floor"),
            pytest.param("medium", None, Signals(clicks=[{"action": "ClickAllowed"}]), 8, id="click-through"),
            pytest.param(
                "medium",
                None,
                Signals(clicks=[{"action": "ClickBlocked", "clicked_through": False}]),
                5,
                id="blocked-click",
            ),
            pytest.param("medium", None, Signals(network_activity=[{"time": "t"}]), 7, id="network"),
            pytest.param(
                "medium", None, Signals(endpoint_detections=[{"alert_id": "da1"}]), 7, id="endpoint"
            ),
            pytest.param(
                "high",
                "truePositive",
                Signals(
                    clicks=[{"action": "ClickAllowed"}],
                    network_activity=[{"time": "t"}],
                    endpoint_detections=[{"alert_id": "da1"}],
                ),
                10,
                id="ceiling",
            ),
        ],
    )
    def test_rule(self, severity: str, classification: str | None, signals: Signals, expected: int) -> None:
        assert criticality(severity=severity, classification=classification, signals=signals) == expected

    @pytest.mark.parametrize(
        ("incident", "alerts", "expected"),
        [
            pytest.param("low", ["high"], "low", id="incident-wins"),
            pytest.param(None, ["low", "high", None], "high", id="highest-alert"),
            pytest.param("unknown", [], "unknown", id="nothing"),
        ],
    )
    def test_effective_severity(self, incident: str | None, alerts: list[str | None], expected: str) -> None:
        assert effective_severity(incident, alerts) == expected


class TestIndication:
    @pytest.mark.parametrize(
        ("titles", "determinations", "threats", "expected"),
        [
            pytest.param(
                ["Email messages containing malicious URL removed after delivery"],
                [],
                [],
                "Phishing",
                id="url",
            ),
            pytest.param(
                ["Email messages containing malicious file removed after delivery"],
                [],
                [],
                "Malware",
                id="file",
            ),
            pytest.param(
                ["Email messages from a campaign removed after delivery"], [], [], "Campaign", id="campaign"
            ),
            pytest.param(
                ["Email reported by user as malware or phish"], [], [], "User-reported phish", id="reported"
            ),
            pytest.param(
                ["A potentially malicious URL click was detected"], [], [], "Malicious URL click", id="click"
            ),
            pytest.param(
                ["User accessed a link in an email subsequently quarantined by ZAP"],
                [],
                [],
                "Malicious URL click",
                id="accessed-link",
            ),
            pytest.param(
                ["Suspicious email"], ["compromisedAccount"], [], "Compromised account", id="compromised"
            ),
            pytest.param(["Something"], ["Malware"], [], "Malware", id="determination"),
            pytest.param(["Something"], [], ["Phish"], "Phishing", id="threat"),
            pytest.param(["Something"], [], ["Spam"], "Spam", id="spam"),
            pytest.param([None, ""], [None], [], "Suspicious email", id="fallback"),
        ],
    )
    def test_rule(
        self, titles: list[Any], determinations: list[Any], threats: list[Any], expected: str
    ) -> None:
        assert indication(titles=titles, determinations=determinations, threats=threats) == expected

    @pytest.mark.parametrize(
        ("classification", "determinations", "verdicts", "expected"),
        [
            pytest.param("truePositive", [], [], "Malicious", id="true-positive"),
            pytest.param("falsePositive", ["phishing"], ["malicious"], "Benign", id="false-positive-wins"),
            pytest.param("informationalExpectedActivity", [], [], "Informational", id="expected"),
            pytest.param("unknown", ["phishing"], [], "Malicious", id="determination"),
            pytest.param(None, ["clean"], ["malicious"], "Benign", id="clean"),
            pytest.param(None, [], ["suspicious", "noThreatsFound"], "Suspicious", id="evidence"),
            pytest.param(None, [], [None], None, id="nothing"),
        ],
    )
    def test_predicted_verdict(
        self, classification: str | None, determinations: list[str], verdicts: list[Any], expected: str | None
    ) -> None:
        assert (
            predicted_verdict(
                classification=classification, determinations=determinations, evidence_verdicts=verdicts
            )
            == expected
        )


def parsed(*payloads: dict[str, Any]):
    versions = [version_of(p, version_id=i) for i, p in enumerate(payloads, start=1)]
    return parse_versions(versions, tenant_id=versions[0].tenant_id, incident_id=versions[0].incident_id)


def version(minute: float, **changes: Any) -> dict[str, Any]:
    payload = simple_mdo_incident("700", minute=minute, recipient="s@xyz.example")
    payload.update(changes)
    return payload


class TestStatus:
    @pytest.mark.parametrize(
        ("statuses", "merged_into", "expected"),
        [
            pytest.param(["active"], None, "Open", id="created"),
            pytest.param(["active", "resolved"], None, "Open", id="resolved-by-defender"),
            pytest.param(["active", "resolved", "active"], None, "Reopened", id="reactivated"),
            pytest.param(["resolved", "inProgress", "resolved"], None, "Reopened", id="reopened-stays"),
            pytest.param(["active", "redirected"], "mdo:t:1", "Closed", id="merged"),
        ],
    )
    def test_status(self, statuses: list[str], merged_into: str | None, expected: str) -> None:
        versions = parsed(*(version(10 + i, status=s) for i, s in enumerate(statuses)))
        assert story_status(versions, merged_into=merged_into) == expected


class TestDiff:
    def test_every_change_is_an_entry_at_the_newer_version_time(self) -> None:
        older = version(10, comments=[])
        newer = version(
            20,
            status="inProgress",
            severity="high",
            classification="truePositive",
            determination="phishing",
            assignedTo="ana@xyz.example",
            customTags=["VIP"],
            comments=[{"comment": "Looking", "createdByDisplayName": "ana", "createdDateTime": at(15)}],
        )
        newer["alerts"] = newer["alerts"] + [dict(newer["alerts"][0], id="fa701", title="Second")]
        entries = order_timeline(version_entries(parsed(older, newer), story_incident_id="700"))
        diff = [(e["time"], e["kind"]) for e in entries if e["kind"] != "incident_created"]
        assert diff == [
            (at(15), "comment"),
            (at(20), "alert_added"),
            (at(20), "status_changed"),
            (at(20), "severity_changed"),
            (at(20), "classification_changed"),
            (at(20), "determination_changed"),
            (at(20), "assignee_changed"),
            (at(20), "tags_changed"),
        ]
        titles = {e["kind"]: e["title"] for e in entries}
        assert titles["status_changed"] == "Defender status changed from active to inProgress"
        assert titles["assignee_changed"] == "Assigned to ana@xyz.example"
        assert titles["tags_changed"] == "Tags added VIP"

    def test_reactivation_is_a_reopened_entry(self) -> None:
        entries = version_entries(
            parsed(version(10), version(20, status="resolved"), version(30, status="active")),
            story_incident_id="700",
        )
        assert [e["kind"] for e in entries if e["kind"] in {"status_changed", "reopened"}] == [
            "status_changed",
            "reopened",
        ]

    def test_repeated_comments_appear_once(self) -> None:
        comment = {"comment": "x", "createdByDisplayName": "ana", "createdDateTime": at(5)}
        entries = version_entries(
            parsed(version(10, comments=[comment]), version(20, comments=[comment])), story_incident_id="700"
        )
        assert sum(1 for e in entries if e["kind"] == "comment") == 1

    def test_first_version_already_redirected(self) -> None:
        payload = simple_mdo_incident("700", minute=10, recipient="s@xyz.example", redirect_to="701")

        def merges(story_incident_id: str) -> list[str]:
            entries = version_entries(parsed(payload), story_incident_id=story_incident_id)
            return [e["title"] for e in entries if e["kind"] == "merged"]

        assert merges("700") == ["This incident was merged into incident 701"]
        assert merges("701") == ["Incident 700 was merged into this incident"]
        assert merges("702") == ["Incident 700 was merged into incident 701"]


class TestAlertEntries:
    @pytest.mark.parametrize(
        ("title", "action", "remediation", "expected"),
        [
            pytest.param(
                "Email messages containing malicious URL removed after delivery",
                "Delivered",
                "none",
                ["Message to s@xyz.example removed after delivery (ZAP)"],
                id="zap",
            ),
            pytest.param(
                "Email messages containing malicious URL removed after delivery",
                "Blocked",
                "none",
                [],
                id="blocked-was-never-delivered",
            ),
            pytest.param(
                "Phish delivered",
                "Delivered",
                "Remediated",
                ["Message to s@xyz.example remediated"],
                id="manual",
            ),
            pytest.param("Phish delivered", "Delivered", "none", [], id="nothing-done"),
        ],
    )
    def test_remediation(self, title: str, action: str, remediation: str, expected: list[str]) -> None:
        payload = simple_mdo_incident("700", minute=10, recipient="s@xyz.example")
        payload["alerts"][0]["title"] = title
        payload["alerts"][0]["evidence"][0].update(deliveryAction=action, remediationStatus=remediation)
        alerts = collect_alerts({"700": parsed(payload)})
        entries = alert_entries(alerts)
        assert [e["title"] for e in entries if e["kind"] == "remediation"] == expected
        (received,) = [e for e in entries if e["kind"] == "email_received"]
        assert received["time"] == at(0)
        assert received["delivery_action"] == action
