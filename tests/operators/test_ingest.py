"""DefenderIncidentIngestOperator: the simulator's incidents into a real SQLite file and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.faults.helpers import LOOKBACK, assert_clean, store_conn_env, stored_heads
from xops_provider.models.timestamps import GraphTime
from xops_provider.operators.ingest import DefenderIncidentIngestOperator, ingest_summary


@pytest.fixture
def store_env(store_url, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_XOPS_STORE", store_conn_env(store_url))
    return store_url


def _assert_counts_only(xcom: dict) -> None:
    for key, value in xcom.items():
        if key == "watermark":
            assert value is None or GraphTime.parse(value).isoformat() == value
        else:
            assert isinstance(value, int), key
            assert not isinstance(value, bool), key
    assert len(json.dumps(xcom)) < 1000


class TestDefenderIncidentIngestOperator:
    def test_template_fields(self):
        assert tuple(DefenderIncidentIngestOperator.template_fields) == (
            "integration",
            "ms_tenant_conn_id",
            "xops_store_conn_id",
        )

    def test_ingests_then_reruns_as_duplicates(self, simulator, store_env, capsys):
        simulator.admin.reset(scenario="generated", incidents=120, seed=21)
        operator = DefenderIncidentIngestOperator(task_id="ingest", integration="default", lookback=LOOKBACK)
        first = operator.execute({})
        _assert_counts_only(first)
        assert first["versions_stored"] == 120
        assert first["quarantined"] == 0
        assert first["requests"] <= 4  # ceil(120 / 50) pages, no faults
        second = operator.execute({})
        _assert_counts_only(second)
        assert second["versions_stored"] == 0
        assert second["watermark"] == first["watermark"]
        assert len(stored_heads(store_env)) == 120
        assert_clean(store_env, integration="default", capsys=capsys)


def test_summary_keeps_counts_and_watermark_only():
    report = {
        "integration": "default",
        "tenant_id": "t",
        "since": "2026-01-01T00:00:00.0000000Z",
        "pages": 3,
        "versions_stored": 7,
        "watermark": "2026-01-02T00:00:00.0000000Z",
        "stalled_at": ["2026-01-01T12:00:00.0000000Z"],
    }
    assert ingest_summary(report, expand_fallback_pages=0) == {
        "pages": 3,
        "versions_stored": 7,
        "stalled": 1,
        "watermark": "2026-01-02T00:00:00.0000000Z",
        "expand_fallback_pages": 0,
    }


def test_default_window():
    operator = DefenderIncidentIngestOperator(task_id="ingest")
    assert operator.lookback == dt.timedelta(days=7)
    assert operator.overlap == dt.timedelta(minutes=5)


class TestStoreConnectionId:
    def test_mistyped_store_id_fails_naming_it(self, simulator, monkeypatch):
        from xops_provider.hooks.store import StoreConnectionNotFound

        monkeypatch.delenv("AIRFLOW_CONN_XOPS_STORRE", raising=False)
        operator = DefenderIncidentIngestOperator(
            task_id="ingest", xops_store_conn_id="xops_storre", lookback=LOOKBACK
        )
        with pytest.raises(StoreConnectionNotFound, match="'xops_storre' is not defined"):
            operator.execute({})


class TestHealth:
    def _health(self, url):
        from xops_provider.store import Store

        with Store.open(url) as store:
            return store.integrations.health("default")

    def test_connected_then_pending_consent(self, simulator, store_env):
        from xops_provider.clients.errors import GraphForbiddenError
        from xops_provider.models.health import CONNECTED, PENDING_CONSENT

        simulator.admin.reset(scenario="generated", incidents=5, seed=3)
        operator = DefenderIncidentIngestOperator(task_id="ingest", lookback=LOOKBACK)
        operator.execute({})
        good = self._health(store_env)
        assert (good.status, good.runs, good.failed_runs) == (CONNECTED, 1, 0)
        assert good.last_good_sync is not None

        simulator.admin.set_roles(simulator.client_id, [], revoke_tokens=True)
        with pytest.raises(GraphForbiddenError):
            operator.execute({})
        refused = self._health(store_env)
        assert refused.status == PENDING_CONSENT
        assert (refused.runs, refused.failed_runs) == (2, 1)
        assert refused.last_good_sync == good.last_good_sync
        assert refused.last_error.startswith("application permission missing (403")

    def test_throttling_is_counted(self, simulator, store_env):
        simulator.admin.reset(scenario="generated", incidents=5, seed=3)
        simulator.admin.set_faults("429=2x,retry_after=0.01")
        DefenderIncidentIngestOperator(task_id="ingest", lookback=LOOKBACK).execute({})
        health = self._health(store_env)
        assert (health.status, health.throttled_429) == ("Connected", 2)
