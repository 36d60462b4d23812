from __future__ import annotations

import hashlib
import json
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.simulator.conftest import INCIDENTS, Graph, fresh_token
from xops_provider.cli import main
from xops_provider.simulator import CLIENT_ID, TENANT_ID
from xops_provider.simulator.constants import CATO_ACCOUNT_ID
from xops_provider.simulator.process import SimulatorProcess, SimulatorStartError

EXPORT_PREFIX = "export AIRFLOW_CONN_MS_TENANT_DEFAULT='"


def _digest(text: str) -> str:
    # Compared through digests so that a failure cannot print the secret.
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    handle = SimulatorProcess.start(tmp_path_factory.mktemp("cli"), scenario="company-xyz", seed=3)
    yield handle
    handle.stop()


class TestHandOff:
    def test_files(self, served):
        assert stat.S_IMODE((served.state_dir / "connection.json").stat().st_mode) == 0o600
        assert stat.S_IMODE((served.state_dir / "client-secret").stat().st_mode) == 0o600
        assert stat.S_IMODE((served.state_dir / "cato.json").stat().st_mode) == 0o600
        assert stat.S_IMODE((served.state_dir / "cato-api-key").stat().st_mode) == 0o600
        assert (served.state_dir / "ca.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")
        ready = json.loads((served.state_dir / "ready").read_text())
        assert ready["base_url"] == served.base_url

    def test_cato_hand_off(self, served):
        cato = served.cato
        assert (cato["endpoint"], cato["account_id"], cato["verify"]) == (
            served.base_url,
            CATO_ACCOUNT_ID,
            str(served.ca_path),
        )
        assert _digest(cato["api_key"]) == _digest((served.state_dir / "cato-api-key").read_text().strip())

    def test_connection_shape(self, served):
        connection = served.connection
        assert (connection["conn_type"], connection["login"]) == ("ms_tenant", CLIENT_ID)
        assert connection["extra"] == {
            "tenant_id": TENANT_ID,
            "authority_host": served.base_url,
            "graph_endpoint": served.base_url,
            "verify": str(served.state_dir / "ca.pem"),
        }
        assert served.base_url.startswith("https://127.0.0.1:")
        assert len(connection["password"]) >= 32

    def test_serves_the_scenario(self, served):
        graph = Graph(served, fresh_token(served))
        assert len(graph.get(INCIDENTS).json()["value"]) == 4

    def test_certificate_names_every_loopback_form(self, served):
        from cryptography import x509

        pem = (served.state_dir / "server.pem").read_bytes()
        names = x509.load_pem_x509_certificate(pem).extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        )
        assert {str(ip) for ip in names.value.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}
        assert names.value.get_values_for_type(x509.DNSName) == ["localhost"]


class TestRestart:
    def test_secret_kept_per_state_dir_and_ready_removed_on_stop(self, served, tmp_path):
        first = SimulatorProcess.start(tmp_path)
        secret = _digest(first.connection["password"])
        assert first.stop() == 0
        assert not (tmp_path / "ready").exists()
        again = SimulatorProcess.start(tmp_path)
        try:
            assert _digest(again.connection["password"]) == secret
            assert _digest(served.connection["password"]) != secret
        finally:
            assert again.stop() == 0


_ORPHAN = """
import os, sys
from xops_provider.simulator.process import SimulatorProcess
print(SimulatorProcess.start(sys.argv[1]).process.pid, flush=True)
os._exit(0)  # no cleanup: the simulator must notice on its own
"""


def _running(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


class TestOrphan:
    def test_exits_when_its_parent_dies(self, tmp_path):
        result = subprocess.run(
            [sys.executable, "-c", _ORPHAN, str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=180,
            check=True,
        )
        pid = int(result.stdout.strip())
        deadline = time.monotonic() + 60
        while _running(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _running(pid)
        assert not (tmp_path / "ready").exists()


class TestCommandLine:
    def test_prints_the_export_line(self, served):
        line = (served.state_dir / "serve.out").read_text().splitlines()[0]
        assert line.startswith(EXPORT_PREFIX)
        assert line.endswith("'")
        printed = line[len(EXPORT_PREFIX) : -1]
        assert _digest(printed) == _digest(served.connection_json)
        assert stat.S_IMODE((served.state_dir / "serve.out").stat().st_mode) == 0o600

    @pytest.mark.parametrize(
        ("arguments", "message"),
        [
            pytest.param(["--faults", "429=2"], r"within \[0, 1\]", id="faults"),
            pytest.param(["--faults", "quota=5/day"], "quota needs N/s, N/min or N/h", id="quota"),
            pytest.param(["--scenario", "nope"], "unknown scenario", id="scenario"),
        ],
    )
    def test_refuses_bad_options(self, tmp_path, arguments, message):
        with pytest.raises(SystemExit, match=message):
            main(["simulator", "serve", "--state-dir", str(tmp_path), *arguments])
        assert not (tmp_path / "connection.json").exists()

    def test_start_error_is_reported(self, tmp_path):
        with pytest.raises(SimulatorStartError, match="exited"):
            SimulatorProcess.start(tmp_path, scenario="nope")

    def test_help(self, capsys):
        with pytest.raises(SystemExit):
            main(["simulator", "serve", "--help"])
        out = capsys.readouterr().out
        for option in ("--port", "--state-dir", "--scenario", "--incidents", "--seed", "--faults", "--host"):
            assert option in out
