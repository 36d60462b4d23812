"""Story reads on a real SQLite file and on PostgreSQL: keyset pages, filters, search, groups, campaigns."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from sqlalchemy import text

from xops_provider.store.reads import InvalidCursor, StoryQuery, StoryReads, search_prefixes

GOLDEN = json.loads(
    (Path(__file__).resolve().parents[1] / "stories" / "golden" / "story_101.json").read_text()
)
STORIES = 45


def _document(index: int) -> dict:
    document = copy.deepcopy(GOLDEN)
    document["story_id"] = f"mdo:t:{index:03d}"
    document["source_incident_id"] = str(index)
    document["criticality"] = 1 + index % 10
    document["status"] = "Closed" if index % 9 == 0 else "Open"
    document["verdict"] = "Malicious" if index % 4 == 0 else None
    document["indication"] = "Phishing" if index % 3 == 0 else "Malicious URL click"
    document["updated_at"] = None if index % 11 == 0 else f"2026-03-{1 + index % 20:02d}T10:00:00.0000000Z"
    document["created_at"] = f"2026-02-{1 + index % 25:02d}T10:00:00.0000000Z"
    document["campaign_id"] = "campaign-1" if index < 3 else None
    document["source"] = f"user{index % 5}@xyz.example"
    if index == 7:
        document["title"] = "Payroll update 100% urgent_now"
        document["entities"] = [
            *document["entities"],
            {"type": "url", "value": "https://Evil.example/Path", "roles": []},
        ]
    return document


@pytest.fixture
def reads(store) -> StoryReads:
    store.stories.save_stories(
        integration="default", stories=[_document(i) for i in range(STORIES)], produced_version_ids=[]
    )
    return StoryReads(engine=store.engine)


def _walk(reads: StoryReads, query: StoryQuery, *, limit: int) -> list[str]:
    seen, cursor = [], None
    while True:
        page = reads.page(query, cursor=cursor, limit=limit)
        seen += [story["story_id"] for story in page.stories]
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


def _ids(reads: StoryReads, query: StoryQuery) -> set[str]:
    return set(_walk(reads, query, limit=200))


class TestKeysetPages:
    @pytest.mark.parametrize("sort", ["criticality", "created", "updated", "id"])
    @pytest.mark.parametrize("descending", [pytest.param(True, id="desc"), pytest.param(False, id="asc")])
    def test_cursor_pages_read_every_story_once_in_offset_order(self, reads, sort, descending):
        query = StoryQuery(sort=sort, descending=descending)
        walked = _walk(reads, query, limit=7)
        by_offset = [
            s["story_id"]
            for offset in range(0, STORIES, 7)
            for s in reads.offset_page(query, offset=offset, limit=7)
        ]
        assert len(walked) == STORIES == len(set(walked))
        assert walked == by_offset

    def test_stories_without_the_sort_value_come_last(self, reads):
        walked = _walk(reads, StoryQuery(sort="updated"), limit=5)
        unset = [f"mdo:t:{i:03d}" for i in range(0, STORIES, 11)]
        assert walked[-len(unset) :] == sorted(unset, reverse=True)

    @pytest.mark.parametrize(
        "cursor",
        [
            pytest.param("not-base64!", id="garbage"),
            pytest.param("eyJxIjoxfQ", id="wrong-shape"),
        ],
    )
    def test_refuses_a_forged_cursor(self, reads, cursor):
        with pytest.raises(InvalidCursor, match="does not belong"):
            reads.page(StoryQuery(), cursor=cursor)

    def test_refuses_a_cursor_from_other_filters(self, reads):
        cursor = reads.page(StoryQuery(), limit=5).next_cursor
        with pytest.raises(InvalidCursor, match="start again"):
            reads.page(StoryQuery(min_criticality=5), cursor=cursor)

    def test_rows_carry_users_from_the_entity_index(self, reads):
        story = reads.page(StoryQuery(sort="id", descending=False), limit=1).stories[0]
        assert story["users"] == [
            "alice@xyz.example",
            "bob@xyz.example",
            "carol@xyz.example",
            "dave@xyz.example",
        ]
        assert story["source"] == "user0@xyz.example"
        assert story["producer"] == "Generic Incident"


class TestFilters:
    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            pytest.param(StoryQuery(statuses=("Closed",)), {0, 9, 18, 27, 36}, id="status"),
            pytest.param(StoryQuery(min_criticality=10), {9, 19, 29, 39}, id="min-criticality"),
            pytest.param(StoryQuery(verdict="none", statuses=("Closed",)), {9, 18, 27}, id="no-verdict"),
            pytest.param(StoryQuery(campaign_id="campaign-1"), {0, 1, 2}, id="campaign"),
            pytest.param(
                StoryQuery(source="user3@xyz.example", min_criticality=9), {8, 18, 28, 38}, id="source"
            ),
            pytest.param(StoryQuery(since="2026-03-20T00:00:00.0000000Z"), {19, 39}, id="time-frame-updated"),
            pytest.param(
                StoryQuery(time_field="created", until="2026-02-02T00:00:00.0000000Z"),
                {0, 25},
                id="time-frame-created",
            ),
        ],
    )
    def test_filter(self, reads, query, expected):
        assert _ids(reads, query) == {f"mdo:t:{i:03d}" for i in expected}

    def test_indication_and_open_only(self, reads):
        ids = _ids(reads, StoryQuery(indication="Phishing", open_only=True))
        assert ids == {f"mdo:t:{i:03d}" for i in range(STORIES) if i % 3 == 0 and i % 9 != 0}


class TestSearch:
    @pytest.mark.parametrize(
        ("term", "count"),
        [
            pytest.param("BOB", STORIES, id="user-prefix-any-case"),
            pytest.param("billing@contoso", STORIES, id="sender-prefix"),
            pytest.param("evil.example/Path", 1, id="url-without-scheme"),
            pytest.param("https://EVIL.example/Path", 1, id="url-host-case"),
            pytest.param("203.0.113", STORIES, id="ip-prefix"),
            pytest.param("100% urgent_", 1, id="title-with-like-wildcards"),
            pytest.param("payroll UPDATE", 1, id="title-any-case"),
            pytest.param("%", 1, id="percent-is-literal"),
            pytest.param("10_%", 0, id="wildcards-are-literal"),
            pytest.param("nobody-at-all", 0, id="no-match"),
        ],
    )
    def test_free_text(self, reads, term, count):
        assert len(_ids(reads, StoryQuery(text=term))) == count

    def test_prefixes(self):
        assert search_prefixes("  Evil.example/Path ") == [
            "evil.example/path",
            "http://evil.example/Path",
            "https://evil.example/Path",
        ]
        assert search_prefixes("   ") == []


class TestGroupsAndPages:
    def test_groups_count_by_criticality(self, reads):
        groups = {g.value: g for g in reads.groups(StoryQuery(), by="status")}
        assert groups["Closed"].total == 5
        assert groups["Closed"].by_criticality == {10: 1, 9: 1, 8: 1, 7: 1, 1: 1}
        assert sum(g.total for g in groups.values()) == STORIES

    def test_unknown_grouping(self, reads):
        with pytest.raises(ValueError, match="unknown grouping"):
            reads.groups(StoryQuery(), by="title")

    def test_campaign_indicators_from_the_entity_index(self, reads):
        campaign = reads.campaign("campaign-1")
        assert [s["story_id"] for s in campaign.stories] == ["mdo:t:002", "mdo:t:001", "mdo:t:000"]
        assert campaign.indicators_from == "entity index"
        assert {
            "type": "sender",
            "value": "billing@contoso-invoices.example",
            "stories": 3,
        } in campaign.shared_indicators
        assert "dave@xyz.example" in campaign.affected_users
        assert reads.campaign("nope") is None

    def test_campaign_indicators_from_correlation(self, store, reads):
        document = _document(0)
        document["correlation"]["related_stories"] = [
            {"story_id": "mdo:t:001", "shared": [{"type": "domain", "value": "evil.example"}]}
        ]
        store.stories.save_stories(integration="default", stories=[document], produced_version_ids=[])
        campaign = reads.campaign("campaign-1")
        assert campaign.indicators_from == "correlation"
        assert campaign.shared_indicators == [{"type": "domain", "value": "evil.example", "stories": 2}]

    def test_merged_summaries_and_integrations(self, store, reads):
        merged = _document(44)
        merged["merged_into"] = "mdo:t:000"
        store.stories.save_stories(integration="default", stories=[merged], produced_version_ids=[])
        assert [s["story_id"] for s in reads.merged_into("mdo:t:000")] == ["mdo:t:044"]
        assert [s["story_id"] for s in reads.summaries(["mdo:t:002", "gone", "mdo:t:001"])] == [
            "mdo:t:002",
            "mdo:t:001",
        ]
        assert reads.integrations() == [
            {
                "integration": "default",
                "tenant_id": None,
                "watermark": None,
                "runs": 0,
                "versions_stored": 0,
                "quarantined": 0,
                "updated_at": None,
                "stories": STORIES,
                "open_stories": STORIES - 6,
            }
        ]
        assert reads.facets() == {
            "integration": ["default"],
            "indication": ["Malicious URL click", "Phishing"],
        }


class TestProjections:
    def test_source_and_producer_follow_the_document(self, store, reads):
        document = _document(5)
        document["source"] = None
        document["summary"]["source"] = "fallback@xyz.example"
        document["producer"] = {"not": "text"}
        store.stories.save_stories(integration="default", stories=[document], produced_version_ids=[])
        with store.engine.connect() as conn:
            row = conn.execute(
                text("SELECT source, producer FROM stories WHERE story_id = 'mdo:t:005'")
            ).one()
        assert tuple(row) == ("fallback@xyz.example", None)
