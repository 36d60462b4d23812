"""``xops integrations``: add, list, show, disable, enable and remove the integrations in the store.

An integration reads one product of one tenant through a parent ``ms_tenant`` connection; the
``default`` integration on ``ms_tenant_default`` is implicit while that connection exists.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from xops_provider.cli.store import store_option

if TYPE_CHECKING:
    from xops_provider.store import Store
    from xops_provider.store.integrations import Integration


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``integrations`` group to the ``xops`` command.

    :param subparsers: the dispatcher's group subparsers.
    """
    parser = subparsers.add_parser(
        "integrations", help="Integrations: which tenants are read, and their health."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    add = commands.add_parser("add", help="Add an integration on a parent ms_tenant connection.")
    add.add_argument("name", help="the integration's name")
    add.add_argument("--conn-id", required=True, help="the parent ms_tenant connection id")
    add.add_argument("--description", default=None, help="free text")
    add.add_argument("--disabled", action="store_true", help="add it disabled")
    add.set_defaults(handler=add_command)

    listing = commands.add_parser("list", help="List the integrations with their status.")
    listing.set_defaults(handler=list_command)

    show = commands.add_parser("show", help="Status, lag, last good sync and the run counters.")
    show.add_argument("name")
    show.set_defaults(handler=show_command)

    for name, text in (
        ("disable", "Stop reading an integration (its data stays)."),
        ("enable", "Read it again."),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("name")
        command.set_defaults(handler=toggle_command, enabled=name == "enable")

    remove = commands.add_parser("remove", help="Remove an integration; --purge deletes its data too.")
    remove.add_argument("name")
    remove.add_argument(
        "--purge",
        action="store_true",
        help="also delete its stories, incident versions, heads, sync state and quarantine",
    )
    remove.set_defaults(handler=remove_command)

    for command in (add, listing, show, remove, *(commands.choices[n] for n in ("disable", "enable"))):
        store_option(command)


def tenant_of(conn_id: str) -> str:
    """The tenant id of an ``ms_tenant`` connection.

    :param conn_id: the connection id.
    :raises xops_provider.cli.connections.ConnectionNotFound: it is not defined.
    :raises ValueError: it is malformed.
    """
    from xops_provider.cli.connections import get_connection
    from xops_provider.hooks.ms_tenant import MsTenantHook

    return MsTenantHook(ms_tenant_conn_id=conn_id, connection=get_connection(conn_id)).tenant_config.tenant_id


def default_tenant() -> str | None:
    """The tenant of ``ms_tenant_default`` when that connection exists and reads; else ``None``."""
    from xops_provider.cli.connections import ConnectionNotFound
    from xops_provider.store.integrations import DEFAULT_CONN_ID

    try:
        return tenant_of(DEFAULT_CONN_ID)
    except (ConnectionNotFound, ValueError):
        return None


def _fail(args: argparse.Namespace, message: object) -> int:
    from xops_provider.cli.render import terminal_safe

    print(f"xops integrations {args.command}: {terminal_safe(message)}", file=sys.stderr)
    return 1


def add_command(args: argparse.Namespace) -> int:
    """Add an integration, refusing an undefined parent connection and a second one for a tenant.

    :param args: ``name``, ``conn_id``, ``description``, ``disabled`` and ``store_conn_id``.
    """
    from xops_provider.cli.connections import ConnectionNotFound
    from xops_provider.cli.store import open_store
    from xops_provider.store.integrations import IntegrationConflict

    try:
        tenant_id = tenant_of(args.conn_id)
    except ConnectionNotFound as err:
        return _fail(args, f"parent connection {args.conn_id!r} not found: {err}")
    except ValueError as err:
        return _fail(args, err)
    with open_store(args.store_conn_id) as store:
        try:
            added = store.integrations.add(
                name=args.name,
                conn_id=args.conn_id,
                tenant_id=tenant_id,
                description=args.description,
                enabled=not args.disabled,
                default_tenant_id=default_tenant(),
            )
        except (IntegrationConflict, ValueError) as err:
            return _fail(args, err)
    print(_render_integration(added))
    return 0


def list_command(args: argparse.Namespace) -> int:
    """Print every integration with its status.

    :param args: ``store_conn_id``.
    """
    from xops_provider.cli.render import format_table
    from xops_provider.cli.store import open_store

    with open_store(args.store_conn_id) as store:
        rows = []
        for integration in store.integrations.list(default_tenant_id=default_tenant()):
            health = store.integrations.health(integration.name)
            rows.append(
                (
                    integration.name + (" (implicit)" if integration.implicit else ""),
                    integration.conn_id,
                    integration.tenant_id,
                    "yes" if integration.enabled else "no",
                    health.status if health else "Never run",
                )
            )
    if not rows:
        print("No integrations. Add one with: xops integrations add NAME --conn-id MS_TENANT_CONN_ID")
        return 0
    print(format_table(("name", "connection", "tenant", "enabled", "status"), rows))
    return 0


def show_command(args: argparse.Namespace) -> int:
    """Print one integration with its health and lag.

    :param args: ``name`` and ``store_conn_id``.
    """
    from xops_provider.cli.render import terminal_safe
    from xops_provider.cli.store import open_store
    from xops_provider.models.health import format_duration, lag_seconds
    from xops_provider.models.timestamps import GraphTime
    from xops_provider.store.integrations import IntegrationNotFound

    with open_store(args.store_conn_id) as store:
        try:
            integration = store.integrations.get(args.name, default_tenant_id=default_tenant())
        except IntegrationNotFound as err:
            return _fail(args, err)
        health = store.integrations.health(integration.name)
        state = store.sync.sync_state(integration.name)
    lag = lag_seconds(state.watermark if state else None, now=GraphTime.now())
    lines = [
        _render_integration(integration),
        f"status:          {health.status if health else 'Never run'}",
        f"lag:             {format_duration(lag)}",
        f"watermark:       {state.watermark.isoformat() if state and state.watermark else '-'}",
        f"last good sync:  {(health and health.last_good_sync) or '-'}",
        f"last error:      {(health and health.last_error) or '-'}",
        f"runs:            {health.runs if health else 0}",
        f"failed runs:     {health.failed_runs if health else 0}",
        f"throttled (429): {health.throttled_429 if health else 0}",
        f"quarantined:     {health.quarantined if health else 0}",
    ]
    print("\n".join(terminal_safe(line) for line in lines))
    return 0


def toggle_command(args: argparse.Namespace) -> int:
    """Enable or disable an integration; the implicit default gets its row here.

    :param args: ``name``, ``enabled`` and ``store_conn_id``.
    """
    from xops_provider.cli.store import open_store
    from xops_provider.store.integrations import IntegrationNotFound

    with open_store(args.store_conn_id) as store:
        try:
            _materialise(store, args.name)
            if args.enabled:
                store.integrations.enable(args.name)
            else:
                store.integrations.disable(args.name)
        except IntegrationNotFound as err:
            return _fail(args, err)
    print(f"integration {args.name!r} {'enabled' if args.enabled else 'disabled'}")
    return 0


def remove_command(args: argparse.Namespace) -> int:
    """Remove an integration, and with ``--purge`` its data.

    :param args: ``name``, ``purge`` and ``store_conn_id``.
    """
    from xops_provider.cli.store import open_store
    from xops_provider.store.integrations import DEFAULT_CONN_ID, IntegrationNotFound

    with open_store(args.store_conn_id) as store:
        try:
            implicit = store.integrations.get(args.name, default_tenant_id=default_tenant()).implicit
            if implicit and not args.purge:
                return _fail(
                    args,
                    f"{args.name!r} is implicit while connection {DEFAULT_CONN_ID!r} exists; "
                    f"disable it instead (xops integrations disable {args.name})",
                )
            if implicit:
                _materialise(store, args.name)
            deleted = store.integrations.remove(args.name, purge=args.purge)
        except IntegrationNotFound as err:
            return _fail(args, err)
    print(f"integration {args.name!r} removed")
    for table, count in deleted.items():
        print(f"  {table}: {count} row(s) deleted")
    return 0


def _materialise(store: Store, name: str) -> None:
    """Give the implicit default a row, so that a change to it is stored."""
    tenant = default_tenant()
    integration = store.integrations.get(name, default_tenant_id=tenant)
    if integration.implicit and tenant is not None:
        store.integrations.add(
            name=integration.name,
            conn_id=integration.conn_id,
            tenant_id=integration.tenant_id,
            default_tenant_id=tenant,
        )


def _render_integration(integration: Integration) -> str:
    from xops_provider.cli.render import terminal_safe

    lines = [
        f"integration:     {integration.name}{' (implicit)' if integration.implicit else ''}",
        f"product:         {integration.product}",
        f"connection:      {integration.conn_id}",
        f"tenant:          {integration.tenant_id}",
        f"enabled:         {'yes' if integration.enabled else 'no'}",
    ]
    if integration.description:
        lines.append(f"description:     {integration.description}")
    return "\n".join(terminal_safe(line) for line in lines)
