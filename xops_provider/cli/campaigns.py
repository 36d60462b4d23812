"""``xops campaigns``: the campaigns correlation found, their stories, users and shared indicators."""

from __future__ import annotations

import argparse
import sys

from xops_provider.cli.render import format_table, terminal_safe
from xops_provider.cli.store import open_store, store_option


def register(groups: argparse._SubParsersAction) -> None:
    """Add the ``campaigns`` group to the ``xops`` parser.

    :param groups: the dispatcher's subparsers.
    """
    parser = groups.add_parser(
        "campaigns", help="List and show campaigns (stories joined by attack indicators)."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    listing = commands.add_parser("list", help="Each campaign with its story and user counts.")
    store_option(listing)
    listing.set_defaults(handler=_list)
    show = commands.add_parser(
        "show", help="One campaign: its stories, affected users and shared indicators."
    )
    show.add_argument("campaign_id")
    store_option(show)
    show.set_defaults(handler=_show)


def _list(args: argparse.Namespace) -> int:
    with open_store(args.store_conn_id) as store:
        rows = store.reads.campaign_summaries()
    table = [(r["campaign_id"], r["stories"], r["max_criticality"], r["first_signal"]) for r in rows]
    print(format_table(("CAMPAIGN", "STORIES", "MAX CRIT", "FIRST SIGNAL"), table))
    print(f"\n{len(rows)} campaigns")
    return 0


def _show(args: argparse.Namespace) -> int:
    s = terminal_safe
    with open_store(args.store_conn_id) as store:
        campaign = store.reads.campaign(args.campaign_id)
    if campaign is None:
        print(f"xops campaigns show: no campaign {s(args.campaign_id)}", file=sys.stderr)
        return 1
    lines = [f"Campaign {s(campaign.campaign_id)}", "", f"Stories ({len(campaign.stories)})"]
    lines += [
        f"  {s(st['story_id'])}  crit {st['criticality']}  {s(st.get('title') or '', max_length=80)}"
        for st in campaign.stories
    ]
    lines += ["", f"Affected users ({len(campaign.affected_users)})"]
    lines += [f"  {s(user)}" for user in campaign.affected_users]
    lines += ["", f"Shared indicators ({len(campaign.shared_indicators)})"]
    lines += [
        f"  {s(i['type']):<14} {s(i['value'], max_length=90)}  ({i.get('stories', '?')} stories)"
        for i in campaign.shared_indicators
    ]
    print("\n".join(lines))
    return 0
