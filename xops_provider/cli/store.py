"""``xops store``: the story store's schema, and how every ``xops`` command opens the store."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xops_provider.store import Store

from xops_provider.hooks.store import DEFAULT_STORE_CONN_ID


def open_store(conn_id: str, *, migrate: bool = True) -> Store:
    """The story store a connection names, resolved like ``airflow connections get``.

    Only the default id falls back to the embedded SQLite store (see
    :func:`xops_provider.hooks.store.store_url`).

    :param conn_id: the store connection id.
    :param migrate: upgrade the schema first. The ``xops`` commands do, like a writing task: on a new
        store, ``xops stories list`` shows an empty list instead of an error.
    :raises xops_provider.hooks.store.StoreConnectionNotFound: a custom id that is not defined.
    """
    from xops_provider.cli.connections import ConnectionNotFound, get_connection
    from xops_provider.hooks.store import open_store as open_url
    from xops_provider.hooks.store import store_url

    try:
        connection = get_connection(conn_id)
    except ConnectionNotFound:
        connection = None
    return open_url(store_url(conn_id, connection), migrate=migrate)


def store_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--store-conn-id`` to a subcommand.

    :param parser: the subcommand's parser.
    """
    parser.add_argument(
        "--store-conn-id",
        default=DEFAULT_STORE_CONN_ID,
        help="story store connection (default: %(default)s; only it falls back to the embedded SQLite store)",
    )


def register(groups: argparse._SubParsersAction) -> None:
    """Add the ``store`` group to the ``xops`` parser.

    :param groups: the dispatcher's subparsers.
    """
    parser = groups.add_parser("store", help="The story store's schema.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    migrate = commands.add_parser(
        "migrate", help="Create or upgrade the story store's schema (the first writing task does it too)."
    )
    store_option(migrate)
    migrate.set_defaults(handler=_migrate)


def _migrate(args: argparse.Namespace) -> int:
    from xops_provider.cli.render import terminal_safe
    from xops_provider.hooks.store import StoreConnectionNotFound
    from xops_provider.store.database import head_revision

    try:
        store = open_store(args.store_conn_id, migrate=True)
    except StoreConnectionNotFound as err:
        print(f"xops store migrate: {terminal_safe(err)}", file=sys.stderr)
        return 1
    with store:
        print(f"{store!r} is at revision {head_revision()}")
    return 0
