"""The correlation written into a story document: the ``correlation`` object, a timeline entry per
finding at its own time, the records in Raw Data, the raised criticality and the narrative's last
sentence.

:func:`correlate_story` takes the document :func:`~xops_provider.stories.producer.build_story` made
and returns a new one; applied again, with the same or other facts, it replaces what it wrote before
(timeline kinds :data:`~.assembly.TIMELINE_KINDS`, Raw Data kinds :data:`~.assembly.RAW_KINDS`)
rather than adding to it. Only ``last_signal`` never moves back, so apply it to the document as
produced, as the pipeline does: then the result is a pure function of the versions and the facts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from xops_provider.correlation.answers import RECORD_LABELS, clicked_through
from xops_provider.correlation.assembly import (
    RAW_KIND_NAMES,
    RAW_KINDS,
    TIMELINE_KINDS,
    build_correlation,
    criticality_signals,
)
from xops_provider.correlation.campaigns import Campaign
from xops_provider.correlation.keys import StoryKeys
from xops_provider.correlation.matching import MatchPolicy, StoryMatches
from xops_provider.correlation.related import RelatedStory
from xops_provider.models.timestamps import GraphTime
from xops_provider.stories.canonical import plain_copy
from xops_provider.stories.criticality import criticality
from xops_provider.stories.narrative import CORRELATION_PENDING
from xops_provider.stories.timeline import order_timeline

SUMMARY_PREFIX = "Correlation: "


def _entry(time: str, kind: str, title: str, *, incident_id: str, **extra: Any) -> dict[str, Any]:
    # The shape of stories/timeline.py's entries: extras that are None are left out.
    entry = {"time": time, "kind": kind, "title": title, "incident_id": incident_id}
    entry.update({key: value for key, value in extra.items() if value is not None})
    return entry


def _label(record: Mapping[str, Any]) -> str:
    return RECORD_LABELS.get(record["source"], record["source"])


def correlation_timeline(*, incident_id: str, correlation: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A timeline entry per click, post-delivery action, network access towards the email's URLs,
    domains or IPs, and endpoint detection, each at its own time. A network event matched on its
    user alone is not an entry: it is listed, not a step of the story.

    :param incident_id: the story's incident.
    :param correlation: the story's ``correlation`` object.
    """
    entries = []
    for c in correlation["clicks"]:
        user = c["user"] or "an unknown user"
        title = (
            f"{user} clicked through {c['url']} ({c['action']}, {c['source']})"
            if clicked_through(c)
            else f"Click by {user} on {c['url']} not let through ({c['action']}, {c['source']})"
        )
        entries.append(
            _entry(
                c["time"], "url_click", title, incident_id=incident_id, user=c["user"], url=c["url"],
                source=c["source"], fact_key=c["fact_key"],
            )
        )  # fmt: skip
    for a in correlation.get("post_delivery_actions", []):
        what = ": ".join(p for p in (a["action_type"], a["action"]) if p)
        entries.append(
            _entry(
                a["time"], "post_delivery_action",
                f"{what} for {a['recipient'] or 'a recipient'} ({a['source']})",
                incident_id=incident_id, network_message_id=a["message_id"], source=a["source"],
                fact_key=a["fact_key"],
            )
        )  # fmt: skip
    for e in correlation["network_activity"]:
        if not e["towards_email"]:
            continue
        who = e["user"] or e["device"] or e["src_ip"] or "an unknown host"
        where = e["url"] or e["domain"] or e["dest_ip"]
        verb = "reached" if e["reached"] else "tried to reach"
        entries.append(
            _entry(
                e["time"], "network_access",
                f"{who} {verb} {where} ({e['action'] or 'no action'}, {_label(e)})",
                incident_id=incident_id, user=e["user"], source=e["source"], fact_key=e["fact_key"],
            )
        )  # fmt: skip
    for d in correlation["endpoint_detections"]:
        assets = ", ".join(d["devices"] or d["users"]) or "an unknown asset"
        label = RECORD_LABELS.get(d["service_source"], d["service_source"])
        entries.append(
            _entry(
                d["time"], "endpoint_detection",
                f"Endpoint detection: {d['title'] or 'untitled alert'} "
                f"({d['severity'] or 'unknown'} severity) on {assets} ({label})",
                incident_id=incident_id, alert_id=d["alert_id"], source=d["service_source"],
                fact_key=d["fact_key"],
            )
        )  # fmt: skip
    return entries


def correlation_raw_data(*, matches: StoryMatches, correlation: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The records the correlation lists, as received, for the Raw Data widget.

    :param matches: what matched the story.
    :param correlation: the ``correlation`` object built from them (only listed records are kept).
    """
    listed = {
        item["fact_key"]
        for name in ("clicks", "network_activity", "endpoint_detections", "post_delivery_actions")
        for item in correlation.get(name, [])
    }
    facts = [
        m.fact
        for group in (matches.clicks, matches.post_delivery, matches.network, matches.detections)
        for m in group
        if m.fact.fact_key in listed
    ]
    records = [
        {
            "kind": RAW_KINDS[type(f)],
            "source": f.source,
            "fact_key": f.fact_key,
            "time": f.time.isoformat(),
            "payload": f.raw,
        }
        for f in facts
    ]
    return sorted(records, key=lambda r: (r["kind"], GraphTime.parse(r["time"]).ticks, r["fact_key"]))


def correlation_summary(correlation: Mapping[str, Any]) -> str:
    """The narrative's last sentence: what correlation found, in counts.

    :param correlation: the story's ``correlation`` object.
    """
    through = sum(1 for c in correlation["clicks"] if clicked_through(c))
    reached = sum(1 for e in correlation["network_activity"] if e["reached"])
    detections = len(correlation["endpoint_detections"])
    found = [
        text
        for count, text in (
            (through, f"{through} click-through{'s' if through != 1 else ''}"),
            (reached, f"{reached} network access{'es' if reached != 1 else ''} to the email's destinations"),
            (detections, f"{detections} endpoint detection{'s' if detections != 1 else ''} after delivery"),
        )
        if count
    ]
    text = SUMMARY_PREFIX + (
        ", ".join(found) if found else "no click-through, network access or endpoint detection found"
    )
    if correlation.get("campaign_id"):
        text += f"; part of campaign {correlation['campaign_id']}"
    return text + "."


def _narrative(text: str, summary: str) -> str:
    if text.endswith(CORRELATION_PENDING):
        return text[: -len(CORRELATION_PENDING)] + summary
    # A summary from an earlier run is the last sentence: quoted text (a subject) can only come before.
    cut = text.rfind(SUMMARY_PREFIX)
    if cut >= 0:
        return text[:cut] + summary
    return f"{text} {summary}".strip()


def _last_signal(story: Mapping[str, Any], entries: Sequence[Mapping[str, Any]]) -> str:
    times = [GraphTime.parse(story["last_signal"])] + [GraphTime.parse(e["time"]) for e in entries]
    return max(times).isoformat()


def correlate_story(
    story: Mapping[str, Any],
    *,
    keys: StoryKeys,
    matches: StoryMatches,
    related: Sequence[RelatedStory] = (),
    campaign: Campaign | None = None,
    sources: Mapping[str, str],
    policy: MatchPolicy = MatchPolicy(),
) -> dict[str, Any]:
    """A new story document with the correlation written in (this module's docstring).

    :param story: the story document, as produced.
    :param keys: its keys (:func:`~xops_provider.correlation.keys.story_keys`).
    :param matches: what matched it.
    :param related: its related stories.
    :param campaign: its campaign, if any.
    :param sources: each source's state (:mod:`.answers`).
    :param policy: the window the matches used.
    :raises ValueError: when ``keys`` are another story's.
    """
    if keys.story_id != story["story_id"]:
        raise ValueError(f"keys of {keys.story_id} given for {story['story_id']}")
    correlation = build_correlation(
        keys=keys, matches=matches, related=related, campaign=campaign, sources=sources, policy=policy
    )
    entries = correlation_timeline(incident_id=str(story["source_incident_id"]), correlation=correlation)
    document = dict(story)
    document["correlation"] = correlation
    document["timeline"] = order_timeline(
        [dict(e) for e in story["timeline"] if e.get("kind") not in TIMELINE_KINDS] + entries
    )
    document["raw_data"] = [r for r in story["raw_data"] if r.get("kind") not in RAW_KIND_NAMES]
    document["raw_data"] += correlation_raw_data(matches=matches, correlation=correlation)
    details = dict(story["details"])
    document["criticality"] = criticality(
        severity=story["severity"],
        classification=details.get("classification"),
        signals=criticality_signals(correlation),
    )
    document["last_signal"] = _last_signal(story, entries)
    if isinstance(details.get("narrative"), str):
        details["narrative"] = _narrative(details["narrative"], correlation_summary(correlation))
    document["details"] = details
    summary = dict(story.get("summary") or {})
    summary.update(criticality=document["criticality"], last_signal=document["last_signal"])
    document["summary"] = summary
    return plain_copy(document)
