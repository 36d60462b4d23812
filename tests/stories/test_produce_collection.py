"""produce() pauses automatic cyclic garbage collection while it builds a batch, and only then."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from tests.stories.campaign import INTEGRATION, received_at, simple_mdo_incident
from tests.stories.memory import InMemoryStoryRepository
from xops_provider.stories.ports import StoryFailure
from xops_provider.stories.produce import produce


class Recording(InMemoryStoryRepository):
    """Notes whether collection was on at each save; optionally fails the first one."""

    def __init__(self, *, fail: bool = False) -> None:
        super().__init__()
        self.collection_on_at_save: list[bool] = []
        self.fail = fail

    def save_stories(
        self,
        *,
        integration: str,
        stories: Sequence[dict[str, Any]],
        produced_version_ids: Sequence[int],
        failures: Sequence[StoryFailure] = (),
    ) -> None:
        self.collection_on_at_save.append(gc.isenabled())
        if self.fail:
            raise RuntimeError("store down")
        super().save_stories(
            integration=integration,
            stories=stories,
            produced_version_ids=produced_version_ids,
            failures=failures,
        )


def _filled(repo: Recording) -> Recording:
    for number, minute in (("801", 10), ("802", 11), ("803", 12)):
        payload = simple_mdo_incident(number, minute=minute, recipient=f"u{number}@xyz.example")
        repo.ingest(payload, tenant_id="xyz-tenant", received_at=received_at(payload))
    return repo


@pytest.fixture
def collection_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


@pytest.mark.usefixtures("collection_on")
def test_collection_is_paused_per_batch_and_resumes() -> None:
    repo = _filled(Recording())
    report = produce(repo, integration=INTEGRATION, batch_size=2)
    assert report.batches == 2
    assert repo.collection_on_at_save == [False, False]
    assert gc.isenabled()


@pytest.mark.usefixtures("collection_on")
def test_collection_resumes_when_a_batch_fails() -> None:
    repo = _filled(Recording(fail=True))
    with pytest.raises(RuntimeError, match="store down"):
        produce(repo, integration=INTEGRATION, batch_size=2)
    assert gc.isenabled()


def test_collection_the_caller_turned_off_stays_off() -> None:
    was = gc.isenabled()
    gc.disable()
    try:
        repo = _filled(Recording())
        produce(repo, integration=INTEGRATION, batch_size=5)
        assert repo.collection_on_at_save == [False]
        assert not gc.isenabled()
    finally:
        if was:
            gc.enable()
