"""Evidence -> entities: dispatch per evidence type, normalisation, de-duplication, unknown types."""

from __future__ import annotations

from typing import Any

import pytest

from tests.stories.campaign import ODATA, message_evidence
from xops_provider.models.incident import Alert
from xops_provider.models.normalize import url_domain
from xops_provider.models.timestamps import GraphTime
from xops_provider.stories.entities import EntityCollector, extract_entities
from xops_provider.stories.evidence import add_evidence
from xops_provider.stories.versions import StoryAlert


def story_alert(alert_id: str, evidence: list[dict[str, Any]]) -> StoryAlert:
    raw = {"id": alert_id, "serviceSource": "microsoftDefenderForOffice365", "evidence": evidence}
    return StoryAlert(
        alert=Alert.model_validate(raw),
        raw=raw,
        incident_id="1",
        first_seen=GraphTime.parse("2026-03-02T08:00:00Z"),
        present=True,
        moved_to=None,
    )


def entities_of(*evidence: dict[str, Any]) -> list[dict[str, Any]]:
    sink = EntityCollector()
    for item in evidence:
        add_evidence(sink, item, alert_id="fa1")
    return sink.entities()


def pairs(entities: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(e["type"], e["value"]) for e in entities}


def swimlane_as_graph(legacy: dict[str, Any]) -> list[dict[str, Any]]:
    """The legacy API's MDO entities (real content) rewritten as Graph evidence."""
    evidence = []
    for entity in legacy["alerts"][0]["entities"]:
        common = {
            "createdDateTime": entity["evidenceCreationTime"],
            "verdict": entity["verdict"],
            "remediationStatus": entity["remediationStatus"],
            "roles": [],
        }
        account = {
            "accountName": entity.get("accountName"),
            "domainName": entity.get("domainName"),
            "userSid": entity.get("userSid"),
            "azureAdUserId": entity.get("aadUserId"),
            "userPrincipalName": entity.get("userPrincipalName"),
        }
        match entity["entityType"]:
            case "Mailbox":
                evidence.append(
                    {
                        "@odata.type": f"{ODATA}mailboxEvidence",
                        **common,
                        "primaryAddress": entity["mailboxAddress"],
                        "displayName": entity["mailboxDisplayName"],
                        "upn": entity["userPrincipalName"],
                        "userAccount": account,
                    }
                )
            case "File":
                evidence.append(
                    {
                        "@odata.type": f"{ODATA}fileEvidence",
                        **common,
                        "fileDetails": {"fileName": entity["fileName"], "sha256": entity["sha256"]},
                    }
                )
            case "MailMessage":
                evidence.append(
                    {
                        "@odata.type": f"{ODATA}analyzedMessageEvidence",
                        **common,
                        "internetMessageId": entity["internetMessageId"],
                        "subject": entity["subject"],
                        "recipientEmailAddress": entity["recipient"],
                        "p2Sender": {"emailAddress": entity["sender"], "displayName": "", "domainName": ""},
                        "deliveryAction": entity["deliveryAction"],
                    }
                )
            case "User":
                evidence.append({"@odata.type": f"{ODATA}userEvidence", **common, "userAccount": account})
            case "MailCluster":
                evidence.append(
                    {
                        "@odata.type": f"{ODATA}mailClusterEvidence",
                        **common,
                        "clusterBy": entity["clusterBy"],
                        "clusterByValue": entity["clusterByValue"],
                        "emailCount": entity["emailCount"],
                    }
                )
    return evidence


class TestEvidenceTypes:
    @pytest.mark.parametrize(
        ("evidence", "expected"),
        [
            pytest.param(
                {"@odata.type": f"{ODATA}mailboxEvidence", "primaryAddress": " Alice@XYZ.example "},
                {("mailbox", "alice@xyz.example"), ("user", "alice@xyz.example")},
                id="mailbox",
            ),
            pytest.param(
                {"@odata.type": "microsoft.graph.security.URLEVIDENCE", "url": "http://Evil.example./x"},
                {("url", "http://Evil.example./x"), ("domain", "evil.example")},
                id="url-case-insensitive-type-without-hash",
            ),
            pytest.param(
                {
                    "@odata.type": f"{ODATA}userEvidence",
                    "userAccount": {"accountName": "Pov", "domainName": "", "userPrincipalName": ""},
                },
                {("user", "pov")},
                id="user-without-upn",
            ),
            pytest.param(
                {
                    "@odata.type": f"{ODATA}ipEvidence",
                    "ipAddress": "2001:DB8:0:0::1",
                    "countryLetterCode": "NL",
                },
                {("ip", "2001:db8::1")},
                id="ip-canonical",
            ),
            pytest.param(
                {
                    "@odata.type": f"{ODATA}fileEvidence",
                    "fileDetails": {"fileName": "a.exe", "sha1": "AB", "sha256": "CD"},
                },
                {("file", "cd")},
                id="file-by-sha256",
            ),
            pytest.param(
                {
                    "@odata.type": f"{ODATA}deviceEvidence",
                    "deviceDnsName": "PC1.Corp.example",
                    "mdeDeviceId": "d",
                },
                {("device", "pc1.corp.example")},
                id="device",
            ),
            pytest.param(
                {
                    "@odata.type": f"{ODATA}processEvidence",
                    "processCommandLine": '"MsSense.exe"',
                    "imageFile": {"fileName": "MsSense.exe"},
                },
                {("process", '"MsSense.exe"')},
                id="process",
            ),
            pytest.param(
                {
                    "@odata.type": f"{ODATA}cloudApplicationEvidence",
                    "appId": 11161,
                    "displayName": "Office 365",
                },
                {("cloud_app", "Office 365")},
                id="cloud-app",
            ),
            pytest.param(
                {
                    "@odata.type": f"{ODATA}mailClusterEvidence",
                    "clusterBy": "FileHash;ContentType",
                    "clusterByValue": "2A1A;1",
                    "emailCount": 6,
                    "networkMessageIds": ["B", "a"],
                },
                {("other", "mail_cluster:FileHash;ContentType=2A1A;1")},
                id="mail-cluster",
            ),
            pytest.param(
                {"@odata.type": f"{ODATA}urlEvidence", "url": "   "},
                set(),
                id="blank-url-skipped",
            ),
            pytest.param(
                {"@odata.type": f"{ODATA}mailboxEvidence", "primaryAddress": ""},
                set(),
                id="blank-mailbox-skipped",
            ),
        ],
    )
    def test_dispatch(self, evidence: dict[str, Any], expected: set[tuple[str, str]]) -> None:
        assert pairs(entities_of(evidence)) == expected

    def test_analyzed_message_gives_every_entity(self) -> None:
        evidence = message_evidence(
            "Alice@XYZ.example",
            network_message_id="ABC-1",
            subject="Pay now",
            received="2026-03-02T08:00:00.1234567Z",
            urls=["https://Evil.example/login"],
        )
        entities = {(e["type"], e["value"]): e for e in entities_of(evidence)}
        assert set(entities) == {
            ("email", "abc-1"),
            ("mailbox", "alice@xyz.example"),
            ("user", "alice@xyz.example"),
            ("sender", "billing@contoso-invoices.example"),
            ("sender", "bounce@mailer.contoso-invoices.example"),
            ("domain", "contoso-invoices.example"),
            ("domain", "mailer.contoso-invoices.example"),
            ("domain", "evil.example"),
            ("ip", "203.0.113.45"),
            ("url", "https://Evil.example/login"),
        }
        email = entities[("email", "abc-1")]
        assert email["verdict"] == "malicious"
        assert email["attributes"] == {
            "subject": "Pay now",
            "internet_message_id": "<ABC-1@mail.contoso-invoices.example>",
            "received_at": "2026-03-02T08:00:00.1234567Z",
            "delivery_action": "Delivered",
            "delivery_location": "Inbox",
            "direction": "Inbound",
            "language": "en",
            "threats": ["Phish"],
            "detection_methods": ["URL detonation reputation"],
            "recipients": ["alice@xyz.example"],
            "senders": ["billing@contoso-invoices.example", "bounce@mailer.contoso-invoices.example"],
            "sender_ip": "203.0.113.45",
            "urls": ["https://Evil.example/login"],
            "url_count": 1,
            "attachments_count": 0,
            "remediation_status": "none",
        }
        assert entities[("mailbox", "alice@xyz.example")]["roles"] == ["recipient"]
        assert entities[("user", "alice@xyz.example")]["roles"] == ["recipient"]
        assert entities[("sender", "billing@contoso-invoices.example")]["roles"] == ["p2_sender"]
        assert entities[("sender", "billing@contoso-invoices.example")]["attributes"] == {
            "display_name": "Contoso Billing",
            "domain": "contoso-invoices.example",
        }
        assert entities[("ip", "203.0.113.45")]["roles"] == ["sender_ip"]

    def test_unknown_type_is_kept_with_its_payload(self) -> None:
        evidence = {
            "@odata.type": "#microsoft.graph.security.quantumEvidence",
            "qubits": 7,
            "verdict": "Malicious",
        }
        (entity,) = entities_of(evidence)
        assert entity["type"] == "other"
        assert entity["value"].startswith("quantumEvidence:")
        assert entity["verdict"] == "malicious"
        assert entity["attributes"]["payload"] == evidence

    def test_missing_type_is_other(self) -> None:
        (entity,) = entities_of({"name": "mystery"})
        assert (entity["type"], entity["value"]) == ("other", "unknown:mystery")


class TestMerging:
    def test_same_message_to_several_recipients_is_one_email(self) -> None:
        common = {"network_message_id": "M-1", "subject": "Hi", "received": "2026-03-02T08:00:00Z"}
        alerts = [
            story_alert("fa2", [message_evidence("bob@x.example", **common)]),
            story_alert("fa1", [message_evidence("ALICE@x.example ", **common, threats=["Malware"])]),
        ]
        entities = extract_entities(alerts)
        (email,) = [e for e in entities if e["type"] == "email"]
        assert email["attributes"]["recipients"] == ["alice@x.example", "bob@x.example"]
        assert email["attributes"]["threats"] == ["Malware", "Phish"]
        assert email["alert_ids"] == ["fa1", "fa2"]
        assert [e["value"] for e in entities if e["type"] == "mailbox"] == [
            "alice@x.example",
            "bob@x.example",
        ]

    @pytest.mark.parametrize(
        ("verdicts", "expected"),
        [
            pytest.param(["unknown", "malicious", "suspicious"], "malicious", id="worst-wins"),
            pytest.param(["noThreatsFound", "unknown"], "noThreatsFound", id="definite-beats-unknown"),
            pytest.param([None, "Suspicious"], "suspicious", id="pascal-case"),
            pytest.param([None, ""], None, id="none"),
        ],
    )
    def test_verdict_merge(self, verdicts: list[str | None], expected: str | None) -> None:
        evidence = [
            {"@odata.type": f"{ODATA}urlEvidence", "url": "https://a.example", "verdict": v, "roles": [r]}
            for v, r in zip(verdicts, ["x", "y", "z", "w"], strict=False)
        ]
        url = next(e for e in entities_of(*evidence) if e["type"] == "url")
        assert url["verdict"] == expected
        assert url["roles"] == sorted(["x", "y", "z", "w"][: len(verdicts)])

    def test_order_of_evidence_does_not_matter(self) -> None:
        evidence = [
            {"@odata.type": f"{ODATA}urlEvidence", "url": "https://a.example", "verdict": "malicious"},
            {"@odata.type": f"{ODATA}mailboxEvidence", "primaryAddress": "a@x.example", "roles": ["r1"]},
            {"@odata.type": f"{ODATA}mailboxEvidence", "primaryAddress": "A@x.example", "roles": ["r2"]},
        ]
        assert entities_of(*evidence) == entities_of(*reversed(evidence))


class TestUrlDomain:
    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            pytest.param("https://Login.Example.COM/a?b=c", "login.example.com", id="https"),
            pytest.param("evil.example/path", "evil.example", id="no-scheme"),
            pytest.param("http://[::1", None, id="broken"),
        ],
    )
    def test_url_domain(self, url: str, expected: str | None) -> None:
        assert url_domain(url) == expected


class TestRealContent:
    def test_swimlane_mdo_entities_golden(self, real_fixture, assert_golden) -> None:
        legacy = real_fixture("legacy_api/incident_mdo_swimlane.json")
        entities = extract_entities([story_alert("fa54978fd8", swimlane_as_graph(legacy))])
        assert_golden("entities_swimlane", entities)
        kinds = {e["type"] for e in entities}
        assert kinds == {"user", "mailbox", "email", "sender", "domain", "file", "other"}
        files = [e for e in entities if e["type"] == "file"]
        # Two file evidences with one hash are one file with both names' first sighting kept.
        assert [f["value"] for f in files] == [
            "2a1a921bcd5bd4795f1204ce050bc7c1054273ffc87de9ec00c3949b8bdbce5c"
        ]

    def test_wazuh_alert_entities(self, real_fixture) -> None:
        raw = real_fixture("graph/alert_mdo_wazuh_docs.json")
        entities = extract_entities([story_alert(raw["id"], raw["evidence"])])
        assert pairs(entities) >= {("mailbox", "xxxxxxxxxx@outlook.com"), ("ip", "93.159.28.68")}
        assert all(e["value"] for e in entities)


class TestRecipientUsers:
    @pytest.mark.parametrize(
        ("evidence", "user"),
        [
            pytest.param(
                {
                    "@odata.type": "#microsoft.graph.security.mailboxEvidence",
                    "primaryAddress": "Bob.Nguyen@CompanyXYZ.com",
                    "userAccount": {"userPrincipalName": "bob.n@companyxyz.onmicrosoft.com"},
                    "roles": [],
                },
                "bob.n@companyxyz.onmicrosoft.com",
                id="mailbox-user-account",
            ),
            pytest.param(
                {
                    "@odata.type": "#microsoft.graph.security.mailboxEvidence",
                    "primaryAddress": "Bob.Nguyen@CompanyXYZ.com",
                    "roles": [],
                },
                "bob.nguyen@companyxyz.com",
                id="mailbox-address",
            ),
        ],
    )
    def test_each_recipient_is_a_user(self, evidence, user):
        entities = {(e["type"], e["value"]): e for e in extract_entities_of([evidence])}
        assert entities[("user", user)]["roles"] == ["recipient"]


def extract_entities_of(evidence: list[dict]) -> list[dict]:
    collector = EntityCollector()
    for item in evidence:
        add_evidence(collector, item, alert_id="a1")
    return collector.entities()
