"""``xops sync``: check the story store against what Microsoft Graph holds."""

from __future__ import annotations

import argparse
import sys

from xops_provider.cli.store import store_option

#: Exit status when the audit found differences (2 is argparse's usage error, 1 a failure).
EXIT_DIFFERENCES = 3


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``sync`` group to the ``xops`` command.

    :param subparsers: the dispatcher's group subparsers.
    """
    parser = subparsers.add_parser("sync", help="Incident sync checks.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    audit = commands.add_parser(
        "audit",
        help="Compare Graph's incidents in a window with the store: missing, stale and extra.",
        description=(
            "List every incident Graph holds with lastUpdateDateTime at or after --since, compare "
            "with the store's incident heads, print the missing, stale and extra counts with the "
            f"first ids of each, and exit {EXIT_DIFFERENCES} when any is non-zero."
        ),
    )
    audit.add_argument("--integration", required=True, help="the integration whose store and window to audit")
    audit.add_argument(
        "--since",
        default=None,
        help="the window's start: ISO 8601 (2026-03-01T00:00:00Z) or a duration back from now (7d, 12h, "
        "30m); default: the integration's lookback start",
    )
    audit.add_argument("--conn-id", default="ms_tenant_default", help="the ms_tenant connection id")
    store_option(audit)
    audit.set_defaults(handler=audit_command)


def audit_command(args: argparse.Namespace) -> int:
    """Run the audit and print its report.

    :param args: ``integration``, ``since``, ``conn_id`` and ``store_conn_id``.
    """
    import datetime as dt

    from xops_provider.cli.connections import get_connection
    from xops_provider.cli.render import terminal_safe
    from xops_provider.cli.store import open_store
    from xops_provider.clients.errors import GraphError
    from xops_provider.hooks.defender import DefenderIncidentsHook
    from xops_provider.models.timestamps import GraphTime
    from xops_provider.sync import DEFAULT_LOOKBACK
    from xops_provider.sync_audit import compare, parse_since

    now = GraphTime.from_datetime(dt.datetime.now(dt.UTC))
    try:
        hook = DefenderIncidentsHook(ms_tenant_conn_id=args.conn_id, connection=get_connection(args.conn_id))
        connection_tenant = hook.tenant_id  # a malformed connection fails here, before any I/O
        store = open_store(args.store_conn_id)
    except (LookupError, ValueError) as err:
        print(f"error: {terminal_safe(err)}", file=sys.stderr)
        return 1
    try:
        state = store.sync.sync_state(args.integration)
        if args.since:
            try:
                since = parse_since(args.since, now=now)
            except ValueError as err:
                print(f"error: {terminal_safe(err)}", file=sys.stderr)
                return 2
        elif state is not None:
            since = state.lookback_start
        else:
            since = now.shift(seconds=-DEFAULT_LOOKBACK.total_seconds())
        tenant_id = state.tenant_id if state is not None else connection_tenant
        try:
            listing = list(hook.iter_versions(since=since))
        except GraphError as err:
            print(f"error: Graph: {terminal_safe(err)}", file=sys.stderr)
            return 1
        # The window's heads, plus the older heads of incidents Graph lists in it (the stale ones).
        stored = {
            head.incident_id: head.last_update
            for head in store.sync.heads(tenant_id=tenant_id, since_ticks=since)
        }
        older = [incident_id for incident_id, _ in listing if incident_id not in stored]
        for incident_id, head in store.sync.incident_heads(tenant_id=tenant_id, incident_ids=older).items():
            stored[incident_id] = head.last_update
    finally:
        store.close()
        hook.close()
    report = compare(graph=listing, stored=stored, since=since)
    print(f"integration: {terminal_safe(args.integration)}")
    for line in report.render().splitlines():
        print(terminal_safe(line))
    return 0 if report.clean else EXIT_DIFFERENCES
