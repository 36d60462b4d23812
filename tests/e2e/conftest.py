"""Fixtures for the distributed run: PostgreSQL databases, a Redis database and the Airflow services."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.e2e.cluster import AirflowCluster
from tests.fixtures.store import PostgresServer

# A database number of the machine's Redis reserved for this test; only it is ever flushed.
REDIS_URL = os.environ.get("XOPS_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
DAG_ID = "xops_email_security"
# PostgresServer.create names databases PREFIX_PID_HEX.
_E2E_DB = re.compile(r"xops_e2e_(?:airflow|store)_(\d+)_[0-9a-f]+")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    # Lets the cluster's finalizer know whether the test failed, to print the services' logs then.
    report = yield
    setattr(item, f"xops_report_{report.when}", report)
    return report


@pytest.fixture
def redis_broker() -> Iterator[str]:
    """The broker URL of an emptied Redis database, emptied again afterwards."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.ConnectionError as err:
        pytest.skip(f"Redis is not reachable at {REDIS_URL}: {type(err).__name__}")
    client.flushdb()
    try:
        yield REDIS_URL
    finally:
        client.flushdb()
        client.close()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        pass
    return True


@pytest.fixture(scope="session")
def e2e_pg_server(pg_server: PostgresServer) -> PostgresServer:
    """The PostgreSQL server, rid of the databases of earlier runs that were killed before their
    finalizers ran (their names carry the pid of a process that no longer exists)."""
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'xops\\_e2e\\_%'")
        names = [row[0] for row in rows]
        stale = [
            name for name in names if (match := _E2E_DB.fullmatch(name)) and not _pid_alive(int(match[1]))
        ]
    for name in stale:
        pg_server.drop(name)
    return pg_server


@pytest.fixture
def metadata_db(e2e_pg_server: PostgresServer) -> Iterator[str]:
    """Airflow's metadata DB: a fresh database, as a psycopg 3 SQLAlchemy URL."""
    pg_server = e2e_pg_server
    name = pg_server.create(prefix="xops_e2e_airflow")
    try:
        yield pg_server.url(name).replace("postgresql://", "postgresql+psycopg://", 1)
    finally:
        pg_server.drop(name)


@pytest.fixture
def story_db(e2e_pg_server: PostgresServer) -> Iterator[str]:
    """The story store: a fresh, empty database (the DAG's tasks migrate it on first use)."""
    pg_server = e2e_pg_server
    name = pg_server.create(prefix="xops_e2e_store")
    try:
        yield pg_server.url(name)
    finally:
        pg_server.drop(name)


@pytest.fixture
def airflow_cluster(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    simulator,
    metadata_db: str,
    story_db: str,
    redis_broker: str,
) -> Iterator[AirflowCluster]:
    """Migrated metadata DB, then api-server, scheduler, dag-processor, triggerer and a Celery worker,
    with the repo's DAG parsed. Stopped (and their logs' tails printed on failure) whatever happens."""
    home = tmp_path / "airflow"
    home.mkdir()
    cluster = AirflowCluster.configure(
        home=home,
        metadata_url=metadata_db,
        broker_url=redis_broker,
        connections={"ms_tenant_default": simulator.connection_json, "xops_store": story_db},
        extra_env={
            # Only the runs the test triggers: no scheduled run competes for max_active_runs=1.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            # The sensor's timeout is the schedule interval: far beyond any wait below.
            "AIRFLOW__XOPS__POLL_INTERVAL_MINUTES": "30",
            # The trigger checks Graph every 5 s instead of every minute while the sensor waits.
            "AIRFLOW__XOPS__CHECK_INTERVAL_SECONDS": "5",
            # Faster hand-offs between the services; correctness does not depend on them.
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "2",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
        },
    )
    started = time.monotonic()
    try:
        cluster.run("db", "migrate", timeout=180)
        cluster.start("api-server", "api-server", "--port", str(cluster.api_port), "--workers", "1")
        cluster.start("scheduler", "scheduler")
        cluster.start("dag-processor", "dag-processor")
        cluster.start("triggerer", "triggerer")
        cluster.start("celery-worker", "celery", "worker", "--concurrency", "2")
        cluster.wait_for(
            f"the api-server to serve DAG {DAG_ID}",
            lambda: cluster.api("GET", f"/dags/{DAG_ID}"),
            timeout=150,
            interval=2,
        )
        print(f"\nfigures: migrated, started and parsed in {time.monotonic() - started:.0f}s")
        yield cluster
    finally:
        statuses = cluster.stop()
        print(f"\nservice exit statuses: {statuses}")
        failed = any(
            getattr(getattr(request.node, f"xops_report_{when}", None), "failed", False)
            for when in ("setup", "call")
        )
        if failed:
            print(cluster.log_tails(80))
