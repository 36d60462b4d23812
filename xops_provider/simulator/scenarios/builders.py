"""Builders for Graph-shaped incidents, alerts and evidence, shared by the scenarios.

Shapes follow the real payloads in ``shared/fixtures/real`` (Graph v1.0 ``security`` namespace), and
so do their quirks: ``""`` for missing values, PascalCase enums from older pipelines, fractional
seconds with fewer than seven digits, and a trailing space in some ``alertWebUrl`` values.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass
from typing import Any

from xops_provider.models.timestamps import TICKS_PER_SECOND, GraphTime

NS = "#microsoft.graph.security."
MDO = "microsoftDefenderForOffice365"
MDE = "microsoftDefenderForEndpoint"
PORTAL = "https://security.microsoft.com"


def graph_time(ticks: int, *, digits: int = 7) -> str:
    """Graph's text for an instant with ``digits`` fractional digits (0 to 7).

    The instant must already be representable with that many digits (see :func:`coarsen`).

    :param ticks: 100 ns ticks since the epoch.
    :param digits: how many fractional digits to write.
    """
    text = GraphTime(ticks).isoformat()  # always 7 digits
    if digits >= 7:
        return text
    head, frac = text[:-1].split(".")
    return f"{head}.{frac[:digits]}Z" if digits else f"{head}Z"


def coarsen(ticks: int, digits: int) -> int:
    """``ticks`` truncated to what ``digits`` fractional digits can express.

    :param ticks: 100 ns ticks.
    :param digits: fractional digits kept.
    """
    step = 10 ** (7 - digits)
    return ticks - ticks % step


class Dice:
    """The scenario's seeded randomness, with the helpers the builders need.

    :param seed: anything :class:`random.Random` accepts.
    """

    def __init__(self, seed: Any) -> None:
        self.random = random.Random(seed)

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.random.getrandbits(128), version=4))

    def hex(self, length: int) -> str:
        """Random lower-case hex digits.

        :param length: how many.
        """
        return f"{self.random.getrandbits(length * 4):0{length}x}"

    def chance(self, rate: float) -> bool:
        """True with probability ``rate``.

        :param rate: in ``[0, 1]``.
        """
        return self.random.random() < rate

    def pick(self, items: Any) -> Any:
        """One of ``items``.

        :param items: a sequence.
        """
        return self.random.choice(items)

    def time_text(self, ticks: int) -> tuple[int, str]:
        """A timestamp as Graph writes it: mostly seven digits, sometimes fewer.

        :param ticks: the intended instant; the returned ticks match the returned text exactly.
        """
        roll = self.random.random()
        if roll < 0.06:
            digits = self.pick((0, 1, 2, 3))
            ticks = coarsen(ticks, digits)
            return ticks, graph_time(ticks, digits=digits)
        if roll < 0.35:
            # SQL Server datetime2 rounding: many real values end in 3333 or 6667.
            third = TICKS_PER_SECOND // 300
            ticks = ticks - ticks % third + (third // 3 if self.chance(0.5) else 0)
        return ticks, graph_time(ticks)

    def enum(self, value: str, *, rate: float = 0.05) -> str:
        """Graph's camelCase member, or its PascalCase spelling as older pipelines write it.

        :param value: the camelCase member.
        :param rate: how often to capitalise.
        """
        return value[:1].upper() + value[1:] if self.chance(rate) else value


@dataclass(frozen=True, slots=True, kw_only=True)
class Person:
    """A mailbox owner in the simulated tenant.

    :param display_name: e.g. ``Alice Martin``.
    :param upn: the user principal name, also the primary SMTP address.
    :param object_id: the Entra object id.
    :param sid: the on-premises style SID.
    """

    display_name: str
    upn: str
    object_id: str
    sid: str

    @property
    def account_name(self) -> str:
        return self.upn.split("@", 1)[0]

    @property
    def domain(self) -> str:
        return self.upn.split("@", 1)[1]

    def user_account(self) -> dict[str, Any]:
        return {
            "accountName": self.account_name,
            "domainName": self.domain,
            "userSid": self.sid,
            "azureAdUserId": self.object_id,
            "userPrincipalName": self.upn,
            "displayName": self.display_name,
        }


def person(dice: Dice, display_name: str, upn: str) -> Person:
    """A person with stable ids drawn from ``dice``.

    :param dice: the scenario's randomness.
    :param display_name: the display name.
    :param upn: the user principal name.
    """
    sid = "S-1-12-1-" + "-".join(str(dice.random.getrandbits(31)) for _ in range(4))
    return Person(display_name=display_name, upn=upn, object_id=dice.uuid(), sid=sid)


def _evidence(
    kind: str, created: str, *, verdict: str, remediation: str = "none", **fields: Any
) -> dict[str, Any]:
    return {
        "@odata.type": NS + kind,
        "createdDateTime": created,
        "verdict": verdict,
        "remediationStatus": remediation,
        "remediationStatusDetails": None,
        "roles": fields.pop("roles", []),
        "detailedRoles": fields.pop("detailedRoles", []),
        "tags": fields.pop("tags", []),
        **fields,
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One delivered copy of a mail (one recipient), as ``analyzedMessageEvidence`` describes it.

    :param network_message_id: the join key to the hunting tables.
    :param internet_message_id: the RFC 5322 Message-ID.
    :param sender: sender address.
    :param sender_name: sender display name (attacker-controlled).
    :param sender_ip: the sending IP.
    :param recipient: the recipient.
    :param subject: the subject (attacker-controlled).
    :param urls: URLs in the body.
    :param received: when it arrived (Graph text).
    :param attachments: attachment file names.
    """

    network_message_id: str
    internet_message_id: str
    sender: str
    sender_name: str
    sender_ip: str
    recipient: Person
    subject: str
    urls: tuple[str, ...]
    received: str
    attachments: tuple[str, ...] = ()


def analyzed_message(
    message: Message,
    created: str,
    *,
    verdict: str = "malicious",
    remediation: str = "remediated",
    threats: tuple[str, ...] = ("Phish",),
    delivery_location: str = "Inbox/folder",
    blank_language: bool = False,
) -> dict[str, Any]:
    """``analyzedMessageEvidence``: one delivered copy of a mail.

    :param message: the message and its recipient.
    :param created: the evidence's ``createdDateTime``.
    :param verdict: its verdict.
    :param remediation: its ``remediationStatus``.
    :param threats: Defender's threat names.
    :param delivery_location: where the copy was delivered.
    :param blank_language: write ``""`` for ``language``, as some real payloads do.
    """
    domain = message.sender.split("@", 1)[1]
    return _evidence(
        "analyzedMessageEvidence",
        created,
        verdict=verdict,
        remediation=remediation,
        roles=[],
        detailedRoles=["Email"],
        networkMessageId=message.network_message_id,
        internetMessageId=message.internet_message_id,
        subject=message.subject,
        language="" if blank_language else "en",
        senderIp=message.sender_ip,
        recipientEmailAddress=message.recipient.upn,
        p1Sender={"emailAddress": message.sender, "displayName": message.sender_name, "domainName": domain},
        p2Sender={"emailAddress": message.sender, "displayName": message.sender_name, "domainName": domain},
        receivedDateTime=message.received,
        antiSpamDirection="Inbound",
        deliveryAction="Delivered",
        deliveryLocation=delivery_location,
        threatDetectionMethods=["URL detonation reputation", "URL malicious reputation"]
        if message.urls
        else ["File detonation"],
        threats=list(threats),
        urlCount=len(message.urls),
        urls=list(message.urls),
        attachmentsCount=len(message.attachments),
        urn=f"urn:MailEntity:{message.network_message_id.replace('-', '')}",
    )


def mailbox(owner: Person, created: str, *, verdict: str = "suspicious") -> dict[str, Any]:
    """``mailboxEvidence`` for a recipient's mailbox.

    :param owner: the mailbox owner.
    :param created: the evidence's ``createdDateTime``.
    :param verdict: its verdict.
    """
    return _evidence(
        "mailboxEvidence",
        created,
        verdict=verdict,
        roles=["contextual"],
        primaryAddress=owner.upn,
        displayName=owner.display_name,
        upn=owner.upn,
        userAccount=owner.user_account(),
    )


def user(
    owner: Person, created: str, *, verdict: str = "suspicious", roles: tuple[str, ...] = ()
) -> dict[str, Any]:
    """``userEvidence`` for an account.

    :param owner: the user.
    :param created: the evidence's ``createdDateTime``.
    :param verdict: its verdict.
    :param roles: its roles (``compromised`` for a user who clicked).
    """
    return _evidence(
        "userEvidence", created, verdict=verdict, roles=list(roles), userAccount=owner.user_account()
    )


def mail_cluster(
    messages: list[Message],
    created: str,
    *,
    verdict: str = "malicious",
    cluster_by: str = "Subject;SenderIp;AntispamDirection;ContentType",
) -> dict[str, Any]:
    """``mailClusterEvidence`` grouping the copies of one campaign.

    :param messages: the copies, the first giving subject, sender IP and domain.
    :param created: the evidence's ``createdDateTime``.
    :param verdict: its verdict.
    :param cluster_by: Defender's clustering keys, ``;``-separated.
    """
    first = messages[0]
    values = {
        "Subject": first.subject,
        "SenderIp": first.sender_ip,
        "AntispamDirection": "1",
        "ContentType": "1",
        "P2SenderDomain": first.sender.split("@", 1)[1],
    }
    value = ";".join(values.get(part, "") for part in cluster_by.split(";"))
    ids = [m.network_message_id for m in messages]
    query = (
        f'(Subject:"{first.subject}") AND (SenderIp:{first.sender_ip}) AND (AntispamDirection:1) '
        "AND (ContentType:1)"
    )
    return _evidence(
        "mailClusterEvidence",
        created,
        verdict=verdict,
        remediation="remediated",
        clusterBy=cluster_by,
        clusterByValue=value,
        emailCount=len(messages),
        networkMessageIds=ids,
        query=query,
        urn=f"urn:MailClusterEntity:{hashlib.sha256(value.encode()).hexdigest()[:32]}",
    )


def url(address: str, created: str, *, verdict: str = "malicious") -> dict[str, Any]:
    """``urlEvidence``.

    :param address: the URL.
    :param created: the evidence's ``createdDateTime``.
    :param verdict: its verdict.
    """
    return _evidence("urlEvidence", created, verdict=verdict, roles=[], url=address)


def ip(address: str, created: str, *, country: str = "", verdict: str = "suspicious") -> dict[str, Any]:
    """``ipEvidence``.

    :param address: the IP address.
    :param created: the evidence's ``createdDateTime``.
    :param country: ``countryLetterCode`` (``""`` when unknown, as Graph writes it).
    :param verdict: its verdict.
    """
    return _evidence("ipEvidence", created, verdict=verdict, ipAddress=address, countryLetterCode=country)


def file(
    name: str,
    sha256: str,
    sha1: str,
    size: int,
    created: str,
    *,
    verdict: str = "malicious",
    path: str = "",
    device_id: str | None = None,
) -> dict[str, Any]:
    """``fileEvidence`` for an attachment.

    :param name: the file name.
    :param sha256: its SHA-256, hex.
    :param sha1: its SHA-1, hex.
    :param size: its size in bytes.
    :param created: the evidence's ``createdDateTime``.
    :param verdict: its verdict.
    :param path: its path (``""`` for a mail attachment).
    :param device_id: the MDE device id, if seen on a device.
    """
    return _evidence(
        "fileEvidence",
        created,
        verdict=verdict,
        remediation="remediated",
        detectionStatus="detected",
        mdeDeviceId=device_id,
        fileDetails={
            "sha1": sha1,
            "sha256": sha256,
            "fileName": name,
            "filePath": path,
            "fileSize": size,
            "filePublisher": "",
            "signer": None,
            "issuer": None,
        },
    )


def device(dice: Dice, name: str, created: str, *, owner: Person, ip_address: str) -> dict[str, Any]:
    """``deviceEvidence`` for a user's managed device.

    :param dice: the scenario's randomness (device ids).
    :param name: the host name.
    :param created: the evidence's ``createdDateTime``.
    :param owner: the logged-on user.
    :param ip_address: its interface address.
    """
    return _evidence(
        "deviceEvidence",
        created,
        verdict="suspicious",
        roles=["compromised"],
        detailedRoles=["Main device"],
        firstSeenDateTime=created,
        mdeDeviceId=dice.hex(40),
        azureAdDeviceId=dice.uuid(),
        deviceDnsName=f"{name.lower()}.{owner.domain}",
        hostName=name,
        osPlatform="Windows11",
        osBuild=22631,
        version="23H2",
        healthStatus="active",
        riskScore="medium",
        rbacGroupId=0,
        rbacGroupName="",
        onboardingStatus="onboarded",
        defenderAvStatus="updated",
        ipInterfaces=[ip_address],
        loggedOnUsers=[{"accountName": owner.account_name, "domainName": owner.domain.split(".")[0].upper()}],
        vmMetadata=None,
    )


def process(
    command_line: str,
    image: str,
    created: str,
    *,
    owner: Person,
    parent: str = "outlook.exe",
    process_id: int = 4780,
) -> dict[str, Any]:
    """``processEvidence`` for a process started on a device.

    :param command_line: the command line.
    :param image: the image's full Windows path.
    :param created: the evidence's ``createdDateTime``.
    :param owner: the account it ran as.
    :param parent: the parent image's file name.
    :param process_id: its pid.
    """
    return _evidence(
        "processEvidence",
        created,
        verdict="suspicious",
        detectionStatus="detected",
        processId=process_id,
        parentProcessId=process_id - 1200,
        processCommandLine=command_line,
        processCreationDateTime=created,
        parentProcessCreationDateTime=created,
        mdeDeviceId=None,
        imageFile={
            "sha1": None,
            "sha256": None,
            "fileName": image.rsplit("\\", 1)[-1],
            "filePath": image.rsplit("\\", 1)[0],
            "fileSize": None,
            "filePublisher": "Microsoft Corporation",
            "signer": None,
            "issuer": None,
        },
        parentProcessImageFile={
            "sha1": None,
            "sha256": None,
            "fileName": parent,
            "filePath": "C:\\Program Files\\Microsoft Office\\root\\Office16",
            "fileSize": None,
            "filePublisher": "Microsoft Corporation",
            "signer": None,
            "issuer": None,
        },
        userAccount=owner.user_account(),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertTimes:
    """The timestamps of one alert, as Graph text.

    :param created: ``createdDateTime``.
    :param updated: ``lastUpdateDateTime``.
    :param first_activity: ``firstActivityDateTime``.
    :param last_activity: ``lastActivityDateTime``.
    """

    created: str
    updated: str
    first_activity: str
    last_activity: str


def alert(
    *,
    alert_id: str,
    provider_alert_id: str,
    incident_id: str,
    tenant_id: str,
    title: str,
    description: str,
    severity: str,
    times: AlertTimes,
    evidence: list[dict[str, Any]],
    service_source: str = MDO,
    detection_source: str = MDO,
    product_name: str = "Microsoft Defender for Office 365",
    category: str = "InitialAccess",
    mitre_techniques: tuple[str, ...] = ("T1566.002",),
    status: str = "new",
    detector_id: str = "",
    threat_display_name: str | None = None,
    trailing_space_url: bool = False,
    investigation_state: str = "",
) -> dict[str, Any]:
    """An alert in the alerts_v2 shape (as Graph expands it inside an incident).

    :param alert_id: ``fa…`` (MDO) or ``da…`` (MDE).
    :param provider_alert_id: the product's own id.
    :param incident_id: the incident it belongs to.
    :param tenant_id: the tenant.
    :param title: the title.
    :param description: the description.
    :param severity: the severity.
    :param times: its timestamps.
    :param evidence: its evidence items.
    :param service_source: the product that raised it.
    :param detection_source: the detection technology.
    :param product_name: the product's display name.
    :param category: the MITRE tactic.
    :param mitre_techniques: MITRE technique ids.
    :param status: the alert status.
    :param detector_id: the detector's id.
    :param threat_display_name: the threat's name, if any.
    :param trailing_space_url: end ``alertWebUrl`` with a space, as one real sample does.
    :param investigation_state: the automated investigation's state.
    """
    web_url = f"{PORTAL}/alerts/{alert_id}?tid={tenant_id}"
    return {
        "@odata.type": NS + "alert",
        "id": alert_id,
        "providerAlertId": provider_alert_id,
        "incidentId": incident_id,
        "status": status,
        "severity": severity,
        "classification": None,
        "determination": None,
        "serviceSource": service_source,
        "detectionSource": detection_source,
        "productName": product_name,
        "detectorId": detector_id,
        "tenantId": tenant_id,
        "title": title,
        "description": description,
        "recommendedActions": "",
        "category": category,
        "assignedTo": None,
        "alertWebUrl": web_url + (" " if trailing_space_url else ""),
        "incidentWebUrl": f"{PORTAL}/incidents/{incident_id}?tid={tenant_id}",
        "actorDisplayName": None,
        "threatDisplayName": threat_display_name,
        "threatFamilyName": None,
        "mitreTechniques": list(mitre_techniques),
        "createdDateTime": times.created,
        "lastUpdateDateTime": times.updated,
        "resolvedDateTime": None,
        "firstActivityDateTime": times.first_activity,
        "lastActivityDateTime": times.last_activity,
        "investigationState": investigation_state,
        "systemTags": [],
        "comments": [],
        "evidence": evidence,
    }


def incident(
    *,
    incident_id: str,
    tenant_id: str,
    display_name: str,
    severity: str,
    created: str,
    updated: str,
    status: str = "active",
    classification: str = "unknown",
    determination: str = "unknown",
    assigned_to: str | None = None,
    description: str = "",
    custom_tags: tuple[str, ...] = (),
    system_tags: tuple[str, ...] = (),
    redirect_incident_id: str | None = None,
    priority_score: int | None = None,
) -> dict[str, Any]:
    """An incident's own properties (without alerts), in Graph's order.

    :param incident_id: numeric string id.
    :param tenant_id: the tenant.
    :param display_name: the title.
    :param severity: the severity.
    :param created: ``createdDateTime``.
    :param updated: ``lastUpdateDateTime``.
    :param status: the status.
    :param classification: the classification.
    :param determination: the determination.
    :param assigned_to: the assignee.
    :param description: the description.
    :param custom_tags: analyst tags.
    :param system_tags: Defender's tags.
    :param redirect_incident_id: the survivor, for a redirected incident.
    :param priority_score: Defender's priority score.
    """
    return {
        "@odata.type": NS + "incident",
        "id": incident_id,
        "incidentWebUrl": f"{PORTAL}/incidents/{incident_id}?tid={tenant_id}",
        "redirectIncidentId": redirect_incident_id,
        "tenantId": tenant_id,
        "displayName": display_name,
        "createdDateTime": created,
        "lastUpdateDateTime": updated,
        "assignedTo": assigned_to,
        "classification": classification,
        "determination": determination,
        "status": status,
        "severity": severity,
        "customTags": list(custom_tags),
        "systemTags": list(system_tags),
        "comments": [],
        "description": description,
        "summary": None,
        "resolvingComment": None,
        "lastModifiedBy": "Automation",
        "priorityScore": priority_score,
    }
