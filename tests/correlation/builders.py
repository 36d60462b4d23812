"""Facts for the tests, built through the real parsers from rows shaped like the sources'."""

from __future__ import annotations

from typing import Any

from tests.stories.campaign import PHISH_URL, WAVE1_MESSAGE, WAVE2_MESSAGE, at
from xops_provider.correlation.endpoint_alerts import parse_endpoint_alert
from xops_provider.correlation.facts import Click, EndpointDetection, NetworkEvent, PostDeliveryAction
from xops_provider.correlation.hunting_rows import (
    parse_click,
    parse_device_network_event,
    parse_post_delivery,
)
from xops_provider.correlation.network_feeds import parse_cato_record

WAVE1 = WAVE1_MESSAGE.lower()
WAVE2 = WAVE2_MESSAGE.lower()
PHISH_DOMAIN = "login.c0ntoso-secure.example"
STORY_101 = "mdo:xyz-tenant:101"
STORY_102 = "mdo:xyz-tenant:102"
STORY_103 = "mdo:xyz-tenant:103"
ODATA = "#microsoft.graph.security."


def click(
    *,
    minute: float,
    user: str = "bob@xyz.example",
    url: str = PHISH_URL,
    action: str = "ClickAllowed",
    through: bool | None = True,
    message: str | None = WAVE1,
    report: str = "r1",
) -> Click:
    row: dict[str, Any] = {
        "Timestamp": at(minute),
        "Url": url,
        "ActionType": action,
        "AccountUpn": user,
        "Workload": "Email",
        "NetworkMessageId": message or "",
        "IPAddress": "198.51.100.20",
        "ThreatTypes": "Phish",
        "DetectionMethods": "",
        "IsClickedThrough": through,
        "UrlChain": "",
        "ReportId": report,
    }
    return parse_click(row)


def post_delivery(
    *, minute: float, recipient: str = "alice@xyz.example", message: str = WAVE1
) -> PostDeliveryAction:
    return parse_post_delivery(
        {
            "Timestamp": at(minute),
            "NetworkMessageId": message,
            "InternetMessageId": f"<{message}@mail>",
            "Action": "Moved to quarantine",
            "ActionType": "Phish ZAP",
            "ActionTrigger": "SpecialAction",
            "ActionResult": "Success",
            "RecipientEmailAddress": recipient,
            "DeliveryLocation": "Quarantine",
            "ThreatTypes": "Phish",
            "DetectionMethods": "",
            "ReportId": f"pd-{recipient}",
        }
    )


def cato(
    *,
    minute: float,
    user: str | None = "bob@xyz.example",
    domain: str | None = PHISH_DOMAIN,
    url: str | None = None,
    dest_ip: str = "198.51.100.99",
    action: str = "Allow",
    device: str = "BOB-PC",
    event_id: str = "e1",
) -> NetworkEvent:
    fields: dict[str, Any] = {
        "event_type": "Security",
        "event_sub_type": "Internet Firewall",
        "action": action,
        "src_ip": "10.0.0.5",
        "dest_ip": dest_ip,
        "dest_port": "443",
        "device_name": device,
        "internalId": event_id,
        "account_id": "1714",
    }
    if user:
        fields["vpn_user_email"] = user
    if domain:
        fields["domain_name"] = domain
    if url:
        fields["url"] = url
    return parse_cato_record({"time": at(minute), "fieldsMap": fields})


def device_event(
    *,
    minute: float,
    remote: str = PHISH_DOMAIN,
    user: str = "erin@xyz.example",
    device: str = "erin-laptop.xyz.example",
) -> NetworkEvent:
    return parse_device_network_event(
        {
            "Timestamp": at(minute),
            "DeviceId": "D3V1CE0000000000000000000000000000000001",
            "DeviceName": device,
            "ActionType": "ConnectionSuccess",
            "RemoteIP": "198.51.100.7",
            "RemotePort": 443,
            "RemoteUrl": remote,
            "LocalIP": "10.0.0.12",
            "LocalPort": 50000,
            "Protocol": "Tcp",
            "InitiatingProcessAccountUpn": user,
            "InitiatingProcessAccountName": user.split("@")[0],
            "InitiatingProcessFileName": "msedge.exe",
            "ReportId": f"dne-{minute}",
        }
    )


def endpoint_alert(
    *,
    minute: float,
    alert_id: str = "da9000000000000000001",
    upn: str | None = None,
    device: str | None = "erin-laptop.xyz.example",
    service: str = "microsoftDefenderForEndpoint",
) -> dict[str, Any]:
    evidence: list[dict[str, Any]] = []
    if device:
        evidence.append(
            {
                "@odata.type": f"{ODATA}deviceEvidence",
                "deviceDnsName": device.upper(),
                "mdeDeviceId": "d3v1ce0000000000000000000000000000000001",
                "loggedOnUsers": [{"accountName": "erin", "domainName": "XYZ"}],
            }
        )
    if upn:
        evidence.append({"@odata.type": f"{ODATA}userEvidence", "userAccount": {"userPrincipalName": upn}})
    evidence.append({"@odata.type": f"{ODATA}ipEvidence", "ipAddress": "198.51.100.7"})
    return {
        "id": alert_id,
        "incidentId": "9000",
        "serviceSource": service,
        "title": "Suspicious process launched from a downloaded file",
        "severity": "high",
        "createdDateTime": at(minute + 5),
        "firstActivityDateTime": at(minute),
        "evidence": evidence,
    }


def detection(**kwargs: Any) -> EndpointDetection:
    return parse_endpoint_alert(endpoint_alert(**kwargs))
