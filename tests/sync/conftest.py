from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.sync.fakes import NOW, FakeGraph
from xops_provider.store import Store
from xops_provider.sync import SyncReport, sync_incidents


@pytest.fixture
def graph() -> FakeGraph:
    """An empty in-memory Graph listing."""
    return FakeGraph()


@pytest.fixture
def run_sync(graph: FakeGraph, store: Store) -> Callable[..., SyncReport]:
    """Run the engine against ``graph`` and ``store``; keyword arguments override the defaults."""

    def run(**overrides: Any) -> SyncReport:
        kwargs: dict[str, Any] = {
            "source": graph,
            "repository": store.sync,
            "integration": "default",
            "tenant_id": "tenant-a",
            "now": NOW,
            "sleep": lambda _seconds: None,
        }
        kwargs.update(overrides)
        return sync_incidents(**kwargs)

    return run
