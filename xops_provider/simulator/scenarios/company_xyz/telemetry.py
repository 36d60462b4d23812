"""What correlation reads about the Company XYZ campaign: the hunting rows of every message, the
clicks, the ZAP actions, the network traffic in Cato's feed and in ``DeviceNetworkEvents``, and
noise that must not join (see :data:`~.facts.COMPANY_XYZ_CORRELATION_TRUTH`).

Everything agrees with the incidents: the same recipients, ``networkMessageId`` values, URLs,
domains and times.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from xops_provider.models.timestamps import GraphTime
from xops_provider.simulator.scenarios import builders as b
from xops_provider.simulator.scenarios.company_xyz.facts import (
    ALICE,
    BLOCKED_CLICKER,
    BLOCKED_CLICKER_IP,
    CAMPAIGN_DOMAIN,
    CAMPAIGN_SENDER,
    CAMPAIGN_SENDER_IP,
    CAMPAIGN_SUBJECT,
    CAMPAIGN_URL,
    CAROL,
    CLICKER,
    CLICKER_IP,
    COMPANY_DOMAIN,
    DAVID,
    ENDPOINT_DEVICE_DNS_NAME,
    ENDPOINT_DEVICE_ID,
    ERIN,
    FRANK,
    HOURS,
    LOOKALIKE_DOMAIN,
    LOOKALIKE_VISITOR,
    NOISE_DOMAIN,
    NOISE_USER,
    STALE_VISITOR,
    USERS,
    WAVE1_MESSAGE_IDS,
    WAVE2_MESSAGE_IDS,
    WAVE2_SENDER_IP,
    WAVE2_SUBJECT,
    WAVE2_URL,
    moment,
)
from xops_provider.simulator.telemetry import Telemetry
from xops_provider.simulator.telemetry.generator import NetworkEvent, cato_record, device_row

CAMPAIGN_IP = "192.0.2.80"
LOOKALIKE_IP = "192.0.2.81"
SCRIPT_URL = f"https://{CAMPAIGN_DOMAIN}/p.ps1"
# Each user's laptop: (host name, VPN address). Bob's is the one in the endpoint alert.
_DEVICES = {
    ALICE: ("AM-LT-0107", "10.41.7.11"),
    CLICKER: (ENDPOINT_DEVICE_DNS_NAME.split(".")[0].upper(), "10.41.7.23"),
    CAROL: ("CS-LT-0121", "10.41.7.35"),
    DAVID: ("DO-LT-0158", "10.41.7.47"),
    ERIN: ("EK-LT-0165", "10.41.7.59"),
    FRANK: ("FD-LT-0193", "10.41.7.71"),
    NOISE_USER: ("HW-DT-0077", "10.41.7.83"),
}
_NAMES = {**USERS, NOISE_USER: "Henry Wright"}
_BENIGN = ("outlook.office365.com", "teams.microsoft.com", "www.linkedin.com", "github.com", "www.bbc.co.uk")


def _ticks(now: GraphTime, hours: float) -> int:
    return GraphTime.parse(moment(now, hours)).ticks


def _report_id(*parts: object) -> str:
    return str(int(hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:12], 16))


def _connection(
    user: str,
    domain: str,
    ticks: int,
    *,
    ip: str,
    index: int,
    process: str = "msedge.exe",
    blocked: bool = False,
) -> NetworkEvent:
    host, vpn_ip = _DEVICES[user]
    device_id = (
        ENDPOINT_DEVICE_ID
        if user == CLICKER
        else hashlib.sha1(host.encode(), usedforsecurity=False).hexdigest()
    )
    return NetworkEvent(
        ticks=ticks,
        user=user,
        device=f"{host.lower()}.{COMPANY_DOMAIN}",
        device_id=device_id,
        src_ip=CLICKER_IP if user == CLICKER else vpn_ip,
        domain=domain,
        dest_ip=ip,
        port=443,
        blocked=False,
        process=process,
        index=index,
    )


def _messages(telemetry: Telemetry, now: GraphTime, people: dict[str, b.Person]) -> None:
    waves = (
        (WAVE1_MESSAGE_IDS, CAMPAIGN_SUBJECT, CAMPAIGN_URL, CAMPAIGN_SENDER_IP, 0.0, HOURS["wave1_zap"]),
        (WAVE2_MESSAGE_IDS, WAVE2_SUBJECT, WAVE2_URL, WAVE2_SENDER_IP, 30.0, HOURS["wave2_zap"]),
    )
    events, urls, zaps = [], [], []
    for ids, subject, url, sender_ip, first, zapped in waves:
        for i, (recipient, message_id) in enumerate(ids.items()):
            received = _ticks(now, first + 0.01 * i)
            internet_id = f"<{hashlib.md5(message_id.encode(), usedforsecurity=False).hexdigest().upper()}"
            internet_id += f"@PAYR0LLMAIL01.{CAMPAIGN_DOMAIN}>"
            events.append(
                {
                    "Timestamp": received,
                    "NetworkMessageId": message_id,
                    "InternetMessageId": internet_id,
                    "SenderFromAddress": CAMPAIGN_SENDER,
                    "SenderMailFromAddress": CAMPAIGN_SENDER,
                    "SenderFromDomain": CAMPAIGN_DOMAIN,
                    "SenderIPv4": sender_ip,
                    "RecipientEmailAddress": recipient,
                    "RecipientObjectId": people[recipient].object_id,
                    "Subject": subject,
                    "EmailDirection": "Inbound",
                    "DeliveryAction": "Delivered",
                    "DeliveryLocation": "Inbox/folder",
                    # Delivered as clean: the verdict came with detonation, and ZAP after it.
                    "ThreatTypes": "",
                    "DetectionMethods": "",
                    "UrlCount": 1,
                    "AttachmentCount": 0,
                    "ReportId": _report_id("EmailEvents", message_id),
                }
            )
            urls.append(
                {
                    "Timestamp": received,
                    "NetworkMessageId": message_id,
                    "Url": url,
                    "UrlDomain": CAMPAIGN_DOMAIN,
                    "UrlLocation": "Body",
                    "ReportId": _report_id("EmailUrlInfo", message_id),
                }
            )
            zaps.append(
                {
                    "Timestamp": _ticks(now, zapped),
                    "NetworkMessageId": message_id,
                    "InternetMessageId": internet_id,
                    "Action": "Moved to quarantine",
                    "ActionType": "Phish ZAP",
                    "ActionTrigger": "SpecialAction",
                    "ActionResult": "Success",
                    "RecipientEmailAddress": recipient,
                    "DeliveryLocation": "Quarantine",
                    "ThreatTypes": "Phish",
                    "DetectionMethods": '{"Phish":["URL detonation reputation","URL malicious reputation"]}',
                    "ReportId": _report_id("EmailPostDeliveryEvents", message_id),
                }
            )
    telemetry.tables["EmailEvents"].add(events)
    telemetry.tables["EmailUrlInfo"].add(urls)
    telemetry.tables["EmailPostDeliveryEvents"].add(zaps)


def _clicks(telemetry: Telemetry, now: GraphTime) -> None:
    def click(user: str, hours: float, *, ip: str, allowed: bool) -> dict[str, Any]:
        return {
            "Timestamp": _ticks(now, hours),
            "Url": CAMPAIGN_URL,
            "ActionType": "ClickAllowed" if allowed else "ClickBlocked",
            "AccountUpn": user,
            "Workload": "Email",
            "NetworkMessageId": WAVE1_MESSAGE_IDS[user],
            "IPAddress": ip,
            "ThreatTypes": "" if allowed else "Phish",
            "DetectionMethods": "" if allowed else "URL detonation reputation",
            "IsClickedThrough": allowed,
            "UrlChain": json.dumps([CAMPAIGN_URL]),
            "ReportId": _report_id("UrlClickEvents", user),
        }

    telemetry.tables["UrlClickEvents"].add(
        [
            click(CLICKER, HOURS["bob_click"], ip=CLICKER_IP, allowed=True),
            click(BLOCKED_CLICKER, HOURS["carol_click_blocked"], ip=BLOCKED_CLICKER_IP, allowed=False),
        ]
    )


def _network(telemetry: Telemetry, now: GraphTime) -> None:
    dice = b.Dice("company-xyz:network")
    visits: list[tuple[NetworkEvent, str | None]] = []

    def visit(user: str, domain: str, hours: float, *, ip: str, url: str | None = None, **extra: Any) -> None:
        # Index 0 upwards: each event's internalId, ReportId and local port differ.
        event = _connection(user, domain, _ticks(now, hours), ip=ip, index=len(visits), **extra)
        visits.append((event, url))

    # Bob opens the login page, then his PowerShell fetches the script (the endpoint alert's).
    visit(CLICKER, CAMPAIGN_DOMAIN, HOURS["bob_reaches_domain"], ip=CAMPAIGN_IP, url=CAMPAIGN_URL)
    visit(CLICKER, CAMPAIGN_DOMAIN, HOURS["bob_downloads_script"], ip=CAMPAIGN_IP, url=SCRIPT_URL,
          process="powershell.exe")  # fmt: skip
    # Noise: someone else elsewhere; the domain long before any mail; a near-spelling of it.
    visit(NOISE_USER, NOISE_DOMAIN, HOURS["noise_user_browses"], ip="198.18.9.10")
    visit(STALE_VISITOR, CAMPAIGN_DOMAIN, HOURS["stale_visit"], ip=CAMPAIGN_IP)
    visit(LOOKALIKE_VISITOR, LOOKALIKE_DOMAIN, HOURS["lookalike_visit"], ip=LOOKALIKE_IP,
          url=f"https://{LOOKALIKE_DOMAIN}/auth/login")  # fmt: skip
    # Everyday traffic of everyone over the three days, never to the campaign's domains.
    for number in range(40):
        user, hours = dice.pick(sorted(_DEVICES)), dice.random.uniform(-3.0, 57.0)
        visit(user, dice.pick(_BENIGN), hours, ip=f"198.18.1.{number + 10}")
    visits.sort(key=lambda visit: visit[0].ticks)
    # Cato's feed is in arrival order: here, the order they happened in.
    telemetry.cato.append(
        [cato_record(event, display_name=_NAMES[event.user], url=url) for event, url in visits]
    )
    telemetry.tables["DeviceNetworkEvents"].add(
        device_row(event, remote_url=SCRIPT_URL if url == SCRIPT_URL else None) for event, url in visits
    )


def build_telemetry(telemetry: Telemetry, *, now: GraphTime, people: dict[str, b.Person]) -> None:
    """Fill the hunting tables and the Cato feed for the scenario loaded at ``now``.

    :param telemetry: the emptied tables and feed.
    :param now: the scenario's reference time.
    :param people: the scenario's people (their Entra object ids).
    """
    _messages(telemetry, now, people)
    _clicks(telemetry, now)
    _network(telemetry, now)
