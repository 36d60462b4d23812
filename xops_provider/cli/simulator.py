"""``xops simulator``: run the Defender simulator (Entra ID + Graph security incidents over HTTPS)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def _serve(args: argparse.Namespace) -> int:
    from xops_provider.simulator.faults import FaultSpec, FaultSpecError
    from xops_provider.simulator.scenarios import SCENARIOS
    from xops_provider.simulator.server import ServeOptions, serve

    if args.scenario not in SCENARIOS:
        raise SystemExit(f"xops simulator serve: unknown scenario {args.scenario!r} ({', '.join(SCENARIOS)})")
    try:
        faults = FaultSpec.parse(args.faults)
    except FaultSpecError as err:
        raise SystemExit(f"xops simulator serve: --faults: {err}") from None
    return serve(
        ServeOptions(
            state_dir=Path(args.state_dir),
            host=args.host,
            port=args.port,
            scenario=args.scenario,
            incidents=args.incidents,
            seed=args.seed,
            faults=faults,
            log_level=args.log_level,
            exit_with_parent=args.exit_with_parent,
        )
    )


def register(subparsers: Any) -> None:
    """Add the ``simulator`` group to the ``xops`` command.

    :param subparsers: the dispatcher's subparsers action.
    """
    group = subparsers.add_parser("simulator", help="The Defender simulator for tests, benchmarks and demos.")
    commands = group.add_subparsers(dest="command", metavar="COMMAND", required=True)
    serve = commands.add_parser(
        "serve",
        help="Serve Entra ID and Graph security incidents over HTTPS on loopback.",
        description=(
            "Writes DIR/ca.pem, DIR/connection.json (the ms_tenant connection) and, once accepting "
            "connections, DIR/ready; prints the AIRFLOW_CONN_MS_TENANT_DEFAULT export line on stdout."
        ),
    )
    serve.add_argument("--host", default="127.0.0.1", help="listening address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default)")
    serve.add_argument("--state-dir", required=True, metavar="DIR", help="CA, secret and hand-off files")
    serve.add_argument("--scenario", default="empty", help="empty (default), company-xyz or generated")
    serve.add_argument(
        "--incidents", type=int, default=None, metavar="N", help="incident count for generated"
    )
    serve.add_argument("--seed", type=int, default=0, help="seed for scenario content and fault dice")
    serve.add_argument(
        "--faults",
        default="",
        metavar="SPEC",
        help="e.g. 429=0.3,503=0.1,retry_after=0.2,expand500=20,slow=200ms,truncate=0.05,"
        "skip_ceiling=1000,token_lifetime=5,quota=150/min (see docs/simulator.md)",
    )
    serve.add_argument("--log-level", default="warning", help="uvicorn log level (default warning)")
    serve.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="stop when the process that started the simulator exits (used by test fixtures)",
    )
    serve.set_defaults(handler=_serve)
