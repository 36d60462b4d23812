"""A local Airflow deployment in the Celery layout of ``docker-compose.yaml``, one process per service.

The api-server, scheduler, dag-processor, triggerer and a Celery worker run as separate ``airflow``
processes that share one environment (AIRFLOW_HOME, metadata DB, broker, JWT secret, connections) and
meet only through PostgreSQL, Redis and the api-server, as the containers do. Each one writes to its
own log file; :meth:`AirflowCluster.stop` ends them all, whatever state they are in.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import requests

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
REPO = Path(__file__).resolve().parents[2]
API_USER = "xops-e2e"

_T = TypeVar("_T")
_PR_SET_PDEATHSIG = 1


class ClusterError(AssertionError):
    """A service died, a command failed or a wait ran out; the message carries the logs' tails."""


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _detach_and_follow_parent() -> None:
    # Own process group, so stopping a service reaches its children (Celery's pool, uvicorn's
    # workers, the supervisors' task processes); and SIGTERM when pytest itself dies, so an
    # interrupted run leaves no service behind.
    os.setsid()
    # Not Linux: no prctl, and the finalizer alone stops the services.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass(kw_only=True)
class Service:
    """One running ``airflow`` service.

    :param name: the service's name (``scheduler``, ``celery-worker``...).
    :param process: the child process (leader of its own process group).
    :param log_path: where its stdout and stderr go.
    """

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def tail(self, lines: int = 40) -> str:
        """The last lines of the service's log.

        :param lines: how many.
        """
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


@dataclass(kw_only=True)
class AirflowCluster:
    """The environment shared by every service, the services started in it and the api-server's REST API.

    :param home: the private AIRFLOW_HOME (process logs go to ``home/process-logs``).
    :param env: the complete environment of every ``airflow`` process.
    :param api_port: the api-server's port on 127.0.0.1.
    :param api_password: the REST API user's password (the api-server reads it from its passwords file).
    """

    home: Path
    env: dict[str, str] = field(repr=False)
    api_port: int
    api_password: str = field(repr=False)
    services: list[Service] = field(default_factory=list)
    _token: str | None = field(default=None, repr=False)
    _http: requests.Session = field(default_factory=requests.Session, repr=False)

    @classmethod
    def configure(
        cls,
        *,
        home: Path,
        metadata_url: str,
        broker_url: str,
        connections: Mapping[str, str],
        extra_env: Mapping[str, str] | None = None,
    ) -> AirflowCluster:
        """Write the API user's passwords file and build the services' common environment.

        :param home: an empty directory to become AIRFLOW_HOME.
        :param metadata_url: the metadata DB, ``postgresql+psycopg://...``.
        :param broker_url: the Celery broker, ``redis://...``.
        :param connections: connection id -> URI or JSON, exported as ``AIRFLOW_CONN_<ID>``.
        :param extra_env: further variables (tuning), applied last.
        """
        from cryptography.fernet import Fernet

        api_port = free_port()
        password = secrets.token_urlsafe(24)
        # Written before the api-server starts, so SimpleAuthManager never generates and prints one.
        passwords_file = home / "passwords.json"
        passwords_file.write_text(json.dumps({API_USER: password}))
        passwords_file.chmod(0o600)
        inherited = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_"))
        }
        env = {
            **inherited,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{API_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
            # Every service must sign and accept the same JWTs, or workers get "Invalid auth token".
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
            # Airflow derives asyncpg otherwise; psycopg 3 serves both.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": metadata_url.replace(
                "postgresql+psycopg://", "postgresql+psycopg_async://", 1
            ),
            "AIRFLOW__CELERY__BROKER_URL": broker_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + metadata_url,
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
            # Other sessions on this machine may run Airflow too: no fixed log-server ports.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            **{f"AIRFLOW_CONN_{conn_id.upper()}": value for conn_id, value in connections.items()},
            **(extra_env or {}),
        }
        env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
        (home / "process-logs").mkdir(exist_ok=True)
        return cls(home=home, env=env, api_port=api_port, api_password=password)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    # -- processes ----------------------------------------------------------------------------

    def run(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """Run a one-off ``airflow ARGS`` in the shared environment; raise with its output on failure.

        :param args: the command's arguments.
        :param timeout: seconds before the command is abandoned.
        """
        done = subprocess.run(
            [AIRFLOW, *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            raise ClusterError(
                f"airflow {' '.join(args)} exited {done.returncode}:\n{(done.stdout + done.stderr)[-4000:]}"
            )
        return done

    def start(self, name: str, *args: str) -> Service:
        """Start ``airflow ARGS`` as a long-running service, its output in ``process-logs/NAME.log``.

        :param name: the service's name.
        :param args: the command's arguments.
        """
        log_path = self.home / "process-logs" / f"{name}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [AIRFLOW, *args],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_detach_and_follow_parent,
            )
        service = Service(name=name, process=process, log_path=log_path)
        self.services.append(service)
        return service

    def stop(self, *, grace: float = 30.0) -> dict[str, int | None]:
        """SIGTERM every service's process group, SIGKILL whatever is left after ``grace`` seconds.

        :param grace: seconds the services get to shut down cleanly.
        :return: each service's exit status (negative: the signal that ended it).
        """
        for service in self.services:
            self._signal(service, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for service in self.services:
            with contextlib.suppress(subprocess.TimeoutExpired):
                service.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        for service in self.services:
            # The group too: a child that outlived its leader still holds a port or a DB connection.
            self._signal(service, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                service.process.wait(timeout=10)
        self._http.close()
        return {service.name: service.process.returncode for service in self.services}

    @staticmethod
    def _signal(service: Service, signum: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(service.process.pid, signum)

    def check_alive(self) -> None:
        """Raise if a service has exited: nothing would restart it, so every wait would run out."""
        dead = [service for service in self.services if service.process.poll() is not None]
        if dead:
            names = ", ".join(f"{s.name} (exit {s.process.returncode})" for s in dead)
            raise ClusterError(f"service exited: {names}\n{self.log_tails()}")

    def log_tails(self, lines: int = 40) -> str:
        """The last lines of every service's log, for a failure message.

        :param lines: how many per service.
        """
        return "\n".join(f"----- {s.name} ({s.log_path}) -----\n{s.tail(lines)}" for s in self.services)

    def log_files(self) -> Iterator[Path]:
        """Every file the deployment logged to: the services' logs and the task and trigger logs."""
        for path in sorted(self.home.rglob("*")):
            if path.is_file() and (path.suffix == ".log" or "logs" in path.relative_to(self.home).parts):
                yield path

    def wait_for(
        self, what: str, check: Callable[[], _T | None], *, timeout: float, interval: float = 1.0
    ) -> _T:
        """Call ``check`` until it returns something other than ``None``; bounded, and stopped early if a
        service dies.

        :param what: what is awaited, for the error message.
        :param check: returns ``None`` while the condition does not hold yet.
        :param timeout: seconds before giving up.
        :param interval: seconds between two checks.
        """
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while True:
            self.check_alive()
            try:
                result = check()
            except (requests.ConnectionError, requests.Timeout) as err:  # the api-server is starting
                result, last_error = None, err
            if result is not None:
                return result
            if time.monotonic() >= deadline:
                detail = f" (last error: {type(last_error).__name__})" if last_error else ""
                raise ClusterError(
                    f"timed out after {timeout:.0f}s waiting for {what}{detail}\n{self.log_tails()}"
                )
            time.sleep(interval)

    # -- REST API -----------------------------------------------------------------------------

    def api(self, method: str, path: str, *, json_body: Any = None, expect: int | None = None) -> Any:
        """Call the api-server's public REST API (``/api/v2/...``) as the admin user.

        :param method: the HTTP method.
        :param path: the path under ``/api/v2``.
        :param json_body: the JSON body.
        :param expect: the status expected; any 2xx when omitted. ``None`` is returned for a 404 when
            ``expect`` is omitted.
        """
        if self._token is None:
            answer = self._http.post(
                f"{self.api_url}/auth/token",
                json={"username": API_USER, "password": self.api_password},
                timeout=30,
            )
            answer.raise_for_status()
            self._token = answer.json()["access_token"]
        answer = self._http.request(
            method,
            f"{self.api_url}/api/v2{path}",
            json=json_body,
            headers={"Authorization": f"Bearer {self._token}"},
            timeout=30,
        )
        if expect is None and answer.status_code == 404:
            return None
        if (expect is not None and answer.status_code != expect) or (expect is None and not answer.ok):
            raise ClusterError(f"{method} {path} answered {answer.status_code}: {answer.text[:2000]}")
        return answer.json() if answer.content else None
