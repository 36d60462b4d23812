"""Property: the stories depend on the set of stored versions only, never on arrival or produce order."""

from __future__ import annotations

import functools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.stories.campaign import (
    INTEGRATION,
    TENANT,
    campaign_payloads,
    chain_payloads,
    received_at,
    version_of,
)
from tests.stories.memory import InMemoryStoryRepository
from xops_provider.stories.producer import build_story, produce

POOL = campaign_payloads() + chain_payloads()


@functools.cache
def reference_stories() -> dict[str, dict[str, Any]]:
    repo = InMemoryStoryRepository()
    for payload in POOL:
        repo.ingest(payload, tenant_id=TENANT, received_at=received_at(payload))
    produce(repo, integration=INTEGRATION, batch_size=100)
    return repo.stories


@st.composite
def arrivals(draw: st.DrawFn) -> tuple[list[int], list[bool], int]:
    sequence = list(draw(st.permutations(range(len(POOL)))))
    for repeat in draw(st.lists(st.integers(0, len(POOL) - 1), max_size=6)):
        sequence.insert(draw(st.integers(0, len(sequence))), repeat)
    produce_after = draw(st.lists(st.booleans(), min_size=len(sequence), max_size=len(sequence)))
    return sequence, produce_after, draw(st.integers(1, 4))


class TestOrderIndependence:
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(arrivals())
    def test_any_arrival_order_with_repeats_ends_in_the_same_stories(
        self, plan: tuple[list[int], list[bool], int]
    ) -> None:
        sequence, produce_after, batch_size = plan
        repo = InMemoryStoryRepository()
        for index, run in zip(sequence, produce_after, strict=True):
            payload = POOL[index]
            repo.ingest(payload, tenant_id=TENANT, received_at=received_at(payload))
            if run:
                produce(repo, integration=INTEGRATION, batch_size=batch_size)
        produce(repo, integration=INTEGRATION, batch_size=batch_size)
        assert repo.stories == reference_stories()

    @settings(max_examples=40, deadline=None)
    @given(st.lists(st.sampled_from([p for p in POOL if p["id"] == "101"]), min_size=1, max_size=8))
    def test_build_story_is_a_function_of_the_version_set(self, payloads: list[dict[str, Any]]) -> None:
        unique = {p["lastUpdateDateTime"]: p for p in payloads}
        in_order = [unique[key] for key in sorted(unique)]

        def build(items: list[dict[str, Any]]) -> dict[str, Any] | None:
            ids = {key: number for number, key in enumerate(sorted(unique), start=1)}
            versions = [version_of(p, version_id=ids[p["lastUpdateDateTime"]]) for p in items]
            return build_story(
                integration=INTEGRATION,
                tenant_id=TENANT,
                incident_id="101",
                versions=versions,
                folded={},
                merged_into=None,
            )

        assert build(payloads) == build(in_order)
