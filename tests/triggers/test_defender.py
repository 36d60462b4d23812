"""The Defender triggers: serialization, and the in-process asyncio run against the simulator."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time

import pytest
from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from tests.faults.helpers import store_conn_env, synced
from xops_provider.models.timestamps import GraphTime
from xops_provider.triggers.defender import DefenderIncidentEventTrigger, DefenderIncidentTrigger

TRIGGER_PATH = "xops_provider.triggers.defender.DefenderIncidentTrigger"
EVENT_TRIGGER_PATH = "xops_provider.triggers.defender.DefenderIncidentEventTrigger"


async def _first_event(trigger, *, timeout: float = 60) -> TriggerEvent:
    agen = trigger.run()
    try:
        return await asyncio.wait_for(agen.__anext__(), timeout)
    finally:
        await agen.aclose()


class TestSerialize:
    def test_round_trip(self):
        trigger = DefenderIncidentTrigger(
            integration="acme",
            ms_tenant_conn_id="tenant_a",
            xops_store_conn_id="store_a",
            poll_interval=7.5,
            lookback_seconds=3600,
            overlap_seconds=120,
            top=5,
            end_time=1_800_000_000.0,
        )
        path, kwargs = trigger.serialize()
        assert path == TRIGGER_PATH
        assert kwargs == {
            "integration": "acme",
            "ms_tenant_conn_id": "tenant_a",
            "xops_store_conn_id": "store_a",
            "poll_interval": 7.5,
            "lookback_seconds": 3600,
            "overlap_seconds": 120,
            "top": 5,
            "end_time": 1_800_000_000.0,
        }
        assert DefenderIncidentTrigger(**kwargs).serialize() == (path, kwargs)

    def test_event_trigger_round_trip(self):
        trigger = DefenderIncidentEventTrigger(integration="acme", poll_interval=30)
        path, kwargs = trigger.serialize()
        assert path == EVENT_TRIGGER_PATH
        assert isinstance(trigger, BaseEventTrigger)
        assert DefenderIncidentEventTrigger(**kwargs).serialize() == (path, kwargs)
        # Event triggers are identified by their hash: equal kwargs must give equal hashes.
        assert BaseEventTrigger.hash(path, kwargs) == BaseEventTrigger.hash(*trigger.serialize())

    def test_event_trigger_serializes_inside_an_asset_watcher(self):
        from airflow.sdk import DAG, Asset, AssetWatcher
        from airflow.serialization.serialized_objects import DagSerialization

        trigger = DefenderIncidentEventTrigger(integration="acme", poll_interval=30)
        asset = Asset("defender_incidents_acme", watchers=[AssetWatcher(name="defender", trigger=trigger)])
        with DAG("xops_acme", schedule=[asset], start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)) as dag:
            pass
        serialized = json.dumps(DagSerialization.to_dict(dag))
        assert EVENT_TRIGGER_PATH in serialized
        assert '"integration": "acme"' in serialized


@pytest.fixture
def store_env(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/stories.db"
    monkeypatch.setenv("AIRFLOW_CONN_XOPS_STORE", store_conn_env(url))
    return url


class TestDefenderIncidentTrigger:
    def test_fires_on_unseen_then_idles_once_synced(self, simulator, store_env):
        simulator.admin.reset(scenario="generated", incidents=12, seed=3)
        trigger = DefenderIncidentTrigger(integration="t1", poll_interval=0.2, top=5)
        event = asyncio.run(_first_event(trigger))
        assert event.payload["status"] == "found"
        assert event.payload["unseen"] >= 1
        assert set(event.payload) == {"status", "unseen", "checked", "watermark"}

        synced(store_env, integration="t1")
        idle = DefenderIncidentTrigger(integration="t1", poll_interval=0.2, top=5, end_time=time.time() + 1)
        event = asyncio.run(_first_event(idle))
        assert event.payload["status"] == "idle"
        assert event.payload["unseen"] == 0
        assert event.payload["checked"] >= 1  # the overlap window holds the last incidents
        assert GraphTime.parse(event.payload["watermark"])

    def test_fires_when_an_incident_changes(self, simulator, store_env):
        simulator.admin.reset(scenario="generated", incidents=5, seed=4)
        synced(store_env, integration="t2")
        incident_id = next(i["id"] for i in simulator.admin.incidents())
        simulator.admin.update_incident(incident_id, status="inProgress")
        trigger = DefenderIncidentTrigger(integration="t2", poll_interval=0.2, end_time=time.time() + 30)
        event = asyncio.run(_first_event(trigger))
        assert event.payload["status"] == "found"
        assert event.payload["unseen"] == 1

    def test_error_event_has_no_secret(self, simulator, store_env, monkeypatch):
        broken = {**simulator.connection, "password": "wrong-secret-x"}
        monkeypatch.setenv("AIRFLOW_CONN_BROKEN_TENANT", json.dumps(broken))
        trigger = DefenderIncidentTrigger(
            ms_tenant_conn_id="broken_tenant", integration="t3", poll_interval=0.2
        )
        event = asyncio.run(_first_event(trigger))
        assert event.payload["status"] == "error"
        assert "wrong-secret-x" not in str(event.payload)


class TestDefenderIncidentEventTrigger:
    def test_announces_each_version_once(self, simulator, store_env):
        simulator.admin.reset(scenario="generated", incidents=3, seed=5)
        synced(store_env, integration="ev")
        trigger = DefenderIncidentEventTrigger(integration="ev", poll_interval=0.1)

        async def scenario():
            agen = trigger.run()
            try:
                pending = asyncio.ensure_future(agen.__anext__())
                await asyncio.sleep(0.5)
                assert not pending.done()  # nothing new: no event
                incident_id = [i["id"] for i in simulator.admin.incidents()][-1]
                await asyncio.to_thread(simulator.admin.update_incident, incident_id, status="inProgress")
                first = await asyncio.wait_for(pending, 30)
                second = asyncio.ensure_future(agen.__anext__())
                await asyncio.sleep(0.6)
                # The same version is not announced again while the ingest has not caught up.
                assert not second.done()
                second.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await second
                return first
            finally:
                await agen.aclose()

        event = asyncio.run(scenario())
        assert event.payload["status"] == "found"
        assert event.payload["unseen"] == 1
        assert event.payload["integration"] == "ev"


def test_default_window_is_the_sync_overlap():
    trigger = DefenderIncidentTrigger()
    assert trigger.overlap_seconds == dt.timedelta(minutes=5).total_seconds()


class TestUnmigratedStore:
    """The triggerer only reads the store: it neither migrates one nor crashes on one."""

    def test_trigger_neither_migrates_nor_crashes(self, simulator, store_env, capsys):
        from xops_provider.store import create_store_engine
        from xops_provider.store.database import schema_revision

        simulator.admin.reset(scenario="generated", incidents=4, seed=8)
        trigger = DefenderIncidentTrigger(integration="fresh", poll_interval=0.2, top=5)
        event = asyncio.run(_first_event(trigger))
        # Nothing is stored in a store without a schema, so everything listed is new.
        assert event.payload["status"] == "found"
        assert event.payload["unseen"] >= 1
        captured = capsys.readouterr()
        assert "has no schema yet: run `xops store migrate`" in captured.out + captured.err
        engine = create_store_engine(store_env)
        try:
            assert schema_revision(engine) is None
        finally:
            engine.dispose()

    def test_event_trigger_keeps_polling_an_unmigrated_store(self, simulator, store_env):
        simulator.admin.reset(scenario="generated", incidents=2, seed=9)
        trigger = DefenderIncidentEventTrigger(integration="fresh-ev", poll_interval=0.1)
        event = asyncio.run(_first_event(trigger))
        assert event.payload["status"] == "found"
        # Once a writer has migrated the store, the next poll reads it.
        synced(store_env, integration="fresh-ev")
        assert asyncio.run(_no_event_within(trigger, seconds=0.6))


async def _no_event_within(trigger, *, seconds: float) -> bool:
    agen = trigger.run()
    try:
        await asyncio.wait_for(agen.__anext__(), seconds)
    except TimeoutError:
        return True
    finally:
        await agen.aclose()
    return False
