"""A real ``airflow api-server`` serving the Workbench plugin, for the browser tests.

It runs behind ``[api] base_url`` with a sub-path (``/airflow``), with SimpleAuthManager users from a
passwords file, on the session's migrated metadata DB, and reads stories from the store it is given.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.e2e.cluster import AIRFLOW, _detach_and_follow_parent, free_port
from tests.faults.helpers import store_conn_env

#: SimpleAuthManager users: a read-only analyst and an admin.
USERS = {"analyst": "viewer", "boss": "admin"}
SUB_PATH = "/airflow"
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"


@dataclass(frozen=True)
class ApiServer:
    """A running api-server.

    :param root: its base URL, sub-path included (``http://127.0.0.1:PORT/airflow``).
    :param passwords: each user's password.
    :param log_path: its log.
    """

    root: str
    passwords: dict[str, str]
    log_path: Path

    @property
    def workbench(self) -> str:
        return f"{self.root}/stories"

    def token(self, user: str) -> str:
        """A bearer token from ``POST /auth/token``.

        :param user: a key of :data:`USERS`.
        """
        answer = requests.post(
            f"{self.root}/auth/token",
            json={"username": user, "password": self.passwords[user]},
            timeout=30,
        )
        answer.raise_for_status()
        return answer.json()["access_token"]


@contextlib.contextmanager
def api_server(
    *, home: Path, env: dict[str, str], store_url: str, timeout: float = 150
) -> Iterator[ApiServer]:
    """Start ``airflow api-server`` and stop its process group afterwards.

    :param home: a folder for its passwords file and log.
    :param env: the environment of the session's ``airflow`` command (migrated metadata DB).
    :param store_url: the story store the Workbench reads.
    :param timeout: seconds to wait for it to answer.
    """
    port = free_port()
    passwords = {user: f"pw-{user}-{os.urandom(6).hex()}" for user in USERS}
    passwords_file = home / "passwords.json"
    passwords_file.write_text(json.dumps(passwords))
    root = f"http://127.0.0.1:{port}{SUB_PATH}"
    environment = {
        **env,
        "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{r}" for u, r in USERS.items()),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": root,
        "AIRFLOW_CONN_XOPS_STORE": store_conn_env(store_url),
    }
    log_path = home / "api-server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [AIRFLOW, "api-server", "--port", str(port), "--workers", "1"],
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_detach_and_follow_parent,
        )
    try:
        _wait_until_up(process, f"{root}/api/v2/monitor/health", log_path, timeout=timeout)
        yield ApiServer(root=root, passwords=passwords, log_path=log_path)
    finally:
        for signum in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signum)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=20)


def _wait_until_up(process: subprocess.Popen[bytes], url: str, log_path: Path, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"the api-server exited {process.returncode}:\n{log_path.read_text()[-4000:]}"
            )
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=5).status_code == 200:
                return
        time.sleep(1)
    raise AssertionError(
        f"the api-server did not answer within {timeout:.0f}s:\n{log_path.read_text()[-4000:]}"
    )
