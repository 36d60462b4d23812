"""Scenario ``generated``: N realistic MDO incidents for volume tests and the benchmark.

Each incident has one to three alerts (about two on average) and about ten evidence items, covering
every email evidence type; a few carry device and process evidence. About one in ten is redirected
into an earlier incident (its alerts move there), with an occasional chain of two hops.
"""

from __future__ import annotations

import bisect
from typing import Any

from xops_provider.models.timestamps import TICKS_PER_SECOND, GraphTime
from xops_provider.simulator.scenarios import builders as b
from xops_provider.simulator.store import IncidentStore

DOMAIN = "contoso.com"
FIRST_ID = 100001
REDIRECT_RATE = 0.1
#: Evidence types that every large enough generated tenant contains.
EVIDENCE_TYPES = (
    "analyzedMessageEvidence",
    "mailboxEvidence",
    "mailClusterEvidence",
    "urlEvidence",
    "userEvidence",
    "ipEvidence",
    "fileEvidence",
    "deviceEvidence",
    "processEvidence",
)
_FIRST = (
    "Adele",
    "Alex",
    "Diego",
    "Grady",
    "Henrietta",
    "Isaiah",
    "Johanna",
    "Joni",
    "Lee",
    "Lidia",
    "Lynne",
    "Megan",
    "Miriam",
    "Nestor",
    "Patti",
    "Pradeep",
    "Rae",
    "Sakura",
    "Tomas",
    "Yuki",
)
_LAST = (
    "Vance",
    "Wilber",
    "Siciliani",
    "Archie",
    "Cederberg",
    "Langer",
    "Lanier",
    "Sherman",
    "Gu",
    "Holloway",
    "Robbins",
    "Bowen",
    "Patterson",
    "Sanchez",
    "Taylor",
    "Gupta",
    "Stone",
    "Tanaka",
    "Novak",
    "Sato",
)
_SENDERS = (
    ("Microsoft 365 Security", "no-reply@m365-account-review.com"),
    ("DocuSign Service", "dse@docs-sign-portal.net"),
    ("IT Helpdesk", "helpdesk@contoso-support-desk.com"),
    ("DHL Express", "tracking@parcel-notice-dhl.net"),
    ("Payroll Team", "payroll@hr-benefits-update.com"),
    ("SharePoint Online", "share@files-sharepoint-view.com"),
    ("Accounts Payable", "ap@invoice-remittance.org"),
    ("Zoom", "meetings@zoom-invite-join.net"),
)
_SUBJECTS = (
    "Your password expires today",
    "Invoice {n} is overdue \u2013 payment required",
    "You have received a secure document to review",
    "Shipment {n} could not be delivered",
    "Action required: confirm your benefits enrolment",
    '{name} shared "Q3 budget {n}.xlsx" with you',
    "Missed voice message from +1 425 555 {n4}",
    "RE: updated bank details for remittance",
)
_PATHS = ("login", "auth/verify", "secure/doc", "track", "benefits/confirm", "s/view", "remit", "j/join")
_TITLES = (
    (
        "Email messages containing malicious URL removed after delivery",
        "Emails with malicious URL that were delivered and later removed -V1.0.0.3",
        "url",
    ),
    (
        "Email messages containing malicious file removed after delivery",
        "Emails with malicious file that were delivered and later removed -V1.0.0.3",
        "file",
    ),
    (
        "Email messages from a campaign removed after delivery",
        "Emails from a campaign that were delivered and later removed -V1.0.0.2",
        "url",
    ),
)
_ATTACHMENTS = ("Invoice_{n}.html", "Remittance_{n}.pdf.htm", "Scan_{n}.docm", "Payroll_{n}.xlsm")
_SEVERITIES = ("informational", "low", "medium", "medium", "high")


def _people(dice: b.Dice) -> list[b.Person]:
    return [
        b.person(dice, f"{first} {last}", f"{first.lower()}.{last.lower()}@{DOMAIN}")
        for first in _FIRST
        for last in _LAST[:10]
    ]


class _Generator:
    def __init__(self, *, dice: b.Dice, tenant_id: str, now: GraphTime, count: int) -> None:
        self.dice = dice
        self.tenant = tenant_id
        self.now = now
        self.count = count
        self.people = _people(dice)

    def time(self, ticks: int) -> tuple[int, str]:
        return self.dice.time_text(ticks)

    def text(self, ticks: int) -> str:
        return b.graph_time(ticks)

    def _messages(self, start: int, recipients: list[b.Person], *, kind: str) -> list[b.Message]:
        dice = self.dice
        sender_name, sender = dice.pick(_SENDERS)
        number = dice.random.randrange(10000, 99999)
        subject = dice.pick(_SUBJECTS).format(
            n=number, n4=number % 10000, name=dice.pick(self.people).display_name
        )
        domain = sender.split("@", 1)[1]
        link = f"https://{domain}/{dice.pick(_PATHS)}?id={dice.hex(12)}"
        sender_ip = f"{dice.pick(('198.51.100', '203.0.113', '192.0.2'))}.{dice.random.randrange(2, 254)}"
        attachments = (dice.pick(_ATTACHMENTS).format(n=number),) if kind == "file" else ()
        received = self.text(start)
        return [
            b.Message(
                network_message_id=dice.uuid(),
                internet_message_id=f"<{dice.hex(24).upper()}@{domain.split('.')[0].upper()}.mail.{domain}>",
                sender=sender,
                sender_name=sender_name,
                sender_ip=sender_ip,
                recipient=person,
                subject=subject,
                urls=(link,) if kind == "url" else (),
                received=received,
                attachments=attachments,
            )
            for person in recipients
        ]

    def incident(
        self, index: int, incident_id: str | None = None
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        dice = self.dice
        incident_id = incident_id or str(FIRST_ID + index)
        # Spread over the last three days, oldest first; the last update is within six hours.
        age = (self.count - index) / max(self.count, 1) * 3 * 86400 + dice.random.uniform(0, 60)
        created_ticks, created = self.time(self.now.shift(seconds=-age - 600).ticks)
        updated_ticks = created_ticks + int(dice.random.uniform(30, min(6 * 3600, age)) * TICKS_PER_SECOND)
        updated_ticks, updated = self.time(min(updated_ticks, self.now.shift(seconds=-1).ticks))
        title, description, kind = dice.pick(_TITLES)
        recipients = dice.random.sample(self.people, dice.pick((1, 2, 2, 3)))
        delivered = created_ticks - int(dice.random.uniform(300, 3600) * TICKS_PER_SECOND)
        messages = self._messages(delivered, recipients, kind=kind)
        seen = self.text(created_ticks)
        first = messages[0]
        severity = dice.pick(_SEVERITIES)

        evidence = [b.analyzed_message(m, seen, blank_language=dice.chance(0.1)) for m in messages]
        evidence += [b.mailbox(m.recipient, seen) for m in messages]
        evidence.append(b.mail_cluster(messages, seen))
        evidence.append(b.ip(first.sender_ip, seen, country=dice.pick(("NL", "US", "RU", "", "DE"))))
        if kind == "url":
            evidence.append(b.url(first.urls[0], seen))
        else:
            evidence.append(
                b.file(
                    first.attachments[0],
                    dice.hex(64),
                    dice.hex(40),
                    dice.random.randrange(2_000, 900_000),
                    seen,
                )
            )
        evidence.append(b.user(first.recipient, seen))

        alert_count = dice.pick((1, 2, 2, 2, 3, 3))
        times = b.AlertTimes(
            created=seen, updated=updated, first_activity=first.received, last_activity=first.received
        )
        alerts = [self.alert(incident_id, title, description, severity, times, evidence)]
        if alert_count >= 2:
            victim = first.recipient
            click_evidence = [
                b.url(first.urls[0], seen) if first.urls else b.mailbox(victim, seen),
                b.user(victim, seen, roles=("compromised",)),
                b.ip(
                    "10." + ".".join(str(dice.random.randrange(1, 255)) for _ in range(3)),
                    seen,
                    verdict="unknown",
                ),
            ]
            if dice.chance(0.08):
                device_name = (
                    f"{victim.account_name.split('.')[0].upper()}-PC-{dice.random.randrange(1000, 9999)}"
                )
                click_evidence.append(b.device(dice, device_name, seen, owner=victim, ip_address="10.0.0.5"))
                click_evidence.append(
                    b.process(
                        '"msedge.exe" --single-argument ' + (first.urls[0] if first.urls else "about:blank"),
                        "C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe",
                        seen,
                        owner=victim,
                    )
                )
            alerts.append(
                self.alert(
                    incident_id,
                    "A potentially malicious URL click was detected",
                    "We have detected that one of your users has recently clicked on a link that was found "
                    "to be malicious. -V1.0.0.5",
                    "high",
                    times,
                    click_evidence,
                )
            )
        if alert_count >= 3:
            reporter = messages[-1]
            alerts.append(
                self.alert(
                    incident_id,
                    "Email reported by user as malware or phish",
                    "This alert is triggered when any email message is reported as malware or phish by "
                    "users -V1.0.0.3",
                    "informational",
                    times,
                    [
                        b.analyzed_message(reporter, seen, verdict="suspicious", remediation="none"),
                        b.mailbox(reporter.recipient, seen),
                    ],
                )
            )
        body = b.incident(
            incident_id=incident_id,
            tenant_id=self.tenant,
            display_name=f"{title} involving {'multiple users' if len(recipients) > 1 else 'one user'}",
            severity=dice.enum(
                max(severity, "medium", key=_SEVERITIES.index) if alert_count > 1 else severity
            ),
            created=created,
            updated=updated,
            status=dice.enum(dice.pick(("active", "active", "active", "inProgress", "resolved"))),
            classification=dice.enum("unknown"),
            determination="" if dice.chance(0.05) else "unknown",
            assigned_to="" if dice.chance(0.05) else None,
            priority_score=dice.random.randrange(10, 95),
        )
        return body, alerts

    def alert(
        self,
        incident_id: str,
        title: str,
        description: str,
        severity: str,
        times: b.AlertTimes,
        evidence: list[dict[str, Any]],
    ) -> dict[str, Any]:
        provider = self.dice.uuid()
        return b.alert(
            alert_id="fa" + provider,
            provider_alert_id=provider,
            incident_id=incident_id,
            tenant_id=self.tenant,
            title=title,
            description=description,
            severity=severity,
            times=times,
            evidence=evidence,
            trailing_space_url=self.dice.chance(0.03),
            status=self.dice.enum("new"),
        )


def make_incident(
    *, tenant_id: str, incident_id: str, now: GraphTime, seed: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One realistic MDO incident and its alerts, created and updated at ``now``.

    :param tenant_id: the tenant.
    :param incident_id: its id.
    :param now: its ``createdDateTime`` and ``lastUpdateDateTime``.
    :param seed: makes its content reproducible.
    """
    generator = _Generator(dice=b.Dice(f"{seed}:{incident_id}"), tenant_id=tenant_id, now=now, count=1)
    body, alerts = generator.incident(0, incident_id)
    stamp = now.isoformat()
    body.update(createdDateTime=stamp, lastUpdateDateTime=stamp, status="active", redirectIncidentId=None)
    for alert in alerts:
        alert.update(createdDateTime=stamp, lastUpdateDateTime=stamp)
    return body, alerts


def _plan_redirects(dice: b.Dice, count: int) -> dict[int, int]:
    """Which incident folds into which: about one in ten into a recent survivor, and one redirect
    in twenty continues into a later survivor (a chain of two hops)."""
    plan: dict[int, int] = {}
    survivors: list[int] = []
    for index in range(count):
        if survivors and dice.chance(REDIRECT_RATE):
            plan[index] = dice.pick(survivors[-50:])
        else:
            survivors.append(index)
    for middle in sorted(set(plan.values())):
        if middle in plan or not dice.chance(0.05):
            continue
        position = bisect.bisect_right(survivors, middle)
        later = [s for s in survivors[position : position + 20] if s not in plan]
        if later:
            plan[middle] = dice.pick(later)
    return plan


def _owner(plan: dict[int, int], index: int) -> int:
    while index in plan:
        index = plan[index]
    return index


def build(store: IncidentStore, *, dice: b.Dice, now: GraphTime, count: int) -> None:
    """Load ``count`` generated incidents into ``store``.

    Each incident draws from its own seeded stream, so the tenant is built one incident at a time
    without holding every evidence dict in memory at once.

    :param store: the empty store to fill.
    :param dice: the seeded randomness (its seed also seeds each incident's stream).
    :param now: the reference time; everything happens in the three days before it.
    :param count: how many incidents.
    """
    seed = dice.random.random()
    plan = _plan_redirects(dice, count)
    generator = _Generator(dice=dice, tenant_id=store.tenant_id, now=now, count=count)
    pending: dict[int, list[dict[str, Any]]] = {}
    for index in range(count):
        generator.dice = b.Dice(f"{seed}:{index}")
        body, alerts = generator.incident(index)
        owner = _owner(plan, index)
        if index in plan:
            body["status"] = "redirected"
            body["redirectIncidentId"] = str(FIRST_ID + plan[index])
        for moved in alerts:
            moved["incidentId"] = str(FIRST_ID + owner)
        if owner == index:
            store.put(body, pending.pop(index, []) + alerts)
        else:
            store.put(body)
            if owner < index:
                for moved in alerts:
                    store.attach(str(FIRST_ID + owner), moved)
            else:
                pending.setdefault(owner, []).extend(alerts)
    # A merge touches the survivor too: keep it after the incident it absorbed.
    # In a chain the middle incident may move after its survivor was placed: repeat until stable.
    changed = True
    while changed:
        changed = False
        for source, target in sorted(plan.items()):
            absorbed = store.get(str(FIRST_ID + source)).last_update
            survivor = store.get(str(FIRST_ID + target))
            if survivor.last_update <= absorbed:
                store.update(survivor.id, {"lastUpdateDateTime": b.graph_time(absorbed.ticks + 1)})
                changed = True
