"""``xops incidents``: read Defender incidents through an ``ms_tenant`` connection."""

from __future__ import annotations

import argparse
import sys
import unicodedata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xops_provider.models.incident import Incident

# Control, format (bidi overrides, zero-width) and separator characters can rewrite what a terminal
# shows; incident titles are written by attackers (they quote email subjects).
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})


def terminal_safe(text: Any, *, width: int | None = None) -> str:
    """Text that cannot drive a terminal: control, bidi and zero-width characters removed.

    :param text: any value; ``None`` becomes ``""``.
    :param width: clip to this many characters, ending with ``…``.
    """
    if text is None:
        return ""
    cleaned = "".join(
        " " if ch in "\t\n\r" else ch
        for ch in str(text)
        if ch in "\t\n\r" or unicodedata.category(ch) not in _UNSAFE_CATEGORIES
    )
    cleaned = " ".join(cleaned.split())
    if width is not None and len(cleaned) > width:
        cleaned = cleaned[: max(width - 1, 0)] + "…"
    return cleaned


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
                    rows.append((terminal_safe(raw_id) or "?", "", "", "", reason))
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

    _print_table(("ID", "LAST UPDATE", "STATUS", "SEVERITY", "TITLE"), rows)
    if invalid:
        print(f"warning: {invalid} incident(s) could not be read; shown as <invalid>", file=sys.stderr)
    return 0


def _row(incident: Incident) -> tuple[str, ...]:
    return (
        terminal_safe(incident.id),
        incident.last_update.isoformat(),
        terminal_safe(incident.status),
        terminal_safe(incident.severity),
        terminal_safe(incident.display_name, width=90),
    )


def _print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max([len(header[i]), *(len(row[i]) for row in rows)]) for i in range(len(header))]
    line = "  ".join(f"{{:<{w}}}" for w in widths[:-1]) + "  {}"
    print(line.format(*header))
    for row in rows:
        print(line.format(*row))
