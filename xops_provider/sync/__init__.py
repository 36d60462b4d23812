"""The incident sync: Graph's listing in, validated versions and their watermark out.

Pure domain: no Airflow, no HTTP, no database. ``ports`` names what the sync needs (a page source, a
repository), ``records`` reads and validates one page, ``engine`` walks the listing and commits batch
by batch, and ``probe`` answers "anything new?" for the sensor and the triggers.
"""

from __future__ import annotations

from xops_provider.sync.engine import (
    DEFAULT_LOOKBACK,
    DEFAULT_OVERLAP,
    SyncReport,
    sync_incidents,
    window_start,
)
from xops_provider.sync.ports import BrokenChain, Page, PageSource, SkipCeilingReached
from xops_provider.sync.probe import PROBE_PAGE_SIZE, ProbeListing, ProbeSource, UnseenProbe, find_unseen

__all__ = [
    "DEFAULT_LOOKBACK",
    "DEFAULT_OVERLAP",
    "PROBE_PAGE_SIZE",
    "BrokenChain",
    "Page",
    "PageSource",
    "ProbeListing",
    "ProbeSource",
    "SkipCeilingReached",
    "SyncReport",
    "UnseenProbe",
    "find_unseen",
    "sync_incidents",
    "window_start",
]
