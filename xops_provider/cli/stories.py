"""``xops stories``: list, show and export the stories in the story store."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TextIO

from xops_provider.cli.render import format_table, terminal_safe
from xops_provider.cli.store import open_store, store_option

if TYPE_CHECKING:
    from xops_provider.store.reads import StoryReads


def register(groups: argparse._SubParsersAction) -> None:
    """Add the ``stories`` group to the ``xops`` parser.

    :param groups: the dispatcher's subparsers.
    """
    parser = groups.add_parser("stories", help="List, show and export stories.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    export = commands.add_parser(
        "export", help="Write stories as JSON lines (the story.schema.json contract)."
    )
    export.add_argument("--since", help="only stories updated since: ISO 8601, or a duration such as 7d")
    export.add_argument("--integration", help="only this integration's stories")
    export.add_argument("--output", "-o", help="write to this file instead of standard output")
    store_option(export)
    export.set_defaults(handler=_export)

    show = commands.add_parser("show", help="Print one story for a person.")
    show.add_argument("story_id", help="for example mdo:<tenant>:<incident>")
    show.add_argument("--json", action="store_true", help="print the story document as JSON instead")
    store_option(show)
    show.set_defaults(handler=_show)

    listing = commands.add_parser("list", help="A table of stories, most critical first.")
    listing.add_argument("--integration", help="only this integration's stories")
    listing.add_argument("--open", action="store_true", help="only open stories (not closed, not merged)")
    listing.add_argument("--ids", action="store_true", help="print only story ids, in first-signal order")
    store_option(listing)
    listing.set_defaults(handler=_list)


def _since(value: str | None) -> Any:
    if value is None:
        return None
    import datetime as dt

    from xops_provider.models.timestamps import GraphTime
    from xops_provider.sync_audit import parse_since

    return parse_since(value, now=GraphTime.from_datetime(dt.datetime.now(dt.UTC)))


def _export(args: argparse.Namespace) -> int:
    try:
        since = _since(args.since)
    except ValueError as err:
        print(f"xops stories export: {err}", file=sys.stderr)
        return 2
    store = open_store(args.store_conn_id)
    try:
        stories = store.reads.iter_stories(since=since, integration=args.integration)
        if args.output:
            with open(args.output, "w", encoding="utf-8") as out:
                count = write_json_lines(stories, out)
        else:
            count = write_json_lines(stories, sys.stdout)
    finally:
        store.close()
    print(f"exported {count} stories", file=sys.stderr)
    return 0


def write_json_lines(stories: Iterable[Mapping[str, Any]], out: TextIO) -> int:
    """Write one JSON object per line. Non-ASCII is escaped, so a line never holds a raw newline,
    bidi control or other character that a consumer might mis-split or mis-display.

    :param stories: story documents.
    :param out: where to write.
    """
    count = 0
    for story in stories:
        out.write(json.dumps(story, ensure_ascii=True, sort_keys=True, separators=(",", ":")))
        out.write("\n")
        count += 1
    return count


def _show(args: argparse.Namespace) -> int:
    store = open_store(args.store_conn_id)
    try:
        story = store.reads.get_story(args.story_id)
    finally:
        store.close()
    if story is None:
        print(f"xops stories show: no story {terminal_safe(args.story_id)!s}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(story, ensure_ascii=True, indent=2, sort_keys=True))
    else:
        print(render_story(story))
    return 0


def _list(args: argparse.Namespace) -> int:
    store = open_store(args.store_conn_id)
    order = "first_signal" if args.ids else "criticality"
    try:
        stories = list(
            _all_summaries(store.reads, integration=args.integration, open_only=args.open, order=order)
        )
    finally:
        store.close()
    if args.ids:
        print("\n".join(s["story_id"] for s in stories))
        return 0
    rows = [
        (
            s["story_id"],
            s["criticality"],
            s["status"],
            s["indication"],
            s["alert_count"],
            s["merged_into"],
            s["title"],
        )
        for s in stories
    ]
    headers = ("STORY", "CRIT", "STATUS", "INDICATION", "ALERTS", "MERGED INTO", "TITLE")
    print(format_table(headers, rows))
    print(f"\n{len(stories)} stories")
    return 0


def _all_summaries(reads: StoryReads, *, page_size: int = 500, **filters: Any) -> Iterable[dict[str, Any]]:
    offset = 0
    while page := reads.list_stories(limit=page_size, offset=offset, **filters):
        yield from page
        offset += len(page)


def render_story(story: Mapping[str, Any]) -> str:
    """A story as text for a person: summary, explanation, timeline, entities, evidence.

    :param story: a story document.
    """
    s = terminal_safe
    summary = story.get("summary") or {}
    details = story.get("details") or {}
    lines = [
        f"{s(story['title'])}",
        "=" * min(100, max(10, len(s(story["title"])))),
        f"Story        {s(story['story_id'])}",
        f"Criticality  {story['criticality']}/10   Indication: {s(story['indication'])}",
        f"Status       {s(story['status'])} (Defender: {s(story['vendor_status'])})"
        f"   Severity: {s(story['severity'])}",
        f"Verdict      {s(story.get('verdict') or '-')}"
        f" (predicted: {s(story.get('predicted_verdict') or '-')})",
        f"Signals      first {s(story['first_signal'])}, last {s(story['last_signal'])}",
    ]
    users = summary.get("affected_users") or story["correlation"].get("affected_users") or []
    if users:
        lines.append(f"Users        {', '.join(s(u) for u in users)}")
    if story.get("merged_into"):
        lines.append(f"Merged into  {s(story['merged_into'])}")
    if story.get("source_url"):
        lines.append(f"Defender     {s(story['source_url'])}")
    explanation = details.get("explanation") or details.get("narrative")
    if explanation:
        lines += ["", "What happened", "-------------", s(explanation)]
    timeline = story.get("timeline") or []
    if timeline:
        lines += ["", f"Timeline ({len(timeline)})", "--------"]
        lines += [f"{s(e['time'])}  {s(e['kind']):<22} {s(e['title'])}" for e in timeline]
    entities = story.get("entities") or []
    if entities:
        lines += ["", f"Entities ({len(entities)})", "--------"]
        for entity in sorted(entities, key=lambda e: (e["type"], e["value"])):
            roles = ", ".join(s(r) for r in entity.get("roles") or [])
            verdict = entity.get("verdict")
            lines.append(
                f"{s(entity['type']):<9} {s(entity['value'], max_length=90)}"
                + (f"  [{roles}]" if roles else "")
                + (f"  {s(verdict)}" if verdict else "")
            )
    evidence = story.get("evidence") or []
    if evidence:
        lines += ["", f"Evidence ({len(evidence)} alerts)", "--------"]
        lines += [
            f"{s(a['alert_id'])}  {s(a['title'])}  ({len(a.get('items') or [])} items)" for a in evidence
        ]
    lines += _correlation_lines(story.get("correlation") or {})
    return "\n".join(lines)


def _correlation_lines(correlation: Mapping[str, Any]) -> list[str]:
    """The three answers first, then the records that back them: clicks, network, endpoint, campaign."""
    s = terminal_safe
    lines: list[str] = []
    answers = correlation.get("answers") or {}
    if answers:
        lines += ["", "Answers", "-------"]
        lines += [f"{s(question)}: {s(answer)}" for question, answer in answers.items()]
    clicks = correlation.get("clicks") or []
    if clicks:
        lines += ["", f"Clicks ({len(clicks)})", "------"]
        lines += [
            f"{s(c['time'])}  {s(c.get('user') or '-'):<32} {s(c['action']):<12}"
            f" {'clicked through' if c.get('clicked_through') else 'not through'}"
            f"  {s(c['url'], max_length=70)}"
            for c in clicks
        ]
    network = correlation.get("network_activity") or []
    if network:
        lines += ["", f"Network activity ({len(network)})", "----------------"]
        lines += [
            f"{s(n['time'])}  {s(n['source']):<20} {s(n.get('user') or '-'):<32}"
            f" {s(n.get('domain') or n.get('dest_ip') or n.get('url') or '-', max_length=60)}"
            f"  {s(n.get('action') or '')}"
            for n in network
        ]
    detections = correlation.get("endpoint_detections") or []
    if detections:
        lines += ["", f"Endpoint detections ({len(detections)})", "-------------------"]
        lines += [
            f"{s(d['time'])}  {s(d['alert_id'])}  {s(d.get('severity') or '-')}  {s(d.get('title') or '')}"
            for d in detections
        ]
    if correlation.get("campaign_id"):
        users = correlation.get("affected_users") or []
        related = correlation.get("related_stories") or []
        lines += [
            "",
            f"Campaign     {s(correlation['campaign_id'])}: "
            f"{len(related)} related stories, {len(users)} users",
        ]
    return lines
