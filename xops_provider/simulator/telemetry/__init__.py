"""What correlation reads besides incidents: advanced hunting tables, the Cato events feed, and a
log of the hunting calls answered."""

from __future__ import annotations

from collections import deque
from typing import Any

from xops_provider.simulator.telemetry.feed import CatoFeed
from xops_provider.simulator.telemetry.tables import TABLES, HuntingTable

#: How many hunting calls the log keeps (the oldest are dropped).
QUERY_LOG_SIZE = 1000


class Telemetry:
    """The tenant's hunting tables, its Cato feed and the hunting call log."""

    def __init__(self) -> None:
        self.queries: deque[dict[str, Any]] = deque(maxlen=QUERY_LOG_SIZE)
        self.clear()

    def clear(self) -> None:
        """Empty every table and the feed (the log is kept, as the request counters are)."""
        self.tables: dict[str, HuntingTable] = {name: HuntingTable(name) for name in TABLES}
        self.cato = CatoFeed()

    def counts(self) -> dict[str, int]:
        """Rows per table, and ``CatoEvents`` for the feed."""
        return {**{name: len(table) for name, table in self.tables.items()}, "CatoEvents": len(self.cato)}
