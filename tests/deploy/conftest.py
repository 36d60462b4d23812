"""The docker-compose deployment, read as data: no Docker engine runs on these machines."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yaml"
SETUP_SCRIPT = REPO / "docker" / "xops_compose.py"
#: Where the compose file mounts the secrets volume in the Airflow containers.
SECRETS_MOUNT = "/opt/airflow/secrets"

_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def load_compose() -> dict[str, Any]:
    """The parsed ``docker-compose.yaml`` (YAML merge keys resolved, variables not)."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


def interpolate(value: str, env: Mapping[str, str] | None = None) -> str:
    """A compose value with its variables replaced as ``docker compose`` does (``$$`` is ``$``).

    :param value: the raw value.
    :param env: the variables set (none: every default applies).
    """
    env = env or {}

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name", "op", "arg")
        current = env.get(name)
        if (op in (":-", ":?") and not current) or (op in ("-", "?") and current is None):
            if op.endswith("?"):
                raise ValueError(f"{name} must be set: {arg}")
            return arg or ""
        return current or ""

    return _VARIABLE.sub(replace, value)


def service_env(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's environment with the compose defaults applied."""
    return {key: interpolate(str(value)) for key, value in (service.get("environment") or {}).items()}


def run_python(
    code: str, *, env: Mapping[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (Airflow's process-wide caches stay out of the test process).

    :param code: the program.
    :param env: variables added to the test's environment.
    :param timeout: seconds before it is abandoned.
    """
    inherited = dict(os.environ)
    for key in env:
        # A plain AIRFLOW__S__K would win over the AIRFLOW__S__K_CMD under test.
        if key.endswith("_CMD"):
            inherited.pop(key.removesuffix("_CMD"), None)
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**inherited, "PYTHONPATH": str(REPO), **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]
