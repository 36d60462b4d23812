"""The compose set-up steps (``docker/xops_compose.py``) run for real, outside Docker.

Paths under ``/opt/airflow/secrets`` in the compose file are mapped to a temporary directory; the
rest of each service's environment is the compose file's, with its defaults.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.deploy.conftest import SECRETS_MOUNT, SETUP_SCRIPT, load_compose, run_python, service_env
from xops_provider.simulator.constants import CLIENT_ID, TENANT_ID
from xops_provider.simulator.process import SimulatorProcess

SERVICES = load_compose()["services"]


def _run_setup(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SETUP_SCRIPT), *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _airflow_env(service: str, secrets_dir: Path) -> dict[str, str]:
    """The service's Airflow settings, with the secrets volume at ``secrets_dir``."""
    env = service_env(SERVICES[service])
    return {
        key: value.replace(SECRETS_MOUNT, str(secrets_dir))
        for key, value in env.items()
        if key.startswith("AIRFLOW__CORE__SIMPLE_AUTH")
        or key in ("AIRFLOW__CORE__AUTH_MANAGER", "AIRFLOW_ADMIN_PASSWORD")
        or key.endswith("_CMD")
    }


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    """The secrets volume after airflow-init's ``init-secrets`` step, with the compose defaults."""
    directory = tmp_path / "secrets"
    result = _run_setup("init-secrets", "--dir", str(directory), env=_airflow_env("airflow-init", directory))
    assert result.returncode == 0, result.stderr
    return directory


class TestInitSecrets:
    def test_creates_private_secrets(self, secrets_dir):
        jwt_secret = (secrets_dir / "jwt_secret").read_text()
        assert len(jwt_secret) >= 64
        Fernet((secrets_dir / "fernet_key").read_text().encode())  # a valid key, or this raises
        assert len(base64.urlsafe_b64decode((secrets_dir / "fernet_key").read_text())) == 32
        for path in secrets_dir.iterdir():
            assert path.stat().st_mode & 0o777 == 0o600, path.name

    def test_keeps_the_keys_and_rewrites_the_password(self, secrets_dir):
        before = {name: (secrets_dir / name).read_text() for name in ("jwt_secret", "fernet_key")}
        env = {**_airflow_env("airflow-init", secrets_dir), "AIRFLOW_ADMIN_PASSWORD": "n3w pa$$word"}
        result = _run_setup("init-secrets", "--dir", str(secrets_dir), env=env)
        assert result.returncode == 0, result.stderr
        assert {name: (secrets_dir / name).read_text() for name in before} == before
        passwords = json.loads((secrets_dir / "simple_auth_manager_passwords.json").read_text())
        assert passwords == {"airflow": "n3w pa$$word"}
        assert "n3w" not in result.stdout + result.stderr

    @pytest.mark.parametrize(
        ("variable", "message"),
        [
            pytest.param("AIRFLOW_ADMIN_PASSWORD", "AIRFLOW_ADMIN_PASSWORD is empty", id="no-password"),
            pytest.param("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "names no user", id="no-user"),
        ],
    )
    def test_refuses_an_empty_setting(self, tmp_path, variable, message):
        env = {**_airflow_env("airflow-init", tmp_path), variable: ""}
        result = _run_setup("init-secrets", "--dir", str(tmp_path), env=env)
        assert result.returncode != 0
        assert message in result.stderr

    def test_airflow_reads_the_secrets_through_the_cmd_options(self, secrets_dir):
        result = run_python(
            "from airflow.configuration import conf\n"
            "print(conf.get('api_auth', 'jwt_secret')); print(conf.get('core', 'fernet_key'))",
            env=_airflow_env("airflow-scheduler", secrets_dir),
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout.split() == [
            (secrets_dir / "jwt_secret").read_text(),
            (secrets_dir / "fernet_key").read_text(),
        ]

    @pytest.mark.parametrize(
        ("password", "status"),
        [pytest.param("airflow", 201, id="compose-default"), pytest.param("wrong", 401, id="wrong")],
    )
    def test_api_server_logs_the_compose_user_in(self, secrets_dir, password, status):
        """The API server's auth app (SimpleAuthManager, as configured), in a fresh interpreter."""
        code = f"""
import json, jwt
from fastapi import FastAPI
from fastapi.testclient import TestClient
from airflow.api_fastapi.app import init_auth_manager
app = FastAPI()
init_auth_manager(app)
response = TestClient(app).post("/auth/token", json={{"username": "airflow", "password": {password!r}}})
claims = None
if response.status_code == 201:
    secret = open({str(secrets_dir / "jwt_secret")!r}).read()
    token = response.json()["access_token"]
    claims = jwt.decode(token, secret, algorithms=["HS512"], options={{"verify_aud": False}})
print(json.dumps({{"status": response.status_code, "claims": claims}}))
"""
        result = run_python(code, env=_airflow_env("airflow-apiserver", secrets_dir))
        assert result.returncode == 0, result.stderr[-2000:]
        outcome = json.loads(result.stdout.strip().splitlines()[-1])
        assert outcome["status"] == status
        if status == 201:
            # Signed with the shared secret from the volume: what every other service checks with.
            assert outcome["claims"]["sub"] == "airflow"
            assert outcome["claims"]["role"] == "admin"


@pytest.fixture
def demo_state_dir(tmp_path: Path) -> Path:
    state_dir = tmp_path / "simulator" / "state"
    result = _run_setup("simulator-tls", "--state-dir", str(state_dir), "--hostname", "xops-simulator")
    assert result.returncode == 0, result.stderr
    return state_dir


class TestSimulatorTls:
    def _get_health(self, *, port: int, ca_path: Path, server_name: str) -> bytes:
        context = ssl.create_default_context(cafile=str(ca_path))
        with (
            socket.create_connection(("127.0.0.1", port), timeout=30) as raw,
            context.wrap_socket(raw, server_hostname=server_name) as tls,
        ):
            request = (
                f"GET /_admin/health HTTP/1.1\r\nHost: {server_name}:{port}\r\nConnection: close\r\n\r\n"
            )
            tls.sendall(request.encode())
            response = b""
            while chunk := tls.recv(65536):
                response += chunk
        return response

    def test_simulator_serves_the_certificate_for_its_compose_name(self, demo_state_dir):
        with SimulatorProcess.start(demo_state_dir) as simulator:
            response = self._get_health(
                port=simulator.port, ca_path=demo_state_dir / "ca.pem", server_name="xops-simulator"
            )
            with pytest.raises(ssl.SSLCertVerificationError, match="match"):
                self._get_health(
                    port=simulator.port, ca_path=demo_state_dir / "ca.pem", server_name="elsewhere.example"
                )
        assert response.startswith(b"HTTP/1.1 200")
        assert b'"status":"ok"' in response

    def test_keeps_certificates_that_cover_the_name(self, demo_state_dir):
        before = (demo_state_dir / "server.pem").read_bytes()
        _run_setup("simulator-tls", "--state-dir", str(demo_state_dir), "--hostname", "xops-simulator")
        assert (demo_state_dir / "server.pem").read_bytes() == before
        _run_setup("simulator-tls", "--state-dir", str(demo_state_dir), "--hostname", "sim.internal")
        assert (demo_state_dir / "server.pem").read_bytes() != before
        assert (demo_state_dir / "server-key.pem").stat().st_mode & 0o777 == 0o600


class TestDemoConnection:
    CONN_ID = "xops_compose_demo_test"

    def test_writes_the_simulator_connection_to_the_metadata_db(self, airflow_cli, demo_state_dir):
        secret = "demo~" + "s" * 35
        (demo_state_dir / "client-secret").write_text(secret)
        args = [
            "demo-connection",
            "--state-dir",
            str(demo_state_dir),
            "--base-url",
            "https://xops-simulator:8443",
            "--conn-id",
            self.CONN_ID,
        ]
        try:
            for _ in range(2):  # idempotent: every `docker compose up` runs it again
                result = _run_setup(*args, env=airflow_cli.env)
                assert result.returncode == 0, result.stderr[-2000:]
                assert secret not in result.stdout + result.stderr
            got = airflow_cli.run("connections", "get", self.CONN_ID, "--output", "json")
            assert got.returncode == 0, got.stderr[-2000:]
        finally:
            airflow_cli.run("connections", "delete", self.CONN_ID)
        (conn,) = json.loads(got.stdout[got.stdout.index("[") :])
        assert conn["conn_type"] == "ms_tenant"
        assert conn["login"] == CLIENT_ID
        assert conn["password"] == secret
        assert conn["extra_dejson"] == {
            "tenant_id": TENANT_ID,
            "authority_host": "https://xops-simulator:8443",
            "graph_endpoint": "https://xops-simulator:8443",
            "verify": str(demo_state_dir / "ca.pem"),
        }
