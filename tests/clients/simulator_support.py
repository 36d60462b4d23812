"""Talking to the Defender simulator from the client, hook and CLI tests.

``Admin`` drives the simulator's documented ``/_admin`` HTTP API directly, so these tests depend on
the API and not on a client class. ``local_simulator`` runs the simulator in a subprocess for the
whole session and resets it before each test.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from xops_provider.clients.identity import clear_shared_token_providers


@dataclass
class Admin:
    """The simulator's admin API.

    :param base_url: the simulator's ``https://127.0.0.1:PORT``.
    :param ca_path: its CA bundle.
    """

    base_url: str
    ca_path: str

    def call(self, method: str, path: str, payload: Any = None) -> Any:
        response = requests.request(
            method, f"{self.base_url}/_admin{path}", json=payload, verify=self.ca_path, timeout=30
        )
        response.raise_for_status()
        return response.json() if response.content else None

    def reset(self, scenario: str = "empty", *, incidents: int | None = None, faults: str = "") -> Any:
        return self.call("POST", "/reset", {"scenario": scenario, "incidents": incidents, "faults": faults})

    def faults(self, spec: str) -> Any:
        return self.call("PUT", "/faults", {"spec": spec})

    def revoke_tokens(self) -> int:
        return self.call("POST", "/tokens/revoke", {})["revoked"]

    def roles(self, client_id: str, roles: list[str], *, revoke_tokens: bool = True) -> Any:
        return self.call("PUT", f"/apps/{client_id}/roles", {"roles": roles, "revoke_tokens": revoke_tokens})

    def add_certificate(self, client_id: str, pem: str) -> dict[str, str]:
        return self.call("POST", f"/apps/{client_id}/certificates", {"pem": pem})

    def counters(self) -> dict[str, Any]:
        return self.call("GET", "/counters")

    def reset_counters(self) -> Any:
        return self.call("DELETE", "/counters")

    def create_incident(self, **fields: Any) -> dict[str, Any]:
        return self.call("POST", "/incidents", fields)

    def token_requests(self) -> int:
        return self.counters()["tokens_issued"]

    def graph_requests(self) -> int:
        return sum(row["count"] for row in self.counters()["requests"] if row["route"].startswith("/v1.0"))


@dataclass
class LocalSimulator:
    """What the tests need from a running simulator.

    :param base_url: ``https://127.0.0.1:PORT``.
    :param state_dir: its state directory.
    :param ca_path: the CA bundle that signs its certificate.
    :param connection: the ready ``ms_tenant`` connection (a dict).
    :param admin: the admin API.
    """

    base_url: str
    state_dir: Path
    ca_path: str
    connection: dict[str, Any]
    admin: Admin

    @property
    def connection_json(self) -> str:
        return json.dumps(self.connection)

    @property
    def client_id(self) -> str:
        return self.connection["login"]

    @property
    def secret(self) -> str:
        return self.connection["password"]


_LAUNCH = (
    "import sys; from pathlib import Path; "
    "from xops_provider.simulator.server import ServeOptions, serve; "
    "sys.exit(serve(ServeOptions(state_dir=Path(sys.argv[1]))))"
)


@pytest.fixture(scope="session")
def _simulator_process(tmp_path_factory) -> Iterator[LocalSimulator]:
    state_dir = tmp_path_factory.mktemp("ms-tenant-sim")
    log = (state_dir.parent / "ms-tenant-sim.log").open("w")
    process = subprocess.Popen([sys.executable, "-c", _LAUNCH, str(state_dir)], stdout=log, stderr=log)
    ready = state_dir / "ready"
    deadline = time.monotonic() + 60
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(
                f"the simulator did not start: {(state_dir.parent / 'ms-tenant-sim.log').read_text()}"
            )
        time.sleep(0.05)
    info = json.loads(ready.read_text())
    connection = json.loads((state_dir / "connection.json").read_text())
    admin = Admin(base_url=info["base_url"], ca_path=info["ca_path"])
    try:
        yield LocalSimulator(
            base_url=info["base_url"],
            state_dir=state_dir,
            ca_path=info["ca_path"],
            connection=connection,
            admin=admin,
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            # Uvicorn waits for open keep-alive connections; the state is disposable.
            process.kill()
            process.wait(timeout=10)
        log.close()


@pytest.fixture
def sim(_simulator_process: LocalSimulator, monkeypatch) -> LocalSimulator:
    """The session's simulator, reset to an empty tenant, with no cached tokens in this process."""
    _simulator_process.admin.reset("empty")
    clear_shared_token_providers()
    monkeypatch.setenv("AIRFLOW_CONN_MS_TENANT_DEFAULT", _simulator_process.connection_json)
    yield _simulator_process
    clear_shared_token_providers()


__all__ = ["Admin", "LocalSimulator", "_simulator_process", "sim"]
