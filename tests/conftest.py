"""Test-wide setup: a private AIRFLOW_HOME, set before anything imports Airflow."""

from __future__ import annotations

import os
import tempfile

_AIRFLOW_HOME = tempfile.mkdtemp(prefix="xops-test-airflow-")
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)

pytest_plugins = [
    "tests.fixtures.simulator",
    "tests.fixtures.store",
    "tests.fixtures.airflow",
]
