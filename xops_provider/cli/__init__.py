"""The ``xops`` command. Each subcommand group lives in its own module and registers itself."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

# Module name -> the group it adds. Imported lazily so that ``xops --help`` stays fast and one
# broken group cannot take the others down.
_GROUPS: dict[str, str] = {
    "simulator": "xops_provider.cli.simulator",
    "tenant": "xops_provider.cli.tenant",
    "incidents": "xops_provider.cli.incidents",
    "sync": "xops_provider.cli.sync",
    "stories": "xops_provider.cli.stories",
}


def build_parser() -> argparse.ArgumentParser:
    """The parser with every available group registered."""
    parser = argparse.ArgumentParser(prog="xops", description="XOps provider tools for Defender stories.")
    groups = parser.add_subparsers(dest="group", metavar="GROUP", required=True)
    for module_name in _GROUPS.values():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name != module_name:
                raise
            continue
        module.register(groups)
    return parser


def _logs_to_stderr() -> None:
    """Standard output carries data (JSON lines, tables, export lines); logs must never mix into it.

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
    args = build_parser().parse_args(argv)
    _logs_to_stderr()
    result = args.handler(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
