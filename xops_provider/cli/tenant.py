"""``xops tenant``: admin consent and a connection check for an ``ms_tenant`` connection."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xops_provider.hooks.ms_tenant import MsTenantHook


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``tenant`` group to the ``xops`` command.

    :param subparsers: the dispatcher's group subparsers.
    """
    parser = subparsers.add_parser("tenant", help="Microsoft tenant connection: consent and checks.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    consent = commands.add_parser(
        "consent-url",
        help="Print the admin-consent URL and the permissions the app registration must carry.",
    )
    consent.add_argument("--conn-id", default="ms_tenant_default", help="the ms_tenant connection id")
    consent.add_argument("--redirect-uri", required=True, help="a redirect URI registered on the app")
    consent.add_argument("--state", default=None, help="an opaque value echoed back with the answer")
    consent.set_defaults(handler=consent_url_command)

    check = commands.add_parser("test", help="Acquire a token and read one incident.")
    check.add_argument("--conn-id", default="ms_tenant_default", help="the ms_tenant connection id")
    check.set_defaults(handler=test_command)


def hook_for(conn_id: str) -> MsTenantHook:
    """An :class:`MsTenantHook` on a connection resolved as ``airflow connections get`` does.

    :param conn_id: the ``ms_tenant`` connection id.
    """
    from xops_provider.cli.connections import get_connection
    from xops_provider.hooks.ms_tenant import MsTenantHook

    return MsTenantHook(ms_tenant_conn_id=conn_id, connection=get_connection(conn_id))


def consent_url_command(args: argparse.Namespace) -> int:
    """Print the v2 admin-consent URL, then the application permissions to configure.

    :param args: ``conn_id``, ``redirect_uri`` and ``state``.
    """
    from xops_provider.cli.connections import ConnectionNotFound
    from xops_provider.clients.identity import PLANNED_PERMISSIONS, REQUIRED_PERMISSIONS

    try:
        url = hook_for(args.conn_id).consent_url(redirect_uri=args.redirect_uri, state=args.state)
    except (ConnectionNotFound, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(url)
    print()
    print("The admin consent grants what the app registration is configured with (scope .default).")
    print("Application permissions (Microsoft Graph) the app registration must carry:")
    for name, purpose in REQUIRED_PERMISSIONS.items():
        print(f"  {name:<32} required: {purpose}")
    print("For features that come next (add them now to avoid a second consent):")
    for name, purpose in PLANNED_PERMISSIONS.items():
        print(f"  {name:<32} later: {purpose}")
    return 0


def test_command(args: argparse.Namespace) -> int:
    """Run the hook's connection test and print its verdict.

    :param args: ``conn_id``.
    """
    from xops_provider.cli.connections import ConnectionNotFound

    try:
        hook = hook_for(args.conn_id)
    except ConnectionNotFound as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    ok, message = hook.test_connection()
    print(message, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1
