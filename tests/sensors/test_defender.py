"""DefenderIncidentSensor: defaults, deferrable, poke, reschedule, idle -> skipped, ``airflow dags test``."""

from __future__ import annotations

import datetime as dt
import json
import textwrap

import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowSkipException, TaskDeferred

from tests.faults.helpers import store_conn_env, synced
from xops_provider.sensors.defender import (
    DEFAULT_TIMEOUT,
    DefenderIncidentSensor,
    DefenderProbeError,
    schedule_interval,
)
from xops_provider.triggers.defender import DefenderIncidentTrigger

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
XCOM_KEYS = {"unseen", "checked", "watermark"}


class TestDefaults:
    def test_template_fields(self):
        assert tuple(DefenderIncidentSensor.template_fields) == (
            "integration",
            "ms_tenant_conn_id",
            "xops_store_conn_id",
        )

    def test_deferrable_and_soft_fail_by_default(self):
        sensor = DefenderIncidentSensor(task_id="wait")
        assert sensor.deferrable is True
        assert sensor.soft_fail is True
        assert sensor.timeout == DEFAULT_TIMEOUT.total_seconds()

    @pytest.mark.parametrize(
        ("schedule", "expected"),
        [
            pytest.param(dt.timedelta(minutes=7), dt.timedelta(minutes=7), id="delta"),
            pytest.param("*/10 * * * *", dt.timedelta(minutes=10), id="cron"),
            pytest.param("@hourly", dt.timedelta(hours=1), id="preset"),
            pytest.param(None, None, id="manual"),
            pytest.param("@once", None, id="once"),
        ],
    )
    def test_schedule_interval(self, schedule, expected):
        with DAG("d", schedule=schedule, start_date=START) as dag:
            pass
        assert schedule_interval(dag) == expected

    def test_timeout_follows_the_schedule(self):
        with DAG("d", schedule=dt.timedelta(minutes=15), start_date=START):
            sensor = DefenderIncidentSensor(task_id="wait")
        sensor._resolve_timeout()
        assert sensor.timeout == 15 * 60

    def test_explicit_timeout_wins(self):
        with DAG("d", schedule=dt.timedelta(minutes=15), start_date=START):
            sensor = DefenderIncidentSensor(task_id="wait", timeout=30)
        sensor._resolve_timeout()
        assert sensor.timeout == 30


class TestExecuteComplete:
    def test_found_returns_counts_only(self):
        sensor = DefenderIncidentSensor(task_id="wait")
        event = {"status": "found", "unseen": 2, "checked": 3, "watermark": "2026-03-01T00:00:00.0000000Z"}
        assert sensor.execute_complete({}, event) == {
            "unseen": 2,
            "checked": 3,
            "watermark": "2026-03-01T00:00:00.0000000Z",
        }

    def test_idle_is_skipped(self):
        sensor = DefenderIncidentSensor(task_id="wait", timeout=5)
        with pytest.raises(AirflowSkipException, match="No new Defender incident"):
            sensor.execute_complete({}, {"status": "idle", "unseen": 0, "checked": 0, "watermark": None})

    def test_error_fails_even_with_soft_fail(self):
        sensor = DefenderIncidentSensor(task_id="wait")
        with pytest.raises(DefenderProbeError, match="GraphServerError: boom"):
            sensor.execute_complete({}, {"status": "error", "message": "GraphServerError: boom"})


@pytest.fixture
def store_env(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/stories.db"
    monkeypatch.setenv("AIRFLOW_CONN_XOPS_STORE", store_conn_env(url))
    return url


class TestAgainstSimulator:
    def test_deferrable_defers_when_nothing_is_new(self, simulator, store_env):
        simulator.admin.reset(scenario="generated", incidents=4, seed=11)
        synced(store_env, integration="s1")
        sensor = DefenderIncidentSensor(task_id="wait", integration="s1", timeout=60, poke_interval=2)
        with pytest.raises(TaskDeferred) as deferred:
            sensor.execute({})
        trigger = deferred.value.trigger
        assert isinstance(trigger, DefenderIncidentTrigger)
        assert trigger.integration == "s1"
        assert trigger.end_time is not None
        assert deferred.value.method_name == "execute_complete"
        assert deferred.value.timeout > dt.timedelta(seconds=60)

    def test_deferrable_returns_at_once_when_something_is_new(self, simulator, store_env):
        simulator.admin.reset(scenario="generated", incidents=4, seed=12)
        sensor = DefenderIncidentSensor(task_id="wait", integration="s2")
        result = sensor.execute({})
        assert set(result) == XCOM_KEYS
        assert result["unseen"] >= 1
        assert result["watermark"] is None  # never synced

    @pytest.mark.parametrize(
        "mode", [pytest.param("poke", id="poke"), pytest.param("reschedule", id="reschedule")]
    )
    def test_poke_modes(self, simulator, store_env, mode):
        simulator.admin.reset(scenario="generated", incidents=4, seed=13)
        synced(store_env, integration="s3")
        sensor = DefenderIncidentSensor(task_id="wait", integration="s3", deferrable=False, mode=mode)
        first = sensor.poke({})
        assert not first.is_done
        assert set(first.xcom_value) == XCOM_KEYS
        incident_id = next(i["id"] for i in simulator.admin.incidents())
        simulator.admin.update_incident(incident_id, status="resolved")
        second = sensor.poke({})
        assert second.is_done
        assert second.xcom_value["unseen"] == 1
        assert json.dumps(second.xcom_value)  # small and JSON-ready

    def test_reschedule_mode_frees_the_slot_then_succeeds(self, simulator, store_env):
        from airflow.sdk.exceptions import AirflowRescheduleException

        class FirstTry:
            """The task instance's answer on its first try: no earlier reschedule."""

            def get_first_reschedule_date(self, context):
                return None

        simulator.admin.reset(scenario="generated", incidents=3, seed=16)
        synced(store_env, integration="s5")
        sensor = DefenderIncidentSensor(
            task_id="wait",
            integration="s5",
            deferrable=False,
            mode="reschedule",
            poke_interval=30,
            timeout=600,
        )
        with pytest.raises(AirflowRescheduleException):
            sensor.execute({"ti": FirstTry()})
        simulator.admin.create_incident()
        result = sensor.execute({"ti": FirstTry()})
        assert result["unseen"] == 1
        assert set(result) == XCOM_KEYS

    def test_poke_mode_idle_is_skipped_at_timeout(self, simulator, store_env):
        simulator.admin.reset(scenario="generated", incidents=2, seed=14)
        synced(store_env, integration="s4")
        sensor = DefenderIncidentSensor(
            task_id="wait", integration="s4", deferrable=False, mode="poke", poke_interval=0.2, timeout=0.5
        )
        with pytest.raises(AirflowSkipException, match="timed out"):
            sensor.execute({})


DAG_FILE = """
from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG

from xops_provider.sensors.defender import DefenderIncidentSensor

with DAG(
    "xops_idle_sensor",
    schedule=dt.timedelta(seconds=6),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
):
    DefenderIncidentSensor(task_id="wait_for_incidents", integration="idle", poke_interval=1)
"""


@pytest.mark.slow
class TestDagsTest:
    def test_idle_integration_is_skipped_within_the_schedule_interval(self, simulator, airflow_cli, tmp_path):
        simulator.admin.reset(scenario="generated", incidents=3, seed=15)
        url = f"sqlite:///{tmp_path}/stories.db"
        synced(url, integration="idle")
        dags = tmp_path / "dags"
        dags.mkdir()
        (dags / "xops_idle_sensor.py").write_text(textwrap.dedent(DAG_FILE))
        env = {
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW_CONN_XOPS_STORE": store_conn_env(url),
            "AIRFLOW_CONN_MS_TENANT_DEFAULT": simulator.connection_json,
        }
        # The subprocess timeout is the bound: the run must end on its own, well before it.
        result = airflow_cli.run("dags", "test", "xops_idle_sensor", extra_env=env, timeout=240)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-3000:]
        assert "new_state=skipped" in output, output[-3000:]
        assert "new_state=deferred" in output, output[-3000:]
        assert simulator.connection["password"] not in output


class TestDefaultDeferrable:
    def test_deployment_setting_wins(self, monkeypatch):
        monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "false")
        assert DefenderIncidentSensor(task_id="wait").deferrable is False

    def test_explicit_argument_wins(self):
        assert DefenderIncidentSensor(task_id="wait", deferrable=False).deferrable is False
