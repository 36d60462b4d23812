from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from xops_provider.models.normalize import normalize_entity_value
from xops_provider.models.timestamps import GraphTime
from xops_provider.store import Store
from xops_provider.store import tables as t
from xops_provider.store.stories import entity_rows, story_row
from xops_provider.stories.canonical import canonical_json, plain_copy
from xops_provider.stories.ports import StoryRepository
from xops_provider.sync.ports import NewVersion, QuarantineEntry

T0 = GraphTime.parse("2026-03-01T10:00:00.1234567Z")
TENANT = "tenant-a"


def version(
    incident_id: str,
    seconds: float = 0,
    *,
    status: str = "active",
    redirect: str | None = None,
    mdo: bool = True,
) -> NewVersion:
    last_update = T0.shift(seconds=seconds)
    payload = {"id": incident_id, "lastUpdateDateTime": last_update.isoformat(), "status": status}
    return NewVersion(
        incident_id=incident_id,
        last_update=last_update,
        payload=json.dumps(payload),
        status=status,
        redirect_incident_id=redirect,
        has_mdo_alert=mdo,
    )


def commit(
    store: Store,
    versions: list[NewVersion],
    quarantined: list[QuarantineEntry] | None = None,
    *,
    integration: str = "default",
    watermark: GraphTime | None = None,
):
    latest = max((v.last_update for v in versions), default=None)
    return store.sync.commit_batch(
        integration=integration,
        tenant_id=TENANT,
        versions=versions,
        quarantined=quarantined or [],
        watermark=watermark or latest,
        seen=[],
        overlap_seconds=300,
        lookback_start=T0.shift(seconds=-86400),
    )


def story(incident_id: str, **fields: Any) -> dict[str, Any]:
    document = {
        "story_id": f"mdo:{TENANT}:{incident_id}",
        "producer": "Generic Incident",
        "vendor": "Microsoft",
        "product": "Microsoft Defender for Office 365",
        "tenant_id": TENANT,
        "source_incident_id": incident_id,
        "title": f"Phish {incident_id}",
        "criticality": 5,
        "severity": "medium",
        "status": "Open",
        "vendor_status": "active",
        "verdict": None,
        "indication": "Phishing",
        "first_signal": "2026-03-01T09:00:00Z",
        "last_signal": "2026-03-01T09:30:00Z",
        "created_at": "2026-03-01T09:00:00Z",
        "updated_at": "2026-03-01T10:00:00Z",
        "merged_into": None,
        "summary": {},
        "details": {},
        "timeline": [],
        "entities": [],
        "evidence": [{"alert_id": "a1", "title": "x", "items": []}],
        "raw_data": [],
        "correlation": {
            "clicks": [],
            "network_activity": [],
            "endpoint_detections": [],
            "related_stories": [],
        },
    }
    document.update(fields)
    return document


class TestCommitBatch:
    def test_stores_new_versions_and_ignores_rereads(self, store):
        first = commit(store, [version("1"), version("2", 1)])
        again = commit(store, [version("1"), version("2", 1), version("2", 2)])
        assert (first.stored, first.duplicates) == (2, 0)
        assert (again.stored, again.duplicates) == (1, 2)
        assert store.reads.counts()["raw_versions"] == 3
        assert store.reads.counts()["incidents"] == 2

    def test_dedup_keeps_all_seven_digits(self, store):
        a = NewVersion(
            incident_id="1",
            last_update=GraphTime.parse("2026-03-01T10:00:00.1234567Z"),
            payload="{}",
            status=None,
            redirect_incident_id=None,
            has_mdo_alert=False,
        )
        b = NewVersion(
            incident_id="1",
            last_update=GraphTime.parse("2026-03-01T10:00:00.1234568Z"),
            payload="{}",
            status=None,
            redirect_incident_id=None,
            has_mdo_alert=False,
        )
        assert commit(store, [a, b]).stored == 2
        versions = store.stories.incident_versions(tenant_id=TENANT, incident_ids=["1"])["1"]
        assert [v.last_update.isoformat() for v in versions] == [
            "2026-03-01T10:00:00.1234567Z",
            "2026-03-01T10:00:00.1234568Z",
        ]

    def test_payload_is_kept_as_received(self, store):
        payload = '{"id":"1","displayName":"<script>alert(1)</script> \u00e9","x":[1,2]}'
        v = NewVersion(
            incident_id="1",
            last_update=T0,
            payload=payload,
            status=None,
            redirect_incident_id=None,
            has_mdo_alert=False,
        )
        commit(store, [v])
        with store.engine.connect() as conn:
            assert conn.execute(select(t.raw_incident_versions.c.payload)).scalar_one() == payload

    def test_head_moves_only_forward_and_mdo_is_ever(self, store):
        commit(store, [version("1", 10, status="resolved", mdo=False)])
        # A late reread of an older version must not move the head back, but its MDO alert counts.
        commit(store, [version("1", 5, status="active", mdo=True)], watermark=T0.shift(seconds=10))
        head = store.sync.incident_heads(tenant_id=TENANT, incident_ids=["1"])["1"]
        assert head.last_update == T0.shift(seconds=10)
        assert head.status == "resolved"
        assert head.has_mdo_alert is True
        commit(store, [version("1", 20, status="redirected", redirect="2", mdo=False)])
        head = store.sync.incident_heads(tenant_id=TENANT, incident_ids=["1"])["1"]
        assert (head.status, head.redirect_incident_id, head.has_mdo_alert) == ("redirected", "2", True)

    def test_quarantine_fingerprint_adds_no_row_on_reread(self, store):
        bad = QuarantineEntry(
            kind="incident", record_id="9", reason="lastUpdateDateTime is missing", payload="{}"
        )
        assert commit(store, [], [bad, bad]).quarantined == 1
        assert commit(store, [], [bad]).quarantined == 0
        [record] = store.sync.quarantined("default")
        assert (record.record_id, record.reason, record.payload) == (
            "9",
            "lastUpdateDateTime is missing",
            "{}",
        )
        assert store.sync.quarantined("other") == []

    def test_sync_state_round_trip_and_watermark_never_moves_back(self, store):
        assert store.sync.sync_state("default") is None
        store.sync.commit_batch(
            integration="default",
            tenant_id=TENANT,
            versions=[version("1", 10)],
            quarantined=[],
            watermark=T0.shift(seconds=10),
            seen=["1@5", "2@6"],
            overlap_seconds=300,
            lookback_start=T0,
        )
        commit(store, [version("2", 1)], watermark=T0.shift(seconds=1))
        store.sync.finish_run("default")
        state = store.sync.sync_state("default")
        assert state.watermark == T0.shift(seconds=10)
        assert state.lookback_start == T0
        assert state.seen == frozenset()
        assert (state.runs, state.batches, state.versions_stored) == (1, 2, 2)


class TestStoryRepository:
    def test_store_satisfies_the_port(self, store):
        repository: StoryRepository = store.stories
        assert repository.pending_incidents(integration="default", limit=10) == []

    def test_pending_oldest_first_until_produced(self, store):
        commit(store, [version("2", 1), version("1", 2), version("3", 3)])
        commit(store, [version("2", 4)])
        commit(store, [version("9", 5)], integration="other")
        assert store.stories.pending_incidents(integration="default", limit=2) == [
            (TENANT, "2"),
            (TENANT, "1"),
        ]
        versions = store.stories.incident_versions(tenant_id=TENANT, incident_ids=["2", "1"])
        ids = [v.version_id for vs in versions.values() for v in vs]
        store.stories.save_stories(
            integration="default", stories=[story("2"), story("1")], produced_version_ids=ids
        )
        assert store.stories.pending_incidents(integration="default", limit=10) == [(TENANT, "3")]
        assert store.reads.counts()["pending_versions"] == 2

    def test_incident_versions_ordered_with_payloads(self, store):
        commit(store, [version("1", 5), version("1", 1)])
        commit(store, [version("1", 3)])
        result = store.stories.incident_versions(tenant_id=TENANT, incident_ids=["1", "missing"])
        assert list(result) == ["1"]
        assert [v.last_update for v in result["1"]] == [T0.shift(seconds=s) for s in (1, 3, 5)]
        assert result["1"][0].payload["id"] == "1"
        assert result["1"][0].received_at.endswith("Z")

    def test_redirected_into_one_hop(self, store):
        commit(
            store,
            [
                version("1", 1, status="redirected", redirect="3"),
                version("2", 2, status="redirected", redirect="3"),
                version("3", 3, status="redirected", redirect="4"),
            ],
        )
        assert store.stories.redirected_into(tenant_id=TENANT, incident_ids=["3", "4", "5"]) == {
            "3": ["1", "2"],
            "4": ["3"],
            "5": [],
        }

    def test_redirected_into_lists_merged_incidents_by_id_whatever_their_arrival(self, store):
        commit(store, [version("b", 1, status="redirected", redirect="s")])
        commit(store, [version("a", 2, status="redirected", redirect="s")])
        commit(store, [version("10", 3, status="redirected", redirect="s")])
        assert store.stories.redirected_into(tenant_id=TENANT, incident_ids=["s"]) == {"s": ["10", "a", "b"]}

    def test_save_stories_saves_the_built_text_of_unchanged_documents(self, store):
        built = plain_copy(story("1", title="Phish “one”"))
        store.stories.save_stories(integration="default", stories=[built], produced_version_ids=[])
        with store.engine.connect() as conn:
            text = conn.execute(select(t.stories.c.document)).scalar_one()
        assert text.encode() == built.canonical == canonical_json(story("1", title="Phish “one”"))

    def test_save_stories_encodes_a_document_changed_after_its_build(self, store):
        changed = plain_copy(story("1"))
        changed["evidence"][0]["title"] = "changed"
        store.stories.save_stories(integration="default", stories=[changed], produced_version_ids=[])
        assert store.reads.get_story(changed["story_id"])["evidence"][0]["title"] == "changed"

    def test_save_stories_upserts_columns_and_entities(self, store):
        commit(store, [version("1")])
        entities = [
            {"type": "user", "value": "Alice@Contoso.com", "roles": ["recipient"], "verdict": None},
            {"type": "user", "value": "alice@contoso.com ", "roles": ["mailbox"], "verdict": "suspicious"},
            {"type": "url", "value": "HTTPS://Evil.Example/Path?Q=A", "roles": ["link"]},
        ]
        store.stories.save_stories(
            integration="default",
            stories=[story("1", entities=entities, correlation={"campaign_id": "c1"})],
            produced_version_ids=[],
        )
        store.stories.save_stories(
            integration="default",
            stories=[story("1", status="Closed", merged_into=f"mdo:{TENANT}:2", entities=entities[2:])],
            produced_version_ids=[],
        )
        with store.engine.connect() as conn:
            row = conn.execute(select(t.stories)).one()
            kept = conn.execute(select(t.story_entities.c.type, t.story_entities.c.value)).all()
        assert (row.status, row.is_open, row.merged_into, row.alert_count) == (
            "Closed",
            False,
            f"mdo:{TENANT}:2",
            1,
        )
        assert row.updated_at == "2026-03-01T10:00:00.0000000Z"
        assert kept == [("url", "https://evil.example/Path?Q=A")]
        assert store.reads.get_story(f"mdo:{TENANT}:1")["status"] == "Closed"
        assert store.reads.get_story("mdo:none:0") is None

    def test_save_stories_is_one_transaction(self, store):
        commit(store, [version("1")])
        [v] = store.stories.incident_versions(tenant_id=TENANT, incident_ids=["1"])["1"]
        bad = story("2")
        del bad["title"]
        with pytest.raises(ValueError, match="lacks title"):
            store.stories.save_stories(
                integration="default", stories=[story("1"), bad], produced_version_ids=[v.version_id]
            )
        assert store.reads.counts()["stories"] == 0
        assert store.stories.pending_incidents(integration="default", limit=10) == [(TENANT, "1")]


class TestReaders:
    def test_iter_stories_filters_and_orders(self, store):
        documents = [
            story(str(i), updated_at=f"2026-03-0{1 + i % 3}T10:00:00Z", integration="a" if i % 2 else "b")
            for i in range(7)
        ]
        store.stories.save_stories(integration="x", stories=documents, produced_version_ids=[])
        everything = list(store.reads.iter_stories(batch_size=2))
        assert len(everything) == 7
        assert [(d["updated_at"], d["story_id"]) for d in everything] == sorted(
            (d["updated_at"], d["story_id"]) for d in documents
        )
        recent = list(
            store.reads.iter_stories(since=GraphTime.parse("2026-03-02T00:00:00Z"), integration="a")
        )
        assert sorted(d["source_incident_id"] for d in recent) == ["1", "5"]
        assert [d["story_id"] for d in store.reads.iter_stories(since="2026-03-03T10:00:00Z")] == [
            f"mdo:{TENANT}:2",
            f"mdo:{TENANT}:5",
        ]

    def test_heads_since(self, store):
        commit(store, [version("1", 1), version("2", 2), version("3", 3)])
        heads = store.sync.heads(tenant_id=TENANT, since_ticks=T0.shift(seconds=2))
        assert [h.incident_id for h in heads] == ["2", "3"]
        assert store.sync.heads(tenant_id="other") == []

    def test_counts(self, store):
        commit(
            store,
            [version("1")],
            [QuarantineEntry(kind="incident", record_id=None, reason="r", payload="[]")],
        )
        store.stories.save_stories(integration="default", stories=[story("1")], produced_version_ids=[])
        assert store.reads.counts() == {
            "raw_versions": 1,
            "pending_versions": 1,
            "incidents": 1,
            "stories": 1,
            "open_stories": 1,
            "quarantined": 1,
        }


class TestStoryRow:
    @pytest.mark.parametrize(
        ("kind", "value", "expected"),
        [
            pytest.param("user", " Bob@Contoso.COM ", "bob@contoso.com", id="user"),
            pytest.param("domain", "Evil.Example", "evil.example", id="domain"),
            pytest.param("url", "HTTP://A.B/CaSe", "http://a.b/CaSe", id="url-path-kept"),
            pytest.param("process", "C:\\Win\\X.exe", "C:\\Win\\X.exe", id="process-kept"),
            pytest.param("file", "AB" * 600, ("ab" * 600)[:1000], id="cut"),
        ],
    )
    def test_normalize_entity_value(self, kind, value, expected):
        assert normalize_entity_value(kind, value) == expected

    def test_entity_rows_merge_roles(self):
        rows = entity_rows(
            "s",
            [
                {"type": "ip", "value": "1.2.3.4", "roles": ["a"]},
                {"type": "ip", "value": "1.2.3.4", "roles": ["b", "a"]},
                "junk",
            ],
        )
        assert rows == [
            {"story_id": "s", "type": "ip", "value": "1.2.3.4", "roles": '["a", "b"]', "verdict": None}
        ]

    def test_document_digest_is_stable(self):
        a = story_row(story("1"), integration="d")
        b = story_row(dict(reversed(list(story("1").items()))), integration="d")
        assert a["document_sha256"] == b["document_sha256"]
        assert a["integration"] == "d"


class TestListStories:
    @pytest.fixture
    def listed(self, store):
        documents = []
        for n in range(12):
            documents.append(
                story(
                    f"{n:02d}",
                    criticality=1 + n % 4,
                    first_signal=f"2026-03-01T{10 + n % 5:02d}:00:00Z",
                    updated_at=f"2026-03-02T{n:02d}:00:00Z",
                    status="Closed" if n % 6 == 0 else "Open",
                    integration="a" if n < 8 else "b",
                    correlation={"campaign_id": "camp-1" if n in (3, 4) else None},
                    merged_into=f"mdo:{TENANT}:00" if n == 5 else None,
                    entities=[{"type": "user", "value": f"User{n % 3}@Contoso.com", "roles": ["recipient"]}],
                )
            )
        store.stories.save_stories(integration="x", stories=documents, produced_version_ids=[])
        return documents

    def test_default_order_most_critical_then_oldest_signal(self, store, listed):
        rows = store.reads.list_stories(limit=100)
        keys = [(-r["criticality"], r["first_signal"], r["story_id"]) for r in rows]
        assert keys == sorted(keys)
        assert len(rows) == 12
        assert set(rows[0]) >= {"story_id", "title", "criticality", "is_open", "source_url"}
        assert "document" not in rows[0]

    @pytest.mark.parametrize(
        ("filters", "expected"),
        [
            pytest.param({"integration": "b"}, ["08", "09", "10", "11"], id="integration"),
            pytest.param(
                {"open_only": True}, ["01", "02", "03", "04", "07", "08", "09", "10", "11"], id="open"
            ),
            pytest.param({"status": "Closed"}, ["00", "06"], id="status"),
            pytest.param({"min_criticality": 4}, ["03", "07", "11"], id="criticality"),
            pytest.param({"campaign_id": "camp-1"}, ["03", "04"], id="campaign"),
            pytest.param({"merged_into": f"mdo:{TENANT}:00"}, ["05"], id="merged"),
            pytest.param({"entity": ("user", " user1@CONTOSO.com")}, ["01", "04", "07", "10"], id="entity"),
        ],
    )
    def test_filters(self, store, listed, filters, expected):
        rows = store.reads.list_stories(**filters)
        assert sorted(r["incident_id"] for r in rows) == expected

    def test_pagination_and_orders(self, store, listed):
        first = store.reads.list_stories(order="updated", limit=5)
        second = store.reads.list_stories(order="updated", limit=5, offset=5)
        assert [r["incident_id"] for r in first + second] == [f"{n:02d}" for n in range(11, 1, -1)]
        oldest = store.reads.list_stories(order="first_signal", limit=1)
        assert oldest[0]["first_signal"] == "2026-03-01T10:00:00.0000000Z"
        with pytest.raises(ValueError, match="unknown order"):
            store.reads.list_stories(order="title; drop table stories")

    def test_criticality_counts(self, store, listed):
        assert store.reads.criticality_counts() == {4: 3, 3: 3, 2: 3, 1: 3}
        assert store.reads.criticality_counts(open_only=True, integration="a") == {4: 2, 3: 1, 2: 1, 1: 1}
        assert sum(store.reads.criticality_counts(open_only=True).values()) == 9


class TestConcurrentSaves:
    def test_two_writers_saving_one_story(self, store):
        from concurrent.futures import ThreadPoolExecutor

        def save(n: int) -> None:
            entities = [{"type": "user", "value": f"u{k}@c.com", "roles": [str(n)]} for k in range(n % 3 + 1)]
            store.stories.save_stories(
                integration="d", stories=[story("1", entities=entities)], produced_version_ids=[]
            )

        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(save, range(40)))
        with store.engine.connect() as conn:
            values = sorted(conn.execute(select(t.story_entities.c.value)).scalars())
        saved = store.reads.get_story(f"mdo:{TENANT}:1")
        assert values == sorted(e["value"] for e in saved["entities"])


class TestTransientErrors:
    def test_missing_table_is_not_transient(self, store):
        from sqlalchemy import text

        from xops_provider.store import TransientStoreError

        with store.engine.begin() as conn:
            conn.execute(text("DROP TABLE sync_state"))
        with pytest.raises(Exception, match="sync_state") as info:
            store.sync.sync_state("default")
        assert not isinstance(info.value, TransientStoreError)

    def test_refused_connection_is_transient(self):
        from xops_provider.store import TransientStoreError, create_store_engine

        unreachable = Store(
            engine=create_store_engine("postgresql://postgres@127.0.0.1:1/none?connect_timeout=2")
        )
        with pytest.raises(TransientStoreError, match="store unavailable"):
            unreachable.sync.sync_state("default")
        unreachable.close()

    def test_locked_sqlite_is_transient(self, tmp_path):
        import sqlite3 as sqlite

        from xops_provider.store import TransientStoreError

        url = f"sqlite:///{tmp_path}/locked.db"
        locked = Store.open(url)
        holder = sqlite.connect(f"{tmp_path}/locked.db", isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            from xops_provider.store import create_store_engine

            fast = Store(engine=create_store_engine(url, sqlite_busy_timeout=0.05))
            with pytest.raises(TransientStoreError):
                fast.sync.commit_batch(
                    integration="d",
                    tenant_id="t",
                    versions=[],
                    quarantined=[],
                    watermark=None,
                    seen=[],
                    overlap_seconds=300,
                    lookback_start=GraphTime(0),
                )
            fast.close()
        finally:
            holder.execute("ROLLBACK")
            holder.close()
            locked.close()
