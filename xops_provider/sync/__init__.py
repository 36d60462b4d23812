"""The pure incident sync engine (no Airflow, no HTTP)."""

from __future__ import annotations

from xops_provider.sync.engine import (
    BrokenChain,
    Page,
    PageSource,
    SkipCeilingReached,
    SyncReport,
    page_end,
    parse_page,
    sync_incidents,
)

__all__ = [
    "BrokenChain",
    "Page",
    "PageSource",
    "SkipCeilingReached",
    "SyncReport",
    "page_end",
    "parse_page",
    "sync_incidents",
]
