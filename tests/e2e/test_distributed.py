"""The production topology end to end: Celery workers, a triggerer, PostgreSQL and Redis, as local processes.

The tenant starts empty, so the sensor has nothing to find and defers to the triggerer. Only once its
task instance is DEFERRED (no worker slot held) do incidents appear in Defender; the trigger must then
notice them on its own and hand the run back to a Celery worker, which ingests them and writes the
stories into the PostgreSQL store.
"""

from __future__ import annotations

import json
import time
from collections import Counter

import jsonschema
import pytest

from tests.e2e.cluster import AirflowCluster
from tests.e2e.conftest import DAG_ID
from tests.paths import STORY_SCHEMA
from xops_provider.simulator.scenarios import company_xyz as xyz
from xops_provider.store import Store

SCHEMA = json.loads(STORY_SCHEMA.read_text())
TASK_IDS = ("wait_for_incidents", "ingest_incidents", "produce_stories", "correlate_stories")
MDO_SERVICE_SOURCE = "microsoftdefenderforoffice365"
INCIDENTS_ROUTE = "/v1.0/security/incidents"
_FINISHED = {"success", "failed"}
_SENSOR_GAVE_UP = {"success", "failed", "skipped", "upstream_failed", "removed"}


def _mdo_incident_ids(simulator) -> set[str]:
    return {
        incident["id"]
        for incident in simulator.admin.incidents()
        if any(
            (alert.get("serviceSource") or "").lower() == MDO_SERVICE_SOURCE
            for alert in incident.get("alerts") or []
        )
    }


def _task_states(cluster: AirflowCluster, run_id: str) -> dict[str, str | None]:
    listed = cluster.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", expect=200)
    return {ti["task_id"]: ti["state"] for ti in listed["task_instances"]}


@pytest.mark.slow
@pytest.mark.postgres
# Above the sum of the stages' own bounds, so a stuck stage fails with its services' logs.
@pytest.mark.timeout(900)
class TestDistributedRun:
    def test_deferred_sensor_wakes_on_new_incidents_and_celery_writes_the_stories(
        self, simulator, airflow_cluster: AirflowCluster, story_db: str
    ):
        cluster = airflow_cluster
        assert simulator.admin.incidents() == [], "the tenant must start empty"
        started = time.monotonic()

        cluster.api("PATCH", f"/dags/{DAG_ID}", json_body={"is_paused": False}, expect=200)
        run_id = cluster.api("POST", f"/dags/{DAG_ID}/dagRuns", json_body={"logical_date": None}, expect=200)[
            "dag_run_id"
        ]

        def sensor_deferred() -> str | None:
            state = _task_states(cluster, run_id).get("wait_for_incidents")
            if state in _SENSOR_GAVE_UP:
                raise AssertionError(f"the sensor ended {state!r} before any incident existed")
            return state if state == "deferred" else None

        cluster.wait_for("the sensor to defer", sensor_deferred, timeout=120, interval=2)
        deferred_after = time.monotonic() - started
        checks_before = simulator.admin.count(route=INCIDENTS_ROUTE, method="GET")

        def trigger_checked() -> dict | None:
            # Waiting in the triggerer, not in a worker slot: a triggerer runs the trigger, and it has
            # asked Graph itself at least once (so what follows proves its poll loop, not its start).
            sensor = cluster.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/wait_for_incidents")
            if sensor["state"] != "deferred":
                raise AssertionError(
                    f"the sensor left DEFERRED before any incident existed: {sensor['state']}"
                )
            checks = simulator.admin.count(route=INCIDENTS_ROUTE, method="GET")
            return sensor if sensor["triggerer_job"] and checks > checks_before else None

        sensor = cluster.wait_for(
            "the triggerer to run the trigger", trigger_checked, timeout=120, interval=1
        )
        assert sensor["trigger"]["classpath"].endswith("DefenderIncidentTrigger"), sensor["trigger"]
        assert sensor["triggerer_job"]["job_type"] == "TriggererJob", sensor["triggerer_job"]

        simulator.admin.load_scenario("company-xyz", seed=7)
        loaded = time.monotonic()

        def run_finished() -> str | None:
            state = cluster.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}", expect=200)["state"]
            return state if state in _FINISHED else None

        final = cluster.wait_for("the DAG run to finish", run_finished, timeout=240, interval=3)
        finished = time.monotonic()
        states = _task_states(cluster, run_id)
        assert final == "success", f"run {run_id} ended {final}: {states}\n{cluster.log_tails()}"
        # No cato_default connection here: the network pull skips itself, and correlation still runs.
        assert states == {**dict.fromkeys(TASK_IDS, "success"), "pull_network_events": "skipped"}
        print(
            f"\nfigures: sensor deferred {deferred_after:.0f}s after the trigger; run done "
            f"{finished - loaded:.0f}s after the incidents appeared"
        )

        with Store.open(story_db) as store:
            stories = list(store.reads.iter_stories())
        for story in stories:
            jsonschema.validate(story, SCHEMA, format_checker=jsonschema.FormatChecker())
        per_incident = Counter(story["source_incident_id"] for story in stories)
        mdo = _mdo_incident_ids(simulator)
        assert mdo, "the scenario has email incidents"
        assert {incident: per_incident[incident] for incident in mdo} == dict.fromkeys(mdo, 1)
        by_id = {story["story_id"]: story for story in stories}
        assert len(by_id) == len(stories), "a story id appears twice"
        tenant = simulator.tenant_id
        assert f"mdo:{tenant}:{xyz.ENDPOINT_INCIDENT_ID}" not in by_id
        # The click incident was merged into the main one before the sync: folded into its story.
        main = by_id[f"mdo:{tenant}:{xyz.MAIN_INCIDENT_ID}"]
        assert "merged" in [entry["kind"] for entry in main["timeline"]]
        assert xyz.CLICKER in main["summary"]["affected_users"]

        secret = simulator.connection["password"]
        logs = list(cluster.log_files())
        # The scan covers what each service and each task wrote, the trigger's log included.
        for task_id in TASK_IDS:
            assert any(f"task_id={task_id}" in str(path) for path in logs), (task_id, logs)
        assert any("trigger" in path.name for path in logs), logs
        leaked = [str(path) for path in logs if secret in path.read_text(errors="replace")]
        assert leaked == [], "the client secret appears in these logs"
