"""Matched facts -> the story's ``correlation`` object, timeline entries, raw data and criticality.

:func:`correlate_story` is a pure function of the story document produced from the incident
versions and of what was matched to it: the same inputs give the same bytes, and no wall-clock
value enters. Every list is sorted (by time, then fact key), every value is plain JSON.

**The criticality raise** (:func:`criticality_signals`, the one place that decides it): the story's
criticality (:mod:`xops_provider.stories.criticality`) rises when

- a recipient clicked through (a click the criticality rule counts as clicked through: allowed,
  or ``IsClickedThrough``);
- a network event reached the email's URLs, domains or IPs (matched on a destination, with an
  action that is not a block or a failure: :data:`BLOCKED_ACTIONS`);
- an endpoint detection followed delivery on a recipient's user or device (every matched
  detection: matching already keeps only those within the window after delivery).

A network event matched on its user alone is related activity, listed but raising nothing; at most
``max_user_only`` of them are listed (the earliest), and ``network_activity_omitted`` counts the rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from xops_provider.correlation.answers import answer_broader_attack, answer_clicked, answer_related_activity
from xops_provider.correlation.campaigns import Campaign
from xops_provider.correlation.facts import Click, EndpointDetection, NetworkEvent, PostDeliveryAction
from xops_provider.correlation.keys import StoryKeys
from xops_provider.correlation.matching import Match, MatchPolicy, StoryMatches
from xops_provider.correlation.related import RelatedStory
from xops_provider.stories.criticality import Signals

MAX_USER_ONLY_NETWORK_EVENTS = 50
DESTINATION_RULES = frozenset({"url", "domain", "ip"})
BLOCKED_ACTIONS = frozenset(
    {
        "block", "blocked", "deny", "denied", "drop", "dropped", "reject", "rejected", "prevent",
        "prevented", "connectionfailed", "connection failed", "not established", "nxdomain",
        "refused", "servfail",
    }
)  # fmt: skip
#: Timeline kinds this module writes (and replaces on every run).
TIMELINE_KINDS = ("url_click", "post_delivery_action", "network_access", "endpoint_detection")
#: Raw Data kinds this module writes, by the fact's type.
RAW_KINDS: Mapping[type, str] = {
    Click: "hunting_row",
    PostDeliveryAction: "hunting_row",
    NetworkEvent: "network_event",
    EndpointDetection: "endpoint_alert",
}
RAW_KIND_NAMES = frozenset(RAW_KINDS.values())


def _click(match: Match[Click]) -> dict[str, Any]:
    c = match.fact
    return {
        "time": c.time.isoformat(),
        "user": c.user,
        "url": c.url,
        "domain": c.domain,
        "action": c.action,
        "clicked_through": c.clicked_through,
        "message_id": c.message_id,
        "ip": c.ip,
        "workload": c.workload,
        "source": c.source,
        "fact_key": c.fact_key,
        "matched_on": list(match.matched_on),
    }


def _post_delivery(match: Match[PostDeliveryAction]) -> dict[str, Any]:
    a = match.fact
    return {
        "time": a.time.isoformat(),
        "message_id": a.message_id,
        "recipient": a.recipient,
        "action": a.action,
        "action_type": a.action_type,
        "action_trigger": a.action_trigger,
        "action_result": a.action_result,
        "delivery_location": a.delivery_location,
        "source": a.source,
        "fact_key": a.fact_key,
    }


def _network(match: Match[NetworkEvent]) -> dict[str, Any]:
    e = match.fact
    towards = bool(DESTINATION_RULES.intersection(match.matched_on))
    return {
        "time": e.time.isoformat(),
        "user": e.user,
        "src_ip": e.src_ip,
        "dest_ip": e.dest_ip,
        "dest_port": e.dest_port,
        "domain": e.domain,
        "url": e.url,
        "action": e.action,
        "device": e.device,
        "device_id": e.device_id,
        "detail": e.detail,
        "source": e.source,
        "fact_key": e.fact_key,
        "matched_on": list(match.matched_on),
        "towards_email": towards,
        "reached": towards and (e.action or "").strip().lower() not in BLOCKED_ACTIONS,
    }


def _detection(match: Match[EndpointDetection]) -> dict[str, Any]:
    d = match.fact
    return {
        "time": d.time.isoformat(),
        "alert_id": d.alert_id,
        "incident_id": d.incident_id,
        "title": d.title,
        "severity": d.severity,
        "service_source": d.source,
        "users": list(d.users),
        "devices": list(d.devices),
        "device_ids": list(d.device_ids),
        "ips": list(d.ips),
        "fact_key": d.fact_key,
        "matched_on": list(match.matched_on),
    }


def _listed_network(
    matches: Sequence[Match[NetworkEvent]], max_user_only: int
) -> tuple[list[Match[NetworkEvent]], int]:
    user_only = [m for m in matches if not DESTINATION_RULES.intersection(m.matched_on)]
    kept = {m.fact.fact_key for m in user_only[:max_user_only]}
    listed = [m for m in matches if DESTINATION_RULES.intersection(m.matched_on) or m.fact.fact_key in kept]
    return listed, max(0, len(user_only) - max_user_only)


def build_correlation(
    *,
    keys: StoryKeys,
    matches: StoryMatches,
    related: Sequence[RelatedStory],
    campaign: Campaign | None,
    sources: Mapping[str, str],
    policy: MatchPolicy = MatchPolicy(),
    max_user_only: int = MAX_USER_ONLY_NETWORK_EVENTS,
) -> dict[str, Any]:
    """The story's ``correlation`` object (``story.schema.json``), answers included.

    :param keys: the story's keys.
    :param matches: what matched it (:func:`~xops_provider.correlation.matching.match_story`).
    :param related: its related stories.
    :param campaign: its campaign, if any.
    :param sources: each source's state (:mod:`.answers`).
    :param policy: the window the matches used.
    :param max_user_only: network events matched on their user alone listed at most.
    """
    network, omitted = _listed_network(matches.network, max_user_only)
    window = policy.window(keys)
    correlation: dict[str, Any] = {
        "clicks": [_click(m) for m in matches.clicks],
        "network_activity": [_network(m) for m in network],
        "network_activity_omitted": omitted,
        "endpoint_detections": [_detection(m) for m in matches.detections],
        "post_delivery_actions": [_post_delivery(m) for m in matches.post_delivery],
        "related_stories": [r.to_json() for r in related],
        "campaign_id": campaign.campaign_id if campaign else None,
        "affected_users": list(campaign.affected_users) if campaign else sorted(keys.recipients),
        "window": {"start": window[0].isoformat(), "end": window[1].isoformat()} if window else None,
        "sources": {name: sources[name] for name in sorted(sources)},
    }
    hours = policy.window_seconds / 3600
    recipients = len(keys.recipients)
    correlation["answers"] = {
        "clicked": answer_clicked(
            correlation=correlation, recipients=recipients, sources=sources, window_hours=hours
        ),
        "related_activity": answer_related_activity(
            correlation=correlation, recipients=recipients, sources=sources, window_hours=hours
        ),
        "broader_attack": answer_broader_attack(
            story_id=keys.story_id,
            recipients=sorted(keys.recipients),
            correlation=correlation,
            related=related,
            campaign=campaign,
        ),
    }
    return correlation


def criticality_signals(correlation: Mapping[str, Any]) -> Signals:
    """What raises the criticality (the rule in this module's docstring).

    :param correlation: the story's ``correlation`` object.
    """
    return Signals(
        clicks=tuple(correlation.get("clicks") or ()),
        network_activity=tuple(e for e in correlation.get("network_activity") or () if e.get("reached")),
        endpoint_detections=tuple(correlation.get("endpoint_detections") or ()),
    )
