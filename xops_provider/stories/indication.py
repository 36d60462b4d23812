"""What a story is about (``indication``) and what Defender's data predicts (``predicted_verdict``).

Indication rules, first match wins (titles are the incident's and the alerts' titles, matched
case-insensitively; threats are the email evidence's threats and the alerts' threat names):

1. ``Compromised account``: determination ``compromisedUser``/``compromisedAccount``, or a title
   mentioning a compromised user or account;
2. ``Malicious URL click``: a title about a URL click or a user accessing a link;
3. ``Campaign``: a title mentioning a campaign;
4. ``User-reported phish``: a title saying a user reported the message;
5. ``Malware``: determination ``malware``, a malware threat, or a title about a malicious file or malware;
6. ``Phishing``: determination ``phishing``, a phish threat, or a title about phishing or a malicious URL;
7. ``Spam``: a spam threat or title;
8. otherwise ``Suspicious email``.
"""

from __future__ import annotations

from collections.abc import Iterable

MALICIOUS_DETERMINATIONS = frozenset(
    {
        "malware",
        "phishing",
        "compromiseduser",
        "compromisedaccount",
        "multistagedattack",
        "malicioususeractivity",
        "unwantedsoftware",
    }
)
BENIGN_DETERMINATIONS = frozenset({"clean", "notmalicious", "confirmedactivity", "lineofbusinessapplication"})

_RULES: tuple[tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]], ...] = (
    # (indication, title phrases, determinations, threat phrases)
    (
        "Compromised account",
        ("compromised user", "compromised account", "account compromise"),
        ("compromiseduser", "compromisedaccount"),
        (),
    ),
    (
        "Malicious URL click",
        ("url click", "clicked", "accessed a link", "accessed a malicious link"),
        (),
        (),
    ),
    ("Campaign", ("campaign",), (), ()),
    ("User-reported phish", ("reported by user", "user-reported", "user reported"), (), ()),
    ("Malware", ("malicious file", "malware"), ("malware",), ("malware",)),
    ("Phishing", ("phish", "malicious url"), ("phishing",), ("phish",)),
    ("Spam", ("spam",), (), ("spam",)),
)
FALLBACK_INDICATION = "Suspicious email"


def _lower(values: Iterable[str | None]) -> list[str]:
    return [value.lower() for value in values if value]


def indication(
    *, titles: Iterable[str | None], determinations: Iterable[str | None], threats: Iterable[str | None]
) -> str:
    """The short label for a story, by the rules in this module's docstring.

    :param titles: incident and alert titles.
    :param determinations: incident and alert determinations.
    :param threats: threat names from evidence and alerts.
    """
    title_text = _lower(titles)
    determination_set = set(_lower(determinations))
    threat_text = _lower(threats)
    for label, phrases, determination_names, threat_phrases in _RULES:
        if determination_set.intersection(determination_names):
            return label
        if any(phrase in title for phrase in phrases for title in title_text):
            return label
        if any(phrase in threat for phrase in threat_phrases for threat in threat_text):
            return label
    return FALLBACK_INDICATION


def predicted_verdict(
    *,
    classification: str | None,
    determinations: Iterable[str | None],
    evidence_verdicts: Iterable[str | None],
) -> str | None:
    """Defender's data as a verdict; ``None`` when it says nothing.

    The classification decides when it is set; else a determination; else the most severe
    evidence verdict (``malicious`` -> ``Malicious``, ``suspicious`` -> ``Suspicious``).

    :param classification: the incident's normalised classification.
    :param determinations: incident and alert determinations.
    :param evidence_verdicts: the normalised verdicts of every evidence item.
    """
    if classification == "truePositive":
        return "Malicious"
    if classification == "falsePositive":
        return "Benign"
    if classification == "informationalExpectedActivity":
        return "Informational"
    determination_set = set(_lower(determinations))
    if determination_set & MALICIOUS_DETERMINATIONS:
        return "Malicious"
    if determination_set & BENIGN_DETERMINATIONS:
        return "Benign"
    verdicts = set(evidence_verdicts)
    if "malicious" in verdicts:
        return "Malicious"
    if "suspicious" in verdicts:
        return "Suspicious"
    return None
