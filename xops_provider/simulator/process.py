"""Start ``xops simulator serve`` as a child process and wait until it accepts connections.

Used by the test fixtures, the benchmark and the demo, so all of them run the real command.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from xops_provider.simulator.admin import SimulatorAdmin
from xops_provider.simulator.server import CATO_FILE, CONNECTION_FILE, READY_FILE

LOG_FILE = "serve.log"
OUT_FILE = "serve.out"


class SimulatorStartError(RuntimeError):
    """The simulator exited or did not become ready in time."""


@dataclass(kw_only=True)
class SimulatorProcess:
    """A running simulator.

    :param process: the child process.
    :param base_url: ``https://127.0.0.1:PORT``.
    :param state_dir: its state directory.
    :param ca_path: the CA to verify it with.
    :param connection: the ``ms_tenant`` connection as a dict (holds the secret: never log it).
    :param connection_json: the same, as the JSON for ``AIRFLOW_CONN_MS_TENANT_DEFAULT``.
    :param admin: a client for its admin API.
    :param cato: the Cato feed's ``endpoint``, ``api_key``, ``account_id`` and ``verify`` (holds the
        key: never log it).
    """

    process: subprocess.Popen[bytes]
    base_url: str
    state_dir: Path
    ca_path: Path
    connection: dict[str, Any] = field(repr=False)
    connection_json: str = field(repr=False)
    admin: SimulatorAdmin = field(repr=False)
    cato: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def tenant_id(self) -> str:
        return self.connection["extra"]["tenant_id"]

    @property
    def client_id(self) -> str:
        return self.connection["login"]

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    @classmethod
    def start(
        cls,
        state_dir: Path,
        *,
        scenario: str = "empty",
        incidents: int | None = None,
        seed: int = 0,
        faults: str = "",
        port: int = 0,
        timeout: float = 120.0,
    ) -> SimulatorProcess:
        """Run ``xops simulator serve`` and wait for its ``ready`` file.

        :param state_dir: the state directory.
        :param scenario: the initial scenario.
        :param incidents: the count for ``generated``.
        :param seed: the seed.
        :param faults: initial faults.
        :param port: the port; 0 picks a free one.
        :param timeout: seconds to wait for readiness.
        """
        state_dir = Path(state_dir).resolve()
        state_dir.mkdir(parents=True, exist_ok=True)
        (state_dir / READY_FILE).unlink(missing_ok=True)
        command = [
            sys.executable, "-m", "xops_provider.cli", "simulator", "serve",
            "--port", str(port), "--state-dir", str(state_dir), "--scenario", scenario, "--seed", str(seed),
            "--exit-with-parent",
        ]  # fmt: skip
        if incidents is not None:
            command += ["--incidents", str(incidents)]
        if faults:
            command += ["--faults", faults]
        # stdout carries the export line with the secret, so it goes to a private file next to
        # connection.json (which holds the same secret), never to the parent's output.
        out_fd = os.open(state_dir / OUT_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(out_fd, "wb") as out, open(state_dir / LOG_FILE, "wb") as log:
            process = subprocess.Popen(command, stdout=out, stderr=log, start_new_session=True)
        deadline = time.monotonic() + timeout
        ready_path = state_dir / READY_FILE
        while not ready_path.exists():
            if process.poll() is not None:
                raise SimulatorStartError(
                    f"the simulator exited with {process.returncode}: {cls._log_tail(state_dir)}"
                )
            if time.monotonic() > deadline:
                process.kill()
                process.wait()
                raise SimulatorStartError(f"the simulator was not ready after {timeout:g}s")
            time.sleep(0.05)
        ready = json.loads(ready_path.read_text())
        connection_json = (state_dir / CONNECTION_FILE).read_text().strip()
        return cls(
            process=process,
            base_url=ready["base_url"],
            state_dir=state_dir,
            ca_path=Path(ready["ca_path"]),
            connection=json.loads(connection_json),
            connection_json=connection_json,
            admin=SimulatorAdmin(base_url=ready["base_url"], ca_path=ready["ca_path"]),
            cato=json.loads((state_dir / CATO_FILE).read_text()),
        )

    @staticmethod
    def _log_tail(state_dir: Path) -> str:
        try:
            return (state_dir / LOG_FILE).read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def stop(self, *, timeout: float = 15.0) -> int:
        """Stop it (SIGTERM, then SIGKILL after ``timeout``); returns its exit status.

        :param timeout: seconds to wait for a clean exit.
        """
        self.admin.close()
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def __enter__(self) -> SimulatorProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
