"""The three questions of a story, each answered in one sentence that cites its records.

- ``clicked``: did any recipient click or reach the malicious link or domain?
- ``related_activity``: what related network and endpoint activity was there?
- ``broader_attack``: is this part of a broader attack affecting other users or assets?

Each answer names who, when, what and the record's source. An answer with no record says which
sources were searched ("No click found in the hunting data for 3 recipients"). "Not known yet" is
said only for a source that is not configured or whose last query failed, and only when no record
answers the question anyway. Sources (``sources``) are ``hunting`` (Defender advanced hunting),
``alerts`` (alerts_v2) and each network feed by name (``cato``, ``zeek``); a source missing from
the mapping is not configured for ``hunting`` and ``alerts`` and not part of the product for a feed.

Names, URLs and titles are attacker-controlled data: the renderer escapes them, never this module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from xops_provider.correlation.campaigns import Campaign
from xops_provider.correlation.related import RelatedStory
from xops_provider.models.timestamps import GraphTime
from xops_provider.stories.criticality import Signals

OK, NOT_CONFIGURED, FAILED = "ok", "not_configured", "failed"
SOURCE_STATES = (OK, NOT_CONFIGURED, FAILED)
HUNTING, ALERTS = "hunting", "alerts"
SOURCE_LABELS: Mapping[str, str] = {
    HUNTING: "Defender advanced hunting",
    ALERTS: "Defender alerts",
    "cato": "the Cato events feed",
    "zeek": "Zeek",
}
#: How a record's ``source`` is cited.
RECORD_LABELS: Mapping[str, str] = {
    "cato": "Cato events feed",
    "zeek_dns": "Zeek dns.log",
    "zeek_ssl": "Zeek ssl.log",
    "microsoftDefenderForEndpoint": "Defender for Endpoint",
    "microsoftDefenderForIdentity": "Defender for Identity",
    "microsoftDefenderForCloudApps": "Defender for Cloud Apps",
}
_INDICATOR_LABELS = {
    "sender": "sender",
    "sender_domain": "sender domain",
    "url": "URL",
    "url_domain": "URL domain",
    "mail_cluster": "mail cluster",
    "attachment_hash": "attachment",
    "sender_ip": "sender IP",
    "recipient": "recipient",
}
_LISTED = 3
_TEXT_MAX = 120


def _short(text: Any) -> str:
    text = str(text)
    return text if len(text) <= _TEXT_MAX else text[: _TEXT_MAX - 1] + "…"


def _when(time: str) -> str:
    return GraphTime.parse(time).to_datetime().strftime("%Y-%m-%d %H:%M UTC")


def _label(record: Mapping[str, Any]) -> str:
    return RECORD_LABELS.get(record["source"], record["source"])


def _listing(parts: Sequence[str]) -> str:
    shown = list(parts[:_LISTED])
    if len(parts) > _LISTED:
        shown.append(f"{len(parts) - _LISTED} more")
    return "; ".join(shown[:-1]) + (" and " if len(shown) > 1 else "") + shown[-1]


def _plural(count: int, noun: str, plural: str | None = None) -> str:
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def _states(sources: Mapping[str, str], names: Sequence[str]) -> dict[str, str]:
    states = {name: sources.get(name, NOT_CONFIGURED) for name in names}
    for name, state in states.items():
        if state not in SOURCE_STATES:
            raise ValueError(f"source {name!r} has the unknown state {state!r}")
    return states


def _unknowns(states: Mapping[str, str]) -> list[str]:
    words = {
        NOT_CONFIGURED: ("is not configured", "are not configured"),
        FAILED: ("could not be queried",) * 2,
    }
    parts = []
    for state in (NOT_CONFIGURED, FAILED):
        names = [SOURCE_LABELS.get(n, n) for n, s in sorted(states.items()) if s == state]
        if names:
            listed = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
            parts.append(f"{listed} {words[state][len(names) > 1]}")
    return [f"not known yet: {'; '.join(parts)}"] if parts else []


def _feeds(sources: Mapping[str, str]) -> list[str]:
    return sorted(name for name in sources if name not in (HUNTING, ALERTS))


def _sentence(parts: Sequence[str]) -> str:
    text = "; ".join(p for p in parts if p)
    return text[:1].upper() + text[1:] + "."


def _who(record: Mapping[str, Any]) -> str:
    return record.get("user") or record.get("device") or record.get("src_ip") or "an unknown user"


def _destination(record: Mapping[str, Any]) -> str:
    return _short(record.get("url") or record.get("domain") or record.get("dest_ip") or "an unknown host")


def _click_text(click: Mapping[str, Any], verb: str) -> str:
    user = click["user"] or "an unknown user"
    return f"{user} {verb} {_short(click['url'])} at {_when(click['time'])} ({click['source']})"


def clicked_through(click: Mapping[str, Any]) -> bool:
    """Whether a click reached the page: the criticality rule's own test.

    :param click: a ``clicks`` item.
    """
    return Signals(clicks=(click,)).clicked_through


def answer_clicked(
    *, correlation: Mapping[str, Any], recipients: int, sources: Mapping[str, str], window_hours: float
) -> str:
    """Did any recipient click or reach the malicious link or domain?

    :param correlation: the story's ``correlation`` lists.
    :param recipients: how many recipients the story has.
    :param sources: each source's state.
    :param window_hours: the matching window.
    """
    clicks = correlation["clicks"]
    reached = [e for e in correlation["network_activity"] if e["reached"]]
    tried = [e for e in correlation["network_activity"] if e["towards_email"] and not e["reached"]]
    through = [c for c in clicks if clicked_through(c)]
    stopped = [c for c in clicks if not clicked_through(c)]
    found = [_click_text(c, "clicked through") for c in through]
    found += [f"{_who(e)} reached {_destination(e)} at {_when(e['time'])} ({_label(e)})" for e in reached]
    if found:
        return _sentence([f"Yes: {_listing(found)}"])
    stopped_text = [
        f"{c['user'] or 'an unknown user'}'s click on {_short(c['url'])} at {_when(c['time'])} was not let "
        f"through ({c['action']}, {c['source']})"
        for c in stopped
    ] + [
        f"{_who(e)} tried to reach {_destination(e)} at {_when(e['time'])} ({e['action']}, {_label(e)})"
        for e in tried
    ]
    states = _states(sources, [HUNTING, *_feeds(sources)])
    who = f"for {_plural(recipients, 'recipient')}" if recipients else "for this story's messages"
    parts = [f"No click got through: {_listing(stopped_text)}"] if stopped_text else []
    if not stopped and states[HUNTING] == OK:
        parts.append(f"No click found in the hunting data {who}")
    searched = [SOURCE_LABELS.get(n, n) for n, s in sorted(states.items()) if s == OK]
    if searched and not tried:
        parts.append(
            f"no network event reached the email's URLs or domains within {window_hours:g} h "
            f"({', '.join(searched)})"
        )
    return _sentence(parts + _unknowns(states))


def answer_related_activity(
    *, correlation: Mapping[str, Any], recipients: int, sources: Mapping[str, str], window_hours: float
) -> str:
    """What related network and endpoint activity was there?

    :param correlation: the story's ``correlation`` lists.
    :param recipients: how many recipients the story has.
    :param sources: each source's state.
    :param window_hours: the matching window.
    """
    detections = correlation["endpoint_detections"]
    network = correlation["network_activity"]
    parts = []
    if detections:
        cited = [
            f"“{_short(d['title'] or 'untitled alert')}” ({d['severity'] or 'unknown'} severity) on "
            f"{', '.join((d['devices'] or d['users'] or ['an unknown asset'])[:2])} at {_when(d['time'])} "
            f"({RECORD_LABELS.get(d['service_source'], d['service_source'])}, alert {d['alert_id']})"
            for d in detections
        ]
        parts.append(f"{_plural(len(detections), 'endpoint detection')} after delivery: {_listing(cited)}")
    if network:
        towards = [e for e in network if e["towards_email"]]
        shown = towards or network
        cited = [
            f"{_who(e)} to {_destination(e)} at {_when(e['time'])} ({e['action'] or 'no action'}, "
            f"{_label(e)})"
            for e in shown
        ]
        total = len(network) + correlation.get("network_activity_omitted", 0)
        parts.append(
            f"{_plural(total, 'network event')} of the recipients or towards the email's URLs, domains or "
            f"IPs within {window_hours:g} h ({len(towards)} towards them): {_listing(cited)}"
        )
    states = _states(sources, [HUNTING, ALERTS, *_feeds(sources)])
    if not parts:
        searched = [SOURCE_LABELS.get(n, n) for n, s in sorted(states.items()) if s == OK]
        if searched:
            who = f"the {_plural(recipients, 'recipient')}" if recipients else "the recipients"
            parts.append(
                f"No network or endpoint activity of {who} or towards the email's URLs or domains "
                f"within {window_hours:g} h after delivery ({', '.join(searched)})"
            )
        return _sentence(parts + _unknowns(states))
    # A source with nothing to show is still unknown; one whose category has records is not asked.
    missing = {ALERTS: states[ALERTS]} if not detections else {}
    if not network:
        missing.update((n, s) for n, s in states.items() if n != ALERTS)
    return _sentence(parts + _unknowns(missing))


def _indicator_text(kind: str, value: str) -> str:
    return f"{_INDICATOR_LABELS.get(kind, kind)} {_short(value)}"


def answer_broader_attack(
    *,
    story_id: str,
    recipients: Sequence[str],
    correlation: Mapping[str, Any],
    related: Sequence[RelatedStory],
    campaign: Campaign | None,
) -> str:
    """Is this part of a broader attack affecting other users or assets?

    :param story_id: the story.
    :param recipients: the story's recipients.
    :param correlation: the story's ``correlation`` lists.
    :param related: the story's related stories.
    :param campaign: its campaign, if any.
    """
    outsiders = sorted(
        {c["user"] for c in correlation["clicks"] if c["user"] and c["user"] not in recipients}
    )
    outsider_text = (
        f"{_plural(len(outsiders), 'user')} outside this story clicked its links ({_listing(outsiders)})"
        if outsiders
        else ""
    )
    if campaign is not None:
        others = [s for s in campaign.story_ids if s != story_id]
        joined = [_indicator_text(kind, value) for kind, value in campaign.indicators]
        return _sentence(
            [
                f"Yes: part of campaign {campaign.campaign_id} with "
                f"{_plural(len(others), 'other story', 'other stories')} "
                f"({_listing(others)}) affecting {_plural(len(campaign.affected_users), 'user')} "
                f"({_listing(list(campaign.affected_users))}), joined by {_listing(joined)}",
                outsider_text,
            ]
        )
    if related:
        shared = sorted({value for r in related for kind, value in r.shared if kind == "recipient"})
        return _sentence(
            [
                f"No campaign: {_plural(len(related), 'other story', 'other stories')} "
                f"{'shares' if len(related) == 1 else 'share'} only a recipient "
                f"({_listing(shared)}) and no sender, URL, domain, mail cluster, attachment or sender IP "
                f"({_listing([r.story_id for r in related])})",
                outsider_text,
            ]
        )
    return _sentence(
        [
            "No: no other story shares a sender, URL, domain, mail cluster, attachment, sender IP or "
            "recipient with this one",
            outsider_text,
        ]
    )
