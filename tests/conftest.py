"""Test-wide setup: a private AIRFLOW_HOME, set before anything imports Airflow."""

from __future__ import annotations

import os
import secrets
import tempfile

_AIRFLOW_HOME = tempfile.mkdtemp(prefix="xops-test-airflow-")
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
# A full-length signing key for the API server's JWTs (the generated default is short).
os.environ.setdefault("AIRFLOW__API_AUTH__JWT_SECRET", secrets.token_urlsafe(64))

pytest_plugins = [
    "tests.fixtures.simulator",
    "tests.fixtures.store",
    "tests.fixtures.airflow",
]
