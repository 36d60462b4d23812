"""``xops incidents``: read Defender incidents through an ``ms_tenant`` connection."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xops_provider.models.incident import Incident


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``incidents`` group to the ``xops`` command.

    :param subparsers: the dispatcher's group subparsers.
    """
    parser = subparsers.add_parser("incidents", help="Defender incidents from Microsoft Graph.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    listing = commands.add_parser("list", help="List incidents as a table.")
    listing.add_argument("--conn-id", default="ms_tenant_default", help="the ms_tenant connection id")
    listing.add_argument("--top", type=_positive, default=20, help="how many incidents to list (default 20)")
    listing.add_argument(
        "--since",
        default=None,
        help="only incidents updated at or after this ISO 8601 time, e.g. 2026-03-01T00:00:00Z",
    )
    listing.set_defaults(handler=list_command)


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def list_command(args: argparse.Namespace) -> int:
    """Print incidents as a table: id, last update, status, severity, title.

    :param args: ``conn_id``, ``top`` and ``since``.
    """
    from pydantic import ValidationError

    from xops_provider.cli.connections import ConnectionNotFound
    from xops_provider.cli.render import format_table
    from xops_provider.cli.tenant import hook_for
    from xops_provider.clients.errors import GraphError
    from xops_provider.clients.graph import INCIDENTS_PATH, MAX_PAGE_SIZE
    from xops_provider.models.incident import Incident
    from xops_provider.models.timestamps import GraphTime, InvalidTimestamp

    params: dict[str, Any] = {"$top": min(args.top, MAX_PAGE_SIZE)}
    if args.since:
        try:
            since = GraphTime.parse(args.since)
        except InvalidTimestamp as err:
            print(f"error: --since: {err}", file=sys.stderr)
            return 2
        params["$filter"] = f"lastUpdateDateTime ge {since.isoformat()}"

    rows: list[tuple[str, ...]] = []
    invalid = 0
    try:
        client = hook_for(args.conn_id).get_graph_client()
        for page in client.iter_pages(INCIDENTS_PATH, params):
            for item in page.get("value") or []:
                try:
                    incident = Incident.model_validate(item)
                except ValidationError as err:
                    invalid += 1
                    raw_id = item.get("id") if isinstance(item, dict) else None
                    reason = f"<invalid incident: {err.error_count()} error(s)>"
                    rows.append((str(raw_id or "?"), "", "", "", reason))
                else:
                    rows.append(_row(incident))
                if len(rows) >= args.top:
                    break
            if len(rows) >= args.top:
                break
    except (ConnectionNotFound, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except GraphError as err:
        print(f"error: {type(err).__name__}: {err}", file=sys.stderr)
        return 1

    print(format_table(("ID", "LAST UPDATE", "STATUS", "SEVERITY", "TITLE"), rows, max_width=90))
    if invalid:
        print(f"warning: {invalid} incident(s) could not be read; shown as <invalid>", file=sys.stderr)
    return 0


def _row(incident: Incident) -> tuple[str, ...]:
    return (
        incident.id,
        incident.last_update.isoformat(),
        incident.status or "",
        incident.severity or "",
        incident.display_name or "",
    )
