"""produce() against the real story store (SQLite file and PostgreSQL): the contract of ports.py.

The in-memory repository is the reference; the real store must lead to the same documents, whatever
order the versions arrive in. Only ``received_at`` differs: the real store stamps ingestion time.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from tests.stories.campaign import INTEGRATION, TENANT, at, campaign_payloads, chain_payloads, received_at
from tests.stories.memory import InMemoryStoryRepository
from xops_provider.models.incident import Incident
from xops_provider.models.timestamps import GraphTime
from xops_provider.store import Store
from xops_provider.stories.produce import produce
from xops_provider.sync.ports import NewVersion

POOL = campaign_payloads() + chain_payloads()


def commit(store: Store, payload: dict[str, Any]) -> None:
    parsed = Incident.model_validate(payload)
    store.sync.commit_batch(
        integration=INTEGRATION,
        tenant_id=TENANT,
        versions=[
            NewVersion(
                incident_id=parsed.id,
                last_update=parsed.last_update,
                payload=json.dumps(payload, ensure_ascii=False),
                status=parsed.status,
                redirect_incident_id=parsed.redirect_incident_id,
                has_mdo_alert=parsed.has_mdo_alert,
            )
        ],
        quarantined=[],
        watermark=None,
        seen=[],
        overlap_seconds=300,
        lookback_start=GraphTime.parse(at(-60)),
    )


def without_ingestion_time(story: dict[str, Any]) -> dict[str, Any]:
    return {
        **story,
        "raw_data": [{k: v for k, v in r.items() if k != "received_at"} for r in story["raw_data"]],
    }


@pytest.fixture(scope="module")
def reference() -> dict[str, dict[str, Any]]:
    repo = InMemoryStoryRepository()
    for payload in POOL:
        repo.ingest(payload, tenant_id=TENANT, received_at=received_at(payload))
    produce(repo, integration=INTEGRATION, batch_size=100)
    return {story_id: without_ingestion_time(story) for story_id, story in repo.stories.items()}


class TestRealStore:
    @pytest.mark.parametrize("seed", [pytest.param(seed, id=f"order-{seed}") for seed in (1, 2)])
    def test_same_stories_as_the_reference(
        self, store: Store, reference: dict[str, dict[str, Any]], assert_valid_story, seed: int
    ) -> None:
        arrivals = POOL + POOL[:3]  # with repeats, which the store deduplicates
        random.Random(seed).shuffle(arrivals)
        for index, payload in enumerate(arrivals):
            commit(store, payload)
            if index % 3 == 0:
                produce(store.stories, integration=INTEGRATION, batch_size=2)
        report = produce(store.stories, integration=INTEGRATION, batch_size=2)
        assert report.failures == []
        assert store.stories.pending_incidents(integration=INTEGRATION, limit=10) == []
        for story_id, expected in reference.items():
            stored = store.reads.get_story(story_id)
            assert stored is not None, story_id
            assert_valid_story(stored)
            assert without_ingestion_time(stored) == expected
        assert store.reads.get_story(f"mdo:{TENANT}:104") is None

    def test_rerun_is_a_no_op(self, store: Store) -> None:
        for payload in POOL:
            commit(store, payload)
        produce(store.stories, integration=INTEGRATION, batch_size=3)
        again = produce(store.stories, integration=INTEGRATION, batch_size=3)
        assert (again.batches, again.stories_saved) == (0, 0)


class TestFailuresAreQuarantined:
    def test_a_failed_story_is_quarantined_with_its_batch(self, store: Store, monkeypatch) -> None:
        from xops_provider.stories import produce as producer

        real_build = producer.build_story

        def build_or_crash(**kwargs: Any) -> dict[str, Any] | None:
            if kwargs["incident_id"] == "101":
                raise KeyError("a mapping defect")
            return real_build(**kwargs)

        monkeypatch.setattr(producer, "build_story", build_or_crash)
        for payload in POOL:
            commit(store, payload)
        report = produce(store.stories, integration=INTEGRATION, batch_size=50)

        assert [f.incident_id for f in report.failures] == ["101"]
        assert store.stories.pending_incidents(integration=INTEGRATION, limit=10) == []
        (record,) = store.sync.quarantined(INTEGRATION)
        assert (record.kind, record.record_id) == ("story", "101")
        assert "unexpected KeyError" in record.reason
        assert json.loads(record.payload)["version_ids"] == list(report.failures[0].version_ids)
        # The other stories were saved in the same run, and a rerun adds nothing.
        assert store.reads.get_story(f"mdo:{TENANT}:103") is not None
        assert produce(store.stories, integration=INTEGRATION, batch_size=50).failures == []
        assert len(store.sync.quarantined(INTEGRATION)) == 1
