"""Story reads: the repository the Workbench and the ``xops`` command read stories through."""

from __future__ import annotations

from xops_provider.store.reads.query import (
    GROUPS,
    MAX_PAGE,
    NO_VERDICT,
    SEARCH_TYPES,
    SORTS,
    SUMMARY_COLUMNS,
    Campaign,
    GroupCount,
    InvalidCursor,
    StoryPage,
    StoryQuery,
    search_prefixes,
)
from xops_provider.store.reads.stories import StoryReads

__all__ = [
    "GROUPS",
    "MAX_PAGE",
    "NO_VERDICT",
    "SEARCH_TYPES",
    "SORTS",
    "SUMMARY_COLUMNS",
    "Campaign",
    "GroupCount",
    "InvalidCursor",
    "StoryPage",
    "StoryQuery",
    "StoryReads",
    "search_prefixes",
]
