"""The docker-compose layout, checked by structure: no Docker engine runs on these machines."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
AIRFLOW_SERVICES = (
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "airflow-triggerer",
    "airflow-init",
)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text())


class TestDockerCompose:
    def test_has_the_official_airflow3_celery_services(self, compose):
        assert set(compose["services"]) == {"postgres", "redis", *AIRFLOW_SERVICES}

    @pytest.mark.parametrize("service", AIRFLOW_SERVICES, ids=AIRFLOW_SERVICES)
    def test_airflow_services_share_one_image_and_jwt_secret(self, compose, service):
        spec = compose["services"][service]
        assert spec["image"] == compose["services"]["airflow-scheduler"]["image"]
        assert spec["build"] == "."
        env = spec["environment"]
        assert env["AIRFLOW__API_AUTH__JWT_SECRET"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert "_PIP_ADDITIONAL_REQUIREMENTS" not in env

    def test_story_store_is_postgres_with_its_own_database(self, compose):
        env = compose["services"]["airflow-worker"]["environment"]
        assert env["AIRFLOW_CONN_XOPS_STORE"].startswith("postgresql://")
        init_sql = ROOT / "docker" / "postgres-init.sql"
        assert "CREATE DATABASE xops" in init_sql.read_text()
        mounts = compose["services"]["postgres"]["volumes"]
        assert any(m.startswith("./docker/postgres-init.sql:/docker-entrypoint-initdb.d/") for m in mounts)

    def test_image_installs_the_provider_from_airflow_3_3_2(self):
        dockerfile = (ROOT / "Dockerfile").read_text()
        assert "FROM apache/airflow:3.3.2" in dockerfile
        assert "pip install" in dockerfile
