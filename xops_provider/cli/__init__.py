"""The ``xops`` command. Each subcommand group lives in its own module and registers itself."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

# Group -> (module, whether it runs Airflow code). Only the chosen group is imported, so that
# ``xops simulator serve`` starts in a second instead of paying for Airflow's import.
_GROUPS: dict[str, tuple[str, bool]] = {
    "simulator": ("xops_provider.cli.simulator", False),
    "tenant": ("xops_provider.cli.tenant", True),
    "incidents": ("xops_provider.cli.incidents", True),
    "sync": ("xops_provider.cli.sync", True),
    "stories": ("xops_provider.cli.stories", True),
    "store": ("xops_provider.cli.store", True),
    "campaigns": ("xops_provider.cli.campaigns", True),
    "network": ("xops_provider.cli.network", True),
    "integrations": ("xops_provider.cli.integrations", True),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser, with one group registered, or every group when ``only`` is not a known group.

    :param only: the group named on the command line.
    """
    parser = argparse.ArgumentParser(prog="xops", description="XOps provider tools for Defender stories.")
    groups = parser.add_subparsers(dest="group", metavar="GROUP", required=True)
    names = [only] if only in _GROUPS else list(_GROUPS)
    for name in names:
        importlib.import_module(_GROUPS[name][0]).register(groups)
    return parser


def _logs_to_stderr() -> None:
    """Standard output carries data (JSON lines, tables); logs must never mix into it.

    Importing Airflow installs a root handler on stdout, so import it first, then move that handler.
    """
    import airflow  # noqa: F401

    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout:
            handler.setStream(sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``xops`` console script.

    :param argv: the arguments, without the program name; ``sys.argv[1:]`` when omitted.
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in arguments if not a.startswith("-")), None)
    args = build_parser(chosen).parse_args(arguments)
    if _GROUPS[args.group][1]:
        _logs_to_stderr()
    try:
        return int(args.handler(args) or 0)
    except LookupError as err:
        # A connection that is not defined (a mistyped id): say which, without a traceback.
        from xops_provider.cli.render import terminal_safe

        print(f"xops {args.group}: {terminal_safe(err)}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader stopped early (``xops stories list --ids | head -1``): that is its choice, not an
        # error. Point stdout at devnull so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
