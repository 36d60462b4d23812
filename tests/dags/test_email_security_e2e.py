"""``airflow dags test xops_email_security`` against the simulator, run again after the world changes.

Real parts only: the Airflow CLI with a migrated metadata DB, MSAL and the Graph client over HTTPS to
the simulator's loopback port, and a SQLite story store file.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from tests.paths import STORY_SCHEMA
from xops_provider.simulator.scenarios import company_xyz as xyz

SCHEMA = json.loads(STORY_SCHEMA.read_text())
XOPS = str(Path(sys.executable).with_name("xops"))


def _story_id(tenant: str, incident: str) -> str:
    return f"mdo:{tenant}:{incident}"


@pytest.fixture
def pipeline(simulator, airflow_cli, tmp_path):
    """Runs the DAG and exports the stories, with the simulator and a private store wired in."""
    store_uri = f"sqlite:///{tmp_path / 'stories.db'}"
    env = {
        "AIRFLOW_CONN_MS_TENANT_DEFAULT": simulator.connection_json,
        "AIRFLOW_CONN_XOPS_STORE": store_uri,
    }

    class Pipeline:
        #: The connections every run gets; a test may add one (``AIRFLOW_CONN_CATO_DEFAULT``).
        connections = env

        def run_dag(self) -> str:
            done = airflow_cli.run("dags", "test", "xops_email_security", extra_env=env)
            output = done.stdout + done.stderr
            assert done.returncode == 0, output[-4000:]
            assert simulator.connection["password"] not in output
            return output

        def stories(self) -> dict[str, dict]:
            exported = subprocess.run(
                [XOPS, "stories", "export"],
                env={**airflow_cli.env, **env},
                capture_output=True,
                text=True,
                check=True,
            )
            stories = {}
            for line in exported.stdout.splitlines():
                story = json.loads(line)
                jsonschema.validate(story, SCHEMA, format_checker=jsonschema.FormatChecker())
                assert story["story_id"] not in stories, "a story was exported twice"
                stories[story["story_id"]] = story
            return stories

    return Pipeline()


def _mdo_incident_ids(simulator) -> set[str]:
    return {
        incident["id"]
        for incident in simulator.admin.incidents()
        if any(
            (alert.get("serviceSource") or "").lower() == "microsoftdefenderforoffice365"
            for alert in incident.get("alerts") or []
        )
    }


def _kinds(story: dict) -> list[str]:
    return [entry["kind"] for entry in story["timeline"]]


@pytest.mark.simulator(scenario="company-xyz", seed=7)
class TestEmailSecurityDag:
    def test_runs_again_and_again_following_updates_and_merges(self, simulator, pipeline):
        tenant = simulator.tenant_id
        extra = simulator.admin.create_incident(displayName="Email reported by user as malware or phish")

        pipeline.run_dag()
        first = pipeline.stories()

        # Every email incident has exactly one story; the endpoint-only incident has none.
        assert {s["source_incident_id"] for s in first.values()} >= _mdo_incident_ids(simulator)
        assert _story_id(tenant, xyz.ENDPOINT_INCIDENT_ID) not in first
        main = first[_story_id(tenant, xyz.MAIN_INCIDENT_ID)]
        # The click incident was merged before the first sync: folded into the main story.
        assert "merged" in _kinds(main)
        assert xyz.CLICKER in main["summary"]["affected_users"]
        assert first[_story_id(tenant, extra["id"])]["merged_into"] is None

        # The world changes: an update, a merge and a resolution.
        simulator.admin.update_incident(
            xyz.WAVE2_INCIDENT_ID, status="inProgress", assignedTo="soc@companyxyz.com", severity="high"
        )
        simulator.admin.merge(extra["id"], into=xyz.WAVE2_INCIDENT_ID)
        simulator.admin.resolve(xyz.MAIN_INCIDENT_ID, comment="ZAP removed every copy")

        pipeline.run_dag()
        second = pipeline.stories()

        assert set(second) == set(first), "no story appeared twice or vanished"
        wave2 = second[_story_id(tenant, xyz.WAVE2_INCIDENT_ID)]
        assert {"status_changed", "severity_changed", "assignee_changed"} <= set(_kinds(wave2))
        assert wave2["severity"] == "high"
        merged = second[_story_id(tenant, extra["id"])]
        assert merged["merged_into"] == wave2["story_id"]
        assert merged["status"] == "Closed"
        # The absorbed incident's alerts now belong to the survivor's story.
        assert {a["alert_id"] for a in first[merged["story_id"]]["evidence"]} <= {
            a["alert_id"] for a in wave2["evidence"]
        }
        assert second[main["story_id"]]["vendor_status"] == "resolved"

        # Defender reactivates the resolved incident: the story is Reopened.
        simulator.admin.reopen(xyz.MAIN_INCIDENT_ID)
        pipeline.run_dag()
        third = pipeline.stories()

        assert third[main["story_id"]]["status"] == "Reopened"
        assert set(third) == set(first)
        # Stories that nothing touched are byte-for-byte what they were.
        untouched = set(first) - {main["story_id"], wave2["story_id"], merged["story_id"]}
        for story_id in untouched:
            assert third[story_id] == second[story_id]


@pytest.mark.simulator(scenario="company-xyz", seed=7)
class TestWithCato:
    def test_the_run_pulls_the_feed_before_correlating(self, simulator, pipeline):
        from tests.fixtures.simulator import cato_connection_of

        pipeline.connections["AIRFLOW_CONN_CATO_DEFAULT"] = json.dumps(cato_connection_of(simulator))
        output = pipeline.run_dag()
        assert simulator.cato["api_key"] not in output
        stories = pipeline.stories()
        activity = [a for s in stories.values() for a in s["correlation"]["network_activity"]]
        reached = {
            a["user"] for a in activity if a["source"] == "cato" and a["reached"] and a["towards_email"]
        }
        assert reached == set(xyz.COMPANY_XYZ_CORRELATION_TRUTH["reached_domain_via_cato"])
