"""produce(): the queue loop over a StoryRepository: merges, chains, cycles, failures, batches."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tests.stories.campaign import (
    INTEGRATION,
    TENANT,
    at,
    campaign_payloads,
    chain_payloads,
    received_at,
    simple_mdo_incident,
)
from tests.stories.memory import InMemoryStoryRepository
from xops_provider.stories.produce import produce


def ingest(repo: InMemoryStoryRepository, payloads: list[dict[str, Any]], *, tenant_id: str = TENANT) -> None:
    for payload in payloads:
        repo.ingest(payload, tenant_id=tenant_id, received_at=received_at(payload))


class TestMergeChains:
    @pytest.mark.parametrize(
        "order",
        [
            pytest.param(order, id="-".join(map(str, order)))
            for order in itertools.permutations(range(5))
            if order[0] in (0, 3, 4)
        ][::7],
    )
    def test_chain_in_any_arrival_order(self, repo: InMemoryStoryRepository, order: tuple[int, ...]) -> None:
        payloads = chain_payloads()
        for index in order:
            ingest(repo, [payloads[index]])
            produce(repo, integration=INTEGRATION, batch_size=2)
        stories = repo.stories
        assert stories["mdo:xyz-tenant:201"]["merged_into"] == "mdo:xyz-tenant:203"
        assert stories["mdo:xyz-tenant:202"]["merged_into"] == "mdo:xyz-tenant:203"
        assert stories["mdo:xyz-tenant:201"]["status"] == stories["mdo:xyz-tenant:202"]["status"] == "Closed"
        survivor = stories["mdo:xyz-tenant:203"]
        assert survivor["merged_into"] is None
        assert survivor["status"] == "Open"
        assert survivor["folded_incident_ids"] == ["201", "202"]
        assert survivor["affected_users"] == ["gina@xyz.example", "hank@xyz.example", "ivan@xyz.example"]

    def test_survivor_not_arrived_yet(self, repo: InMemoryStoryRepository) -> None:
        ingest(repo, [simple_mdo_incident("211", minute=20, recipient="j@xyz.example", redirect_to="212")])
        report = produce(repo, integration=INTEGRATION, batch_size=5)
        assert list(repo.stories) == []  # a redirected incident seen only after its merge held no alert
        assert report.without_story == 1
        ingest(repo, [simple_mdo_incident("211", minute=10, recipient="j@xyz.example")])
        produce(repo, integration=INTEGRATION, batch_size=5)
        assert repo.stories["mdo:xyz-tenant:211"]["merged_into"] == "mdo:xyz-tenant:212"
        assert "mdo:xyz-tenant:212" not in repo.stories

    def test_non_mdo_survivor_gets_a_story_from_what_folds_into_it(
        self, repo: InMemoryStoryRepository
    ) -> None:
        endpoint_only = campaign_payloads()[-1]  # incident 104, an endpoint alert only
        ingest(repo, [endpoint_only])
        ingest(repo, [simple_mdo_incident("221", minute=10, recipient="k@xyz.example")])
        ingest(repo, [simple_mdo_incident("221", minute=20, recipient="k@xyz.example", redirect_to="104")])
        produce(repo, integration=INTEGRATION, batch_size=1)
        assert repo.stories["mdo:xyz-tenant:104"]["folded_incident_ids"] == ["221"]

    def test_new_redirect_target_takes_the_folded_incident_away(self, repo: InMemoryStoryRepository) -> None:
        ingest(
            repo,
            [
                simple_mdo_incident("281", minute=10, recipient="t@xyz.example"),
                simple_mdo_incident("282", minute=11, recipient="u@xyz.example"),
                simple_mdo_incident("283", minute=12, recipient="v@xyz.example"),
                simple_mdo_incident("281", minute=20, recipient="t@xyz.example", redirect_to="282"),
            ],
        )
        produce(repo, integration=INTEGRATION, batch_size=10)
        assert repo.stories["mdo:xyz-tenant:282"]["folded_incident_ids"] == ["281"]
        ingest(repo, [simple_mdo_incident("281", minute=30, recipient="t@xyz.example", redirect_to="283")])
        produce(repo, integration=INTEGRATION, batch_size=10)
        assert repo.stories["mdo:xyz-tenant:282"]["folded_incident_ids"] == []
        assert repo.stories["mdo:xyz-tenant:283"]["folded_incident_ids"] == ["281"]
        assert repo.stories["mdo:xyz-tenant:281"]["merged_into"] == "mdo:xyz-tenant:283"

    def test_redirect_cycle_terminates(self, repo: InMemoryStoryRepository) -> None:
        ingest(
            repo,
            [
                simple_mdo_incident("231", minute=10, recipient="l@xyz.example"),
                simple_mdo_incident("232", minute=11, recipient="m@xyz.example"),
                simple_mdo_incident("231", minute=20, recipient="l@xyz.example", redirect_to="232"),
                simple_mdo_incident("232", minute=21, recipient="m@xyz.example", redirect_to="231"),
            ],
        )
        report = produce(repo, integration=INTEGRATION, batch_size=10)
        assert report.redirect_cycles == 2
        # The smallest id survives, deterministically.
        assert repo.stories["mdo:xyz-tenant:231"]["folded_incident_ids"] == ["232"]
        assert repo.stories["mdo:xyz-tenant:232"]["merged_into"] == "mdo:xyz-tenant:231"


class TestQueue:
    @pytest.mark.parametrize("batch_size", [pytest.param(n, id=f"batch-{n}") for n in (1, 2, 50)])
    def test_batch_size_does_not_change_the_stories(self, batch_size: int, assert_valid_story) -> None:
        reference = InMemoryStoryRepository(validate=assert_valid_story)
        ingest(reference, campaign_payloads())
        produce(reference, integration=INTEGRATION, batch_size=100)
        repo = InMemoryStoryRepository(validate=assert_valid_story)
        ingest(repo, campaign_payloads())
        report = produce(repo, integration=INTEGRATION, batch_size=batch_size)
        assert repo.stories == reference.stories
        assert repo.pending_incidents(integration=INTEGRATION, limit=100) == []
        # A survivor's build also covers what folds into it, so 102 may leave the queue early.
        assert report.incidents <= 4
        assert report.failures == []

    def test_report_counts(self, repo: InMemoryStoryRepository) -> None:
        ingest(repo, campaign_payloads())
        report = produce(repo, integration=INTEGRATION, batch_size=10)
        assert (report.batches, report.incidents, report.without_story, report.redirect_cycles) == (
            1,
            4,
            1,
            0,
        )
        assert (report.stories_saved, report.merged_stories, report.versions_produced) == (3, 1, 9)
        assert repo.save_calls == 1
        assert report.counts() == {
            "batches": 1,
            "incidents": 4,
            "stories_saved": 3,
            "merged_stories": 1,
            "without_story": 1,
            "versions_produced": 9,
            "redirect_cycles": 0,
            "failed": 0,
        }

    def test_rerun_changes_nothing(self, repo: InMemoryStoryRepository) -> None:
        ingest(repo, campaign_payloads())
        produce(repo, integration=INTEGRATION, batch_size=2)
        before = repo.stories
        repo.produced.clear()  # as if the run crashed before marking anything
        produce(repo, integration=INTEGRATION, batch_size=3)
        assert repo.stories == before

    def test_bad_incident_is_reported_and_the_batch_proceeds(self, repo: InMemoryStoryRepository) -> None:
        bad = simple_mdo_incident("241", minute=10, recipient="n@xyz.example")
        bad["alerts"][0]["id"] = ""
        repo.store_raw(bad, tenant_id=TENANT, incident_id="241", last_update=at(10), received_at=at(11))
        ingest(repo, [simple_mdo_incident("242", minute=12, recipient="o@xyz.example")])
        report = produce(repo, integration=INTEGRATION, batch_size=10)
        (failure,) = report.failures
        assert (failure.tenant_id, failure.incident_id, failure.version_ids) == (TENANT, "241", (1,))
        assert "alerts.0.id" in failure.reason
        assert list(repo.stories) == ["mdo:xyz-tenant:242"]
        assert repo.pending_incidents(integration=INTEGRATION, limit=10) == []

    def test_bad_merged_incident_does_not_block_its_survivor(self, repo: InMemoryStoryRepository) -> None:
        bad = simple_mdo_incident("292", minute=15, recipient="x@xyz.example")
        bad["alerts"] = ["not an object"]
        repo.store_raw(bad, tenant_id=TENANT, incident_id="292", last_update=at(15), received_at=at(16))
        ingest(
            repo,
            [
                simple_mdo_incident("291", minute=10, recipient="w@xyz.example"),
                simple_mdo_incident("292", minute=20, recipient="x@xyz.example", redirect_to="291"),
            ],
        )
        report = produce(repo, integration=INTEGRATION, batch_size=10)
        assert [(f.incident_id, f.version_ids) for f in report.failures] == [("292", (1, 3))]
        assert "alert 0 is not an object" in report.failures[0].reason
        survivor = repo.stories["mdo:xyz-tenant:291"]
        assert survivor["folded_incident_ids"] == []
        assert survivor["alert_count"] == 1

    def test_same_incident_id_in_two_tenants(self, repo: InMemoryStoryRepository) -> None:
        payload = simple_mdo_incident("251", minute=10, recipient="p@xyz.example")
        ingest(repo, [payload], tenant_id="tenant-a")
        ingest(repo, [payload], tenant_id="tenant-b")
        produce(repo, integration=INTEGRATION, batch_size=1)
        assert sorted(repo.stories) == ["mdo:tenant-a:251", "mdo:tenant-b:251"]

    def test_a_store_that_never_marks_does_not_spin(self) -> None:
        class Stuck(InMemoryStoryRepository):
            def save_stories(
                self, *, integration: str, stories: Any, produced_version_ids: Any, failures: Any = ()
            ) -> None:
                super().save_stories(integration=integration, stories=stories, produced_version_ids=[])

        repo = Stuck()
        ingest(repo, [simple_mdo_incident("261", minute=10, recipient="q@xyz.example")])
        report = produce(repo, integration=INTEGRATION, batch_size=1)
        assert report.batches == 2
        assert list(repo.stories) == ["mdo:xyz-tenant:261"]

    def test_batch_size_must_be_positive(self, repo: InMemoryStoryRepository) -> None:
        with pytest.raises(ValueError, match="batch_size must be at least 1"):
            produce(repo, integration=INTEGRATION, batch_size=0)


class TestAlertMoves:
    def test_alert_moving_to_another_incident_says_where(self, repo: InMemoryStoryRepository) -> None:
        first = simple_mdo_incident("271", minute=10, recipient="r@xyz.example")
        moving = simple_mdo_incident("271", minute=20, recipient="r@xyz.example")
        moving["alerts"][0]["incidentId"] = "272"
        gone = simple_mdo_incident("271", minute=30, recipient="r@xyz.example", alerts=[])
        ingest(repo, [first, moving, gone])
        produce(repo, integration=INTEGRATION, batch_size=5)
        story = repo.stories["mdo:xyz-tenant:271"]
        (removed,) = [t for t in story["timeline"] if t["kind"] == "alert_removed"]
        assert removed["title"].endswith("moved to incident 272")
        assert removed["moved_to"] == "272"
        assert story["evidence"][0]["present"] is False
        assert story["evidence"][0]["moved_to"] == "272"
        assert story["status"] == "Open"
