"""The plain-language paragraph of the Details widget, generated from the story's facts.

Subjects, names and addresses are attacker-controlled: they are quoted as data here and escaped by
whatever renders the text, never here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

WHY_IT_MATTERS: Mapping[str, str] = {
    "Phishing": (
        "Phishing mail tries to make recipients give away credentials or open malicious content; "
        "a recipient who followed the link may have exposed their account."
    ),
    "Malware": "A malicious attachment can run code on a recipient's device as soon as it is opened.",
    "Malicious URL click": (
        "A recipient opened a link Defender considers malicious, so the account and device may be exposed."
    ),
    "Campaign": "The same mail reached several mailboxes as part of a campaign; more users may be targeted.",
    "User-reported phish": (
        "A user reported the message as suspicious; other recipients of the same mail may not have noticed."
    ),
    "Compromised account": (
        "An account shows signs of compromise and may be used to send more mail or reach company data."
    ),
    "Spam": "Spam is mostly a nuisance, but it can carry links or attachments worth checking.",
}
DEFAULT_WHY = "Defender flagged this mail as a possible threat to its recipients."
CORRELATION_PENDING = "Clicks, network and endpoint activity have not been correlated yet."
_MAX_LISTED = 5


def _listing(values: Sequence[str]) -> str:
    shown = list(values[:_MAX_LISTED])
    if len(values) > _MAX_LISTED:
        shown.append(f"{len(values) - _MAX_LISTED} more")
    if len(shown) == 1:
        return shown[0]
    return ", ".join(shown[:-1]) + " and " + shown[-1]


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def narrative(
    *,
    entities: Sequence[Mapping[str, Any]],
    timeline: Sequence[Mapping[str, Any]],
    alert_titles: Sequence[str],
    indication: str,
    merged_into: str | None,
    folded_incident_ids: Sequence[str],
) -> str:
    """Who got what from whom, what Defender did, and why it matters.

    :param entities: the story's entities.
    :param timeline: the story's ordered timeline.
    :param alert_titles: the titles of the story's alerts.
    :param indication: the story's indication.
    :param merged_into: the survivor's story id when the incident was merged.
    :param folded_incident_ids: incidents merged into this one.
    """
    emails = [e for e in entities if e["type"] == "email"]
    recipients = sorted({r for e in emails for r in e["attributes"].get("recipients", [])})
    recipients = recipients or sorted(
        e["value"] for e in entities if e["type"] == "mailbox" and "recipient" in e["roles"]
    )
    # Recipients see the P2 (From header) sender; the P1 envelope sender is only a fallback.
    senders = sorted({e["value"] for e in entities if e["type"] == "sender" and "p2_sender" in e["roles"]})
    senders = senders or sorted({e["value"] for e in entities if e["type"] == "sender"})
    subjects = sorted({s for e in emails if (s := e["attributes"].get("subject"))})
    sentences = []
    if emails or recipients:
        who = _listing(recipients) if recipients else "unknown recipients"
        what = _plural(len(emails), "email message") if emails else "email"
        if len(subjects) == 1:
            what += f" with the subject “{subjects[0]}”"
        elif subjects:
            what += f" with {len(subjects)} different subjects"
        sender_text = f" from {_listing(senders)}" if senders else ""
        ips = sorted({ip for e in emails if (ip := e["attributes"].get("sender_ip"))})
        ip_text = f", sent from {_listing(ips)}" if ips else ""
        sentences.append(
            f"{_plural(len(recipients), 'recipient')} ({who}) received {what}{sender_text}{ip_text}."
        )
    elif alert_titles:
        sentences.append(f"Defender raised {_plural(len(alert_titles), 'alert')}: {_listing(alert_titles)}.")
    zapped = sum(1 for t in timeline if t["kind"] == "remediation" and "(ZAP)" in t["title"])
    other_actions = sum(1 for t in timeline if t["kind"] == "remediation" and "(ZAP)" not in t["title"])
    actions = [str(e["attributes"].get("delivery_action", "")).lower() for e in emails]
    blocked = sum(1 for a in actions if a in {"blocked", "junked", "replaced"})
    delivered = sum(1 for a in actions if a == "delivered")
    if zapped:
        sentences.append(f"Defender removed {_plural(zapped, 'message')} after delivery (ZAP).")
    if other_actions:
        sentences.append(f"Defender took {_plural(other_actions, 'other remediation action')}.")
    if blocked:
        sentences.append(f"Defender blocked or junked {_plural(blocked, 'message')} before the inbox.")
    if delivered and not zapped and not other_actions:
        sentences.append(f"{_plural(delivered, 'message')} reached a mailbox and no removal is reported yet.")
    sentences.append(WHY_IT_MATTERS.get(indication, DEFAULT_WHY))
    if folded_incident_ids:
        sentences.append(
            f"Defender merged {_plural(len(folded_incident_ids), 'incident')} into this one "
            f"({_listing(list(folded_incident_ids))})."
        )
    if merged_into:
        sentences.append(f"Defender merged this incident into another; follow story {merged_into}.")
    sentences.append(CORRELATION_PENDING)
    return " ".join(sentences)
