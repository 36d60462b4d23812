"""Test data: Graph-shaped incident payloads, and the "Company XYZ" phishing campaign.

The campaign: one phishing mail reaches alice, bob and carol (incident 101); a URL click alert on
dave for the same mail opens incident 102, which Defender merges into 101; a day later a second
wave reaches erin and frank (incident 103), is resolved, then reactivated when an endpoint alert
joins. Incident 104 holds only an endpoint alert and makes no story.
"""

from __future__ import annotations

from typing import Any

from xops_provider.models.incident import Incident
from xops_provider.models.timestamps import GraphTime
from xops_provider.stories.ports import IncidentVersion

TENANT = "xyz-tenant"
INTEGRATION = "default"
_T0 = GraphTime.parse("2026-03-02T08:00:00Z")
ODATA = "#microsoft.graph.security."
MDO = "microsoftDefenderForOffice365"
MDE = "microsoftDefenderForEndpoint"


def at(minutes: float, *, ticks: int = 1234567) -> str:
    """A Graph time ``minutes`` after the campaign starts, with a 7-digit fraction."""
    return GraphTime(_T0.shift(seconds=minutes * 60).ticks + ticks).isoformat()


def message_evidence(
    recipient: str,
    *,
    network_message_id: str,
    subject: str,
    received: str,
    urls: list[str] | None = None,
    remediation: str = "none",
    delivery_action: str = "Delivered",
    delivery_location: str = "Inbox",
    sender: str = "billing@contoso-invoices.example",
    sender_ip: str = "203.0.113.45",
    threats: list[str] | None = None,
    created: str | None = None,
) -> dict[str, Any]:
    return {
        "@odata.type": f"{ODATA}analyzedMessageEvidence",
        "createdDateTime": created or received,
        "verdict": "malicious",
        "remediationStatus": remediation,
        "roles": [],
        "detailedRoles": [],
        "tags": [],
        "networkMessageId": network_message_id,
        "internetMessageId": f"<{network_message_id}@mail.contoso-invoices.example>",
        "subject": subject,
        "senderIp": sender_ip,
        "recipientEmailAddress": recipient,
        "p1Sender": {
            "emailAddress": "Bounce@Mailer.Contoso-Invoices.example",
            "displayName": "",
            "domainName": "mailer.contoso-invoices.example",
        },
        "p2Sender": {
            "emailAddress": sender,
            "displayName": "Contoso Billing",
            "domainName": sender.rpartition("@")[2],
        },
        "receivedDateTime": received,
        "urls": urls or [],
        "urlCount": len(urls or []),
        "attachmentsCount": 0,
        "deliveryAction": delivery_action,
        "deliveryLocation": delivery_location,
        "antiSpamDirection": "Inbound",
        "language": "en",
        "threatDetectionMethods": ["URL detonation reputation"],
        "threats": threats if threats is not None else ["Phish"],
    }


def mailbox_evidence(address: str, *, created: str) -> dict[str, Any]:
    return {
        "@odata.type": f"{ODATA}mailboxEvidence",
        "createdDateTime": created,
        "verdict": "unknown",
        "remediationStatus": "none",
        "roles": [],
        "primaryAddress": address,
        "displayName": address.split("@")[0].title(),
        "upn": address,
    }


def url_evidence(url: str, *, created: str, verdict: str = "malicious") -> dict[str, Any]:
    return {
        "@odata.type": f"{ODATA}urlEvidence",
        "createdDateTime": created,
        "verdict": verdict,
        "remediationStatus": "none",
        "roles": [],
        "url": url,
    }


def user_evidence(upn: str, *, created: str, roles: list[str] | None = None) -> dict[str, Any]:
    return {
        "@odata.type": f"{ODATA}userEvidence",
        "createdDateTime": created,
        "verdict": "suspicious",
        "remediationStatus": "none",
        "roles": roles or [],
        "userAccount": {
            "accountName": upn.split("@")[0],
            "domainName": "XYZ",
            "userPrincipalName": upn,
            "azureAdUserId": f"aad-{upn.split('@')[0]}",
            "userSid": None,
            "displayName": upn.split("@")[0].title(),
        },
    }


def cluster_evidence(value: str, *, created: str, count: int, message_ids: list[str]) -> dict[str, Any]:
    return {
        "@odata.type": f"{ODATA}mailClusterEvidence",
        "createdDateTime": created,
        "verdict": "malicious",
        "remediationStatus": "remediated",
        "roles": [],
        "clusterBy": "Subject;SenderIp;AntispamDirection;ContentType",
        "clusterByValue": value,
        "emailCount": count,
        "networkMessageIds": message_ids,
        "query": "EmailEvents | where ...",
    }


def alert(
    alert_id: str,
    *,
    incident_id: str,
    title: str,
    created: str,
    evidence: list[dict[str, Any]],
    severity: str = "medium",
    service_source: str = MDO,
    category: str = "InitialAccess",
    mitre: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "@odata.type": f"{ODATA}alert",
        "id": alert_id,
        "providerAlertId": alert_id[2:],
        "incidentId": incident_id,
        "status": "new",
        "severity": severity,
        "classification": None,
        "determination": None,
        "serviceSource": service_source,
        "detectionSource": service_source,
        "productName": "Microsoft Defender for Office 365" if service_source == MDO else "Microsoft Defender",
        "title": title,
        "description": f"{title}. Generated by Microsoft.",
        "category": category,
        "mitreTechniques": mitre if mitre is not None else ["T1566.002"],
        "alertWebUrl": f"https://security.microsoft.com/alerts/{alert_id} ",
        "createdDateTime": created,
        "lastUpdateDateTime": created,
        "firstActivityDateTime": created,
        "lastActivityDateTime": created,
        "evidence": evidence,
        "comments": [],
    }


def incident(
    incident_id: str,
    *,
    last_update: str,
    created: str,
    alerts: list[dict[str, Any]],
    title: str,
    status: str = "active",
    severity: str = "medium",
    **extra: Any,
) -> dict[str, Any]:
    payload = {
        "@odata.type": f"{ODATA}incident",
        "id": incident_id,
        "tenantId": TENANT,
        "incidentWebUrl": f"https://security.microsoft.com/incidents/{incident_id}?tid={TENANT} ",
        "redirectIncidentId": None,
        "displayName": title,
        "createdDateTime": created,
        "lastUpdateDateTime": last_update,
        "assignedTo": None,
        "classification": "unknown",
        "determination": "unknown",
        "status": status,
        "severity": severity,
        "customTags": [],
        "systemTags": [],
        "comments": [],
        "description": "",
        "summary": None,
        "alerts": alerts,
    }
    payload.update(extra)
    return payload


def version_of(payload: dict[str, Any], *, version_id: int, tenant_id: str = TENANT) -> IncidentVersion:
    """A stored version; ``received_at`` is derived from the payload so it is stable in tests."""
    parsed = Incident.model_validate(payload)
    return IncidentVersion(
        version_id=version_id,
        tenant_id=tenant_id,
        incident_id=parsed.id,
        last_update=parsed.last_update,
        received_at=received_at(payload),
        payload=payload,
    )


def received_at(payload: dict[str, Any]) -> str:
    return GraphTime.parse(payload["lastUpdateDateTime"]).shift(seconds=30).isoformat()


WAVE1_MESSAGE = "9F1C2B7A-0000-4D1E-8F00-000000000001"
WAVE2_MESSAGE = "9f1c2b7a-0000-4d1e-8f00-000000000002"
PHISH_URL = "https://login.c0ntoso-secure.example/auth?session=4471"
INVOICE_URL = "https://Contoso-Invoices.example/pay?id=4471"
WAVE1_SUBJECT = "Invoice #4471 overdue \u2013 action required"
WAVE2_SUBJECT = "Invoice #4471 \u2013 final notice"
WAVE1_RECIPIENTS = ["Alice@XYZ.example", "bob@xyz.example", " carol@xyz.example "]
WAVE2_RECIPIENTS = ["erin@xyz.example", "frank@xyz.example"]


def _wave1_alert() -> dict[str, Any]:
    received = at(0)
    evidence = [
        message_evidence(
            r,
            network_message_id=WAVE1_MESSAGE,
            subject=WAVE1_SUBJECT,
            received=received,
            urls=[PHISH_URL, INVOICE_URL],
            remediation="remediated",
            created=at(9),
        )
        for r in WAVE1_RECIPIENTS
    ]
    evidence += [mailbox_evidence(r.strip().lower(), created=at(9)) for r in WAVE1_RECIPIENTS]
    evidence += [
        url_evidence(PHISH_URL, created=at(9)),
        cluster_evidence(
            f"{WAVE1_SUBJECT};203.0.113.45;1;1", created=at(9), count=4, message_ids=[WAVE1_MESSAGE]
        ),
    ]
    return alert(
        "fa1010000000000000001",
        incident_id="101",
        title="Email messages containing malicious URL removed after delivery",
        created=at(9),
        evidence=evidence,
    )


def _click_alert(incident_id: str) -> dict[str, Any]:
    return alert(
        "fa1020000000000000001",
        incident_id=incident_id,
        title="A potentially malicious URL click was detected",
        created=at(19),
        severity="high",
        evidence=[
            message_evidence(
                "dave@xyz.example",
                network_message_id=WAVE1_MESSAGE,
                subject=WAVE1_SUBJECT,
                received=at(0),
                urls=[PHISH_URL],
                created=at(19),
            ),
            user_evidence("dave@xyz.example", created=at(19), roles=["compromised"]),
            url_evidence(PHISH_URL, created=at(19)),
        ],
    )


def _wave2_alert() -> dict[str, Any]:
    evidence = [
        message_evidence(
            r,
            network_message_id=WAVE2_MESSAGE,
            subject=WAVE2_SUBJECT,
            received=at(24 * 60),
            urls=[PHISH_URL],
            remediation="remediated",
            created=at(24 * 60 + 5),
        )
        for r in WAVE2_RECIPIENTS
    ]
    evidence.append(
        cluster_evidence(
            f"{WAVE2_SUBJECT};203.0.113.45;1;1", created=at(24 * 60 + 5), count=2, message_ids=[WAVE2_MESSAGE]
        )
    )
    return alert(
        "fa1030000000000000001",
        incident_id="103",
        title="Email messages from a campaign removed after delivery",
        created=at(24 * 60 + 5),
        severity="high",
        evidence=evidence,
    )


def _endpoint_alert(alert_id: str, incident_id: str, created: str) -> dict[str, Any]:
    return alert(
        alert_id,
        incident_id=incident_id,
        title="Suspicious connection to a phishing domain",
        created=created,
        service_source=MDE,
        category="CommandAndControl",
        mitre=["T1071.001"],
        evidence=[
            {
                "@odata.type": f"{ODATA}deviceEvidence",
                "createdDateTime": created,
                "verdict": "suspicious",
                "remediationStatus": "none",
                "roles": ["compromised"],
                "mdeDeviceId": "d3v1ce0000000000000000000000000000000001",
                "deviceDnsName": "ERIN-LAPTOP.xyz.example",
                "osPlatform": "Windows11",
                "riskScore": "high",
                "ipInterfaces": ["10.0.0.12"],
                "loggedOnUsers": [{"accountName": "erin", "domainName": "XYZ"}],
            },
            {
                "@odata.type": f"{ODATA}ipEvidence",
                "createdDateTime": created,
                "verdict": "malicious",
                "remediationStatus": "none",
                "roles": ["destination"],
                "ipAddress": "198.51.100.7",
                "countryLetterCode": "NL",
            },
        ],
    )


def campaign_payloads() -> list[dict[str, Any]]:
    """Every version of the campaign's incidents, in the order Defender produced them."""
    wave1, click = _wave1_alert(), _click_alert("102")
    wave1_title = "Email messages containing malicious URL removed after delivery involving multiple users"
    click_title = "A potentially malicious URL click was detected"
    wave2, endpoint = _wave2_alert(), _endpoint_alert("da1030000000000000001", "103", at(24 * 60 + 90))
    click_moved = {**click, "incidentId": "101"}
    return [
        incident("101", last_update=at(10), created=at(9), alerts=[wave1], title=wave1_title),
        incident(
            "102", last_update=at(20), created=at(19), alerts=[click], title=click_title, severity="high"
        ),
        incident(
            "102",
            last_update=at(60),
            created=at(19),
            alerts=[],
            title=click_title,
            severity="high",
            status="redirected",
            redirectIncidentId="101",
        ),
        incident(
            "101",
            last_update=at(61),
            created=at(9),
            alerts=[wave1, click_moved],
            title=wave1_title,
            severity="high",
        ),
        incident(
            "101",
            last_update=at(120),
            created=at(9),
            alerts=[wave1, click_moved],
            title=wave1_title,
            severity="high",
            status="inProgress",
            assignedTo="soc-analyst@xyz.example",
            classification="truePositive",
            determination="phishing",
            customTags=["Phish campaign"],
            comments=[
                {
                    "comment": "Blocked the sender domain; resetting dave's password.",
                    "createdByDisplayName": "soc-analyst@xyz.example",
                    "createdDateTime": at(118),
                }
            ],
        ),
        incident(
            "103", last_update=at(24 * 60 + 6), created=at(24 * 60 + 5), alerts=[wave2], title=WAVE2_SUBJECT
        ),
        incident(
            "103",
            last_update=at(24 * 60 + 30),
            created=at(24 * 60 + 5),
            alerts=[wave2],
            title=WAVE2_SUBJECT,
            status="resolved",
            classification="truePositive",
            determination="phishing",
        ),
        incident(
            "103",
            last_update=at(24 * 60 + 91),
            created=at(24 * 60 + 5),
            alerts=[wave2, endpoint],
            title=WAVE2_SUBJECT,
            severity="high",
            status="active",
            classification="truePositive",
            determination="phishing",
        ),
        incident(
            "104",
            last_update=at(24 * 60 + 95),
            created=at(24 * 60 + 95),
            alerts=[_endpoint_alert("da1040000000000000001", "104", at(24 * 60 + 95))],
            title="Suspicious connection to a phishing domain",
        ),
    ]


def simple_mdo_incident(
    incident_id: str,
    *,
    minute: float,
    recipient: str,
    status: str = "active",
    redirect_to: str | None = None,
    alerts: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A one-alert MDO incident version; ``redirect_to`` makes it a redirected (merged) version."""
    if alerts is None:
        evidence = [
            message_evidence(
                recipient,
                network_message_id=f"m-{incident_id}",
                subject=f"Mail {incident_id}",
                received=at(0),
            )
        ]
        alerts = [
            alert(
                f"fa{incident_id}",
                incident_id=incident_id,
                title="Email messages containing malicious URL removed after delivery",
                created=at(1),
                evidence=evidence,
            )
        ]
    extra: dict[str, Any] = {"redirectIncidentId": redirect_to} if redirect_to else {}
    return incident(
        incident_id,
        last_update=at(minute),
        created=at(1),
        alerts=[] if redirect_to else alerts,
        title=f"Incident {incident_id}",
        status="redirected" if redirect_to else status,
        **extra,
    )


def chain_payloads() -> list[dict[str, Any]]:
    """201 is merged into 202, which is later merged into 203: a chain of two hops."""
    return [
        simple_mdo_incident("201", minute=10, recipient="gina@xyz.example"),
        simple_mdo_incident("202", minute=11, recipient="hank@xyz.example"),
        simple_mdo_incident("203", minute=12, recipient="ivan@xyz.example"),
        simple_mdo_incident("201", minute=20, recipient="gina@xyz.example", redirect_to="202"),
        simple_mdo_incident("202", minute=30, recipient="hank@xyz.example", redirect_to="203"),
    ]
