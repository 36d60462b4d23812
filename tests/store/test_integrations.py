"""IntegrationStore on a real SQLite file and PostgreSQL: rows, the implicit default, purge, health."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.store.test_repository import TENANT, commit, story, version
from xops_provider.models.health import CONNECTED, PENDING_CONSENT, RunOutcome
from xops_provider.store import tables as t
from xops_provider.store.integrations import (
    DEFAULT_CONN_ID,
    DEFENDER_FOR_OFFICE,
    IntegrationConflict,
    IntegrationNotFound,
)
from xops_provider.sync.ports import QuarantineEntry


def _rows(store, table, **where) -> int:
    query = select(func.count()).select_from(table)
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    with store.engine.connect() as conn:
        return conn.execute(query).scalar_one()


def _bad(reason: str) -> QuarantineEntry:
    return QuarantineEntry(kind="incident", record_id="x", reason=reason, payload=f'{{"r": "{reason}"}}')


class TestRows:
    def test_add_list_get(self, store):
        added = store.integrations.add(name="acme", conn_id="ms_acme", tenant_id="t-acme", description="Acme")
        assert added.product == DEFENDER_FOR_OFFICE
        assert added.enabled
        [listed] = store.integrations.list()
        assert listed == added
        assert store.integrations.get("acme").description == "Acme"

    def test_missing_is_not_found(self, store):
        with pytest.raises(IntegrationNotFound, match="'nope' does not exist"):
            store.integrations.get("nope")
        with pytest.raises(IntegrationNotFound, match="'nope'"):
            store.integrations.disable("nope")
        with pytest.raises(IntegrationNotFound, match="'nope'"):
            store.integrations.remove("nope")

    def test_one_per_tenant_and_product(self, store):
        store.integrations.add(name="acme", conn_id="ms_acme", tenant_id="t-acme")
        with pytest.raises(IntegrationConflict, match=r"tenant 't-acme' already has .* 'acme'"):
            store.integrations.add(name="acme2", conn_id="ms_acme2", tenant_id="t-acme")
        with pytest.raises(IntegrationConflict, match="'acme' already exists"):
            store.integrations.add(name="acme", conn_id="ms_other", tenant_id="t-other")

    def test_the_table_refuses_a_second_tenant_row(self, store):
        from sqlalchemy.exc import IntegrityError

        store.integrations.add(name="acme", conn_id="ms_acme", tenant_id="t-acme")
        row = {
            "name": "raced",
            "product": DEFENDER_FOR_OFFICE,
            "conn_id": "c",
            "tenant_id": "t-acme",
            "enabled": True,
            "created_at": "2026-01-01T00:00:00.0000000Z",
        }
        with pytest.raises(IntegrityError), store.engine.begin() as conn:
            conn.execute(t.integrations.insert().values(**row))

    def test_unknown_product_refused(self, store):
        with pytest.raises(ValueError, match="unknown product"):
            store.integrations.add(name="x", conn_id="c", tenant_id="t", product="Something else")

    def test_disable_enable(self, store):
        store.integrations.add(name="acme", conn_id="ms_acme", tenant_id="t-acme")
        store.integrations.add(name="beta", conn_id="ms_beta", tenant_id="t-beta")
        store.integrations.disable("acme")
        assert [i.name for i in store.integrations.enabled()] == ["beta"]
        store.integrations.enable("acme")
        assert [i.name for i in store.integrations.enabled()] == ["acme", "beta"]

    def test_options_round_trip(self, store):
        store.integrations.add(name="acme", conn_id="c", tenant_id="t", options={"lookback_days": 3})
        assert store.integrations.get("acme").options == {"lookback_days": 3}


class TestImplicitDefault:
    def test_listed_only_when_its_connection_exists(self, store):
        assert store.integrations.list() == []
        [default] = store.integrations.list(default_tenant_id="t-default")
        assert (default.name, default.conn_id, default.implicit) == ("default", DEFAULT_CONN_ID, True)
        assert _rows(store, t.integrations) == 0

    def test_holds_its_tenant(self, store):
        with pytest.raises(IntegrationConflict, match="'default'"):
            store.integrations.add(name="acme", conn_id="ms_acme", tenant_id="t-d", default_tenant_id="t-d")

    def test_a_row_on_its_connection_replaces_it(self, store):
        store.integrations.add(name="main", conn_id=DEFAULT_CONN_ID, tenant_id="t-d", default_tenant_id="t-d")
        assert [i.name for i in store.integrations.list(default_tenant_id="t-d")] == ["main"]

    def test_a_disabled_default_row_overrides_it(self, store):
        store.integrations.add(
            name="default", conn_id=DEFAULT_CONN_ID, tenant_id="t-d", enabled=False, default_tenant_id="t-d"
        )
        [default] = store.integrations.list(default_tenant_id="t-d")
        assert not default.implicit
        assert store.integrations.enabled(default_tenant_id="t-d") == []


class TestRemove:
    def _fill(self, store, integration: str, first: str) -> None:
        commit(
            store,
            [version(first), version(str(int(first) + 1), 1)],
            [_bad(integration)],
            integration=integration,
        )
        document = story(first, entities=[{"type": "mailbox", "value": f"u{first}@example.com"}])
        store.stories.save_stories(integration=integration, stories=[document], produced_version_ids=[])

    def test_keeps_data_without_purge(self, store):
        store.integrations.add(name="acme", conn_id="c", tenant_id=TENANT)
        self._fill(store, "acme", "1")
        store.integrations.record_run("acme", RunOutcome(ok=True, status=CONNECTED))
        deleted = store.integrations.remove("acme")
        assert deleted == {"integrations": 1, "integration_health": 1}
        assert _rows(store, t.stories, integration="acme") == 1
        assert store.sync.sync_state("acme") is not None

    def test_purge_deletes_only_its_data(self, store):
        store.integrations.add(name="acme", conn_id="c", tenant_id=TENANT)
        self._fill(store, "acme", "1")
        self._fill(store, "other", "10")
        deleted = store.integrations.remove("acme", purge=True)
        assert deleted["stories"] == 1
        assert deleted["story_entities"] == 1
        assert deleted["raw_incident_versions"] == 2
        assert deleted["incidents"] == 2
        assert deleted["sync_state"] == 1
        assert deleted["quarantine"] == 1
        for table in (t.stories, t.incidents, t.raw_incident_versions, t.sync_state, t.quarantine):
            assert _rows(store, table, integration="acme") == 0, table.name
            assert _rows(store, table, integration="other") > 0, table.name
        assert _rows(store, t.story_entities) == 1


class TestRecordRun:
    def test_counts_and_status(self, store):
        first = store.integrations.record_run(
            "acme", RunOutcome(ok=True, status=CONNECTED, throttled=2, quarantined=1)
        )
        assert (first.status, first.runs, first.failed_runs) == (CONNECTED, 1, 0)
        assert first.last_good_sync == first.last_run_at
        assert first.last_error is None
        failed = store.integrations.record_run(
            "acme", RunOutcome(ok=False, status=PENDING_CONSENT, error="application permission missing (403)")
        )
        assert failed.status == PENDING_CONSENT
        assert failed.last_good_sync == first.last_good_sync
        assert failed.last_error == "application permission missing (403)"
        assert (failed.runs, failed.failed_runs, failed.throttled_429, failed.quarantined) == (2, 1, 2, 1)
        again = store.integrations.record_run("acme", RunOutcome(ok=True, status=CONNECTED, throttled=3))
        assert again.status == CONNECTED
        assert again.last_error == failed.last_error
        assert (again.runs, again.failed_runs, again.throttled_429) == (3, 1, 5)

    def test_no_health_before_a_run(self, store):
        assert store.integrations.health("acme") is None

    def test_long_reason_is_cut(self, store):
        health = store.integrations.record_run("a", RunOutcome(ok=False, status="Error: " + "x" * 400))
        assert len(health.status) == 300
