"""``xops network``: import network events (Cato, Zeek) into the story store, and purge old ones."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

from xops_provider.cli.store import store_option

if TYPE_CHECKING:
    from xops_provider.correlation import NetworkEvent
    from xops_provider.store import Store
    from xops_provider.sync.ports import QuarantineEntry

#: ``--format`` -> the parser's source name; ``auto`` tells each line's source from its fields.
FORMATS = {"cato": "cato", "zeek-dns": "zeek_dns", "zeek-ssl": "zeek_ssl", "auto": None}
DEFAULT_RETENTION_DAYS = 30
#: Lines per transaction: memory stays flat whatever the file's size.
BATCH_LINES = 500
# A longer line is quarantined unread (its head kept), so one runaway line cannot fill memory.
MAX_LINE_BYTES = 1 << 20
_PAYLOAD_HEAD = 4000
# Fields only a Cato record has (Zeek lines carry ``ts``, ``uid`` and ``id.*``).
_CATO_FIELDS = ("fieldsMap", "event_type", "event_sub_type", "internalId", "account_id", "event_timestamp")
_ZEEK_SSL_FIELDS = ("server_name", "established", "cipher", "ssl_history", "version")


def network_retention_days() -> int:
    """``[xops] network_retention_days``: how many days of network events the store keeps (30).

    The one place the setting is read.

    :raises ValueError: when it is not a whole number of days, at least 1.
    """
    from airflow.providers.common.compat.sdk import conf

    text = conf.get("xops", "network_retention_days", fallback=str(DEFAULT_RETENTION_DAYS))
    try:
        days = int(text)
    except ValueError:
        days = 0
    if days < 1:
        raise ValueError(
            f"[xops] network_retention_days must be a whole number of days, at least 1: {text!r}"
        )
    return days


def register(groups: argparse._SubParsersAction) -> None:
    """Add the ``network`` group to the ``xops`` parser.

    :param groups: the dispatcher's subparsers.
    """
    parser = groups.add_parser("network", help="Network events (Cato, Zeek) kept for correlation.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    load = commands.add_parser(
        "import",
        help="Import a file of network events, one JSON record a line.",
        description=(
            "Read FILE line by line (Cato eventsFeed records, Zeek dns.log or ssl.log JSON lines) and "
            "store each event once. A line that does not parse is quarantined with its line number "
            "and reason; the rest is imported. Prints: imported N, duplicates D, quarantined Q."
        ),
    )
    load.add_argument("file", type=Path, help="the file (JSON lines)")
    load.add_argument(
        "--format",
        choices=list(FORMATS),
        default="auto",
        help="the records' source; auto tells it for each line (default: %(default)s)",
    )
    store_option(load)
    load.set_defaults(handler=import_command)
    purge = commands.add_parser(
        "purge",
        help="Delete network events older than the retention.",
        description="Delete the network events that happened before the cut-off.",
    )
    purge.add_argument(
        "--older-than",
        default=None,
        help="a duration back from now (30d, 12h) or an ISO 8601 instant; default: "
        "[xops] network_retention_days days",
    )
    store_option(purge)
    purge.set_defaults(handler=purge_command)


def detect_source(text: str) -> str:
    """The source of a JSON line, from the fields only it has.

    :param text: the line.
    :raises FactError: when it is not a JSON object of a known source.
    """
    from xops_provider.correlation import FactError
    from xops_provider.correlation.facts import record_of

    record, _ = record_of(text, what="auto")
    if any(name in record for name in _CATO_FIELDS):
        return "cato"
    if "query" in record:
        return "zeek_dns"
    if any(name in record for name in _ZEEK_SSL_FIELDS):
        return "zeek_ssl"
    raise FactError("auto: neither a Cato record nor a Zeek dns.log or ssl.log line")


def read_line(line: bytes, *, source: str | None) -> NetworkEvent:
    """A line of the file as an event.

    :param line: the line as read, with its end.
    :param source: the parser's source; ``None`` tells it from the line.
    :raises FactError: when the line is not a record of that source.
    """
    from xops_provider.correlation import FactError, parse_network_line

    try:
        text = line.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as err:
        raise FactError(f"not UTF-8 text ({err.reason} at byte {err.start})") from None
    return parse_network_line(source or detect_source(text), text)


def _lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes, bool]]:
    """``(number, line, too long)`` for each line; a too-long line is cut to its head."""
    number = 0
    while line := stream.readline(MAX_LINE_BYTES + 1):
        number += 1
        if len(line) <= MAX_LINE_BYTES or line.endswith(b"\n"):
            yield number, line, False
            continue
        while (rest := stream.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
            pass
        yield number, line[:_PAYLOAD_HEAD], True


def _quarantine_entry(name: str, number: int, line: bytes, reason: str) -> QuarantineEntry:
    from xops_provider.store.evidence import NETWORK_EVENT_KIND
    from xops_provider.sync.ports import QuarantineEntry

    # The line as received, as text the database takes: bad bytes escaped, NUL spelt out.
    text = line.decode("utf-8", "backslashreplace").rstrip("\r\n").replace("\x00", "\\x00")
    return QuarantineEntry(
        kind=NETWORK_EVENT_KIND,
        record_id=f"{name}:{number}"[-200:],
        reason=f"line {number}: {reason}",
        payload=text,
    )


def import_file(store: Store, path: Path, *, source: str | None) -> tuple[int, int, int]:
    """Import a file into the store, one transaction per :data:`BATCH_LINES` lines.

    :param store: the opened store.
    :param path: the file.
    :param source: the parser's source; ``None`` tells each line's.
    :returns: ``(imported, duplicates, quarantined)``.
    """
    from xops_provider.correlation import FactError

    imported = duplicates = quarantined = 0
    events: list[NetworkEvent] = []
    bad: list[QuarantineEntry] = []

    def flush() -> None:
        nonlocal imported, duplicates
        added, repeated = store.evidence.add_network_events(events, quarantined=bad)
        imported, duplicates = imported + added, duplicates + repeated
        events.clear()
        bad.clear()

    with path.open("rb") as stream:
        for number, line, too_long in _lines(stream):
            if not line.strip():
                continue
            try:
                if too_long:
                    raise FactError(f"longer than {MAX_LINE_BYTES} bytes (kept: its first {_PAYLOAD_HEAD})")
                events.append(read_line(line, source=source))
            except FactError as err:
                bad.append(_quarantine_entry(path.name, number, line, err.reason))
                quarantined += 1
            if len(events) + len(bad) >= BATCH_LINES:
                flush()
    if events or bad:
        flush()
    return imported, duplicates, quarantined


def import_command(args: argparse.Namespace) -> int:
    """``xops network import``.

    :param args: ``file``, ``format`` and ``store_conn_id``.
    """
    from xops_provider.cli.render import terminal_safe
    from xops_provider.cli.store import open_store

    if not args.file.is_file():
        print(f"xops network import: no such file: {terminal_safe(str(args.file))}", file=sys.stderr)
        return 1
    with open_store(args.store_conn_id) as store:
        try:
            imported, duplicates, quarantined = import_file(store, args.file, source=FORMATS[args.format])
        except OSError as err:
            print(f"xops network import: {terminal_safe(err)}", file=sys.stderr)
            return 1
    print(f"imported {imported}, duplicates {duplicates}, quarantined {quarantined}")
    return 0


def purge_command(args: argparse.Namespace) -> int:
    """``xops network purge``.

    :param args: ``older_than`` and ``store_conn_id``.
    """
    from xops_provider.cli.render import terminal_safe
    from xops_provider.cli.store import open_store
    from xops_provider.models.timestamps import GraphTime
    from xops_provider.sync_audit import parse_since

    now = GraphTime.now()
    try:
        cutoff = parse_since(args.older_than or f"{network_retention_days()}d", now=now)
        shown = cutoff.isoformat()
    except (ValueError, OverflowError) as err:
        message = str(err).replace("--since", "--older-than")
        print(f"xops network purge: {terminal_safe(message)}", file=sys.stderr)
        return 2
    with open_store(args.store_conn_id) as store:
        purged = store.evidence.purge_network_events(older_than=cutoff)
    print(f"purged {purged} network events before {shown}")
    return 0
