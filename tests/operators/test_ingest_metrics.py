"""The ingest's metrics reach a StatsD server: Airflow's own StatsD logger, in a subprocess
configured like a worker, sending to a UDP socket on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.faults.helpers import set_watermark
from xops_provider.models.timestamps import GraphTime

ROOT = Path(__file__).resolve().parents[2]

# What the task runner does at start-up (``stats.initialize``), then one failed run's record.
SCRIPT = textwrap.dedent(
    """
    import sys

    from airflow.sdk._shared.observability.metrics import stats
    from airflow.sdk.observability.metrics import stats_utils

    stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=False)

    from xops_provider.clients.errors import GraphForbiddenError
    from xops_provider.models.health import run_outcome
    from xops_provider.operators.ingest import record_health
    from xops_provider.store import Store

    with Store.open(sys.argv[1]) as store:
        outcome = run_outcome(GraphForbiddenError("no role", status=403), throttled=2, quarantined=1)
        record_health(store, "acme", outcome)
    """
)

EXPECTED = {
    "airflow.xops.acme.runs": "1|c",
    "airflow.xops.acme.failed_runs": "1|c",
    "airflow.xops.acme.throttled": "2|c",
    "airflow.xops.acme.quarantined": "1|c",
}


def _received(listener, names: set[str]) -> dict[str, str]:
    metrics: dict[str, str] = {}
    while not names <= metrics.keys():
        packet = listener.recv(65_535).decode()
        for line in packet.splitlines():
            name, _, value = line.partition(":")
            metrics[name] = value
    return metrics


def test_metrics_reach_statsd(statsd_listener, tmp_path):
    # Airflow's StatsD logger needs the ``statsd`` package (Airflow's ``statsd`` extra).
    pytest.importorskip("statsd")
    url = f"sqlite:///{tmp_path}/stories.db"
    watermark = GraphTime.now().shift(seconds=-600)
    set_watermark(url, integration="acme", tenant_id="t", watermark=watermark)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "AIRFLOW__METRICS__STATSD_ON": "True",
        "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
        "AIRFLOW__METRICS__STATSD_PORT": str(statsd_listener.getsockname()[1]),
        "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, url], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = _received(statsd_listener, {*EXPECTED, "airflow.xops.acme.lag_seconds"})
    for name, value in EXPECTED.items():
        assert metrics[name] == value
    value, _, kind = metrics["airflow.xops.acme.lag_seconds"].partition("|")
    assert kind == "g"
    assert float(value) >= 600
