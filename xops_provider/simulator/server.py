"""``xops simulator serve``: the TLS server, its state directory and the hand-off files.

The state directory receives ``ca.pem``, ``connection.json`` (mode 0600, the ``ms_tenant``
connection ready to use), ``cato.json`` (mode 0600, the Cato feed's endpoint, API key and account)
and, last, ``ready`` (JSON with the URL and pid) once the server accepts connections. A parent
process waits for ``ready``; it is removed again on shutdown.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

from xops_provider.simulator.app import create_app
from xops_provider.simulator.constants import CATO_ACCOUNT_ID, CLIENT_ID, TENANT_ID
from xops_provider.simulator.faults import FaultSpec
from xops_provider.simulator.state import SimulatorState
from xops_provider.simulator.tls import ensure_tls

READY_FILE = "ready"
CONNECTION_FILE = "connection.json"
SECRET_FILE = "client-secret"
CATO_KEY_FILE = "cato-api-key"
CATO_FILE = "cato.json"


@dataclass(frozen=True, slots=True, kw_only=True)
class ServeOptions:
    """How to run the simulator.

    :param state_dir: where the CA, the secret and the hand-off files live.
    :param host: the address to listen on.
    :param port: the port; 0 picks a free one.
    :param scenario: the scenario loaded at start.
    :param incidents: the count for ``generated``.
    :param seed: seeds the scenario and the fault dice.
    :param faults: faults from the start.
    :param log_level: uvicorn's log level.
    :param exit_with_parent: stop when the process that started the simulator is gone.
    """

    state_dir: Path
    host: str = "127.0.0.1"
    port: int = 0
    scenario: str = "empty"
    incidents: int | None = None
    seed: int = 0
    faults: FaultSpec = field(default_factory=FaultSpec)
    log_level: str = "warning"
    exit_with_parent: bool = False


def _write_atomic(path: Path, data: str, *, mode: int = 0o600) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(data)
    os.chmod(temporary, mode)
    os.replace(temporary, path)


def client_secret(state_dir: Path) -> str:
    """The connector's client secret for this state directory, created on first use.

    :param state_dir: the state directory.
    """
    path = state_dir / SECRET_FILE
    if path.exists():
        return path.read_text().strip()
    # Entra secrets are 40 characters with a ~ in them; keep the look, not the entropy source.
    secret = secrets.token_urlsafe(30)[:40].replace("-", "~", 1)
    _write_atomic(path, secret)
    return secret


def cato_api_key(state_dir: Path) -> str:
    """The Cato API key for this state directory, created on first use.

    :param state_dir: the state directory.
    """
    path = state_dir / CATO_KEY_FILE
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_hex(20)
    _write_atomic(path, key)
    return key


def cato_connection(*, base_url: str, api_key: str, ca_path: Path) -> dict[str, Any]:
    """How to reach the simulated Cato feed (its GraphQL URL is ``endpoint`` + ``/api/v1/graphql2``).

    :param base_url: ``https://host:port``.
    :param api_key: the ``x-api-key`` it accepts.
    :param ca_path: the CA bundle to verify the server with.
    """
    return {"endpoint": base_url, "api_key": api_key, "account_id": CATO_ACCOUNT_ID, "verify": str(ca_path)}


def url_host(host: str) -> str:
    """The host as it appears in a URL (IPv6 in brackets, wildcard binds as loopback).

    :param host: the listening address.
    """
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def connection(*, base_url: str, secret: str, ca_path: Path) -> dict[str, Any]:
    """The ``ms_tenant`` Airflow connection that reaches this simulator.

    :param base_url: ``https://host:port``.
    :param secret: the client secret.
    :param ca_path: the CA bundle to verify the server with.
    """
    return {
        "conn_type": "ms_tenant",
        "login": CLIENT_ID,
        "password": secret,
        "extra": {
            "tenant_id": TENANT_ID,
            "authority_host": base_url,
            "graph_endpoint": base_url,
            "verify": str(ca_path),
        },
    }


class _Server(uvicorn.Server):
    def __init__(
        self, config: uvicorn.Config, *, ready_path: Path, ready: dict[str, Any], parent_pid: int | None
    ) -> None:
        super().__init__(config)
        self._ready_path = ready_path
        self._ready = ready
        self._parent_pid = parent_pid

    async def on_tick(self, counter: int) -> bool:
        # A parent killed without cleanup must not leave the simulator running forever.
        if self._parent_pid is not None and counter % 10 == 0 and os.getppid() != self._parent_pid:
            self.should_exit = True
        return await super().on_tick(counter)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.should_exit:
            _write_atomic(self._ready_path, json.dumps(self._ready), mode=0o644)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(options: ServeOptions) -> int:
    """Run until interrupted (SIGINT/SIGTERM); returns the exit status.

    :param options: how to run.
    """
    state_dir = options.state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(state_dir, 0o700)
    ready_path = state_dir / READY_FILE
    ready_path.unlink(missing_ok=True)
    tls = ensure_tls(state_dir)
    secret = client_secret(state_dir)
    cato_key = cato_api_key(state_dir)

    state = SimulatorState(secret=secret, seed=options.seed, faults=options.faults, cato_key=cato_key)
    state.load(name=options.scenario, incidents=options.incidents)
    app = create_app(state)

    sock = _bind(options.host, options.port)
    port = sock.getsockname()[1]
    base_url = f"https://{url_host(options.host)}:{port}"
    conn = connection(base_url=base_url, secret=secret, ca_path=tls.ca_path)
    conn_json = json.dumps(conn, separators=(",", ":"))
    _write_atomic(state_dir / CONNECTION_FILE, conn_json + "\n")
    cato = cato_connection(base_url=base_url, api_key=cato_key, ca_path=tls.ca_path)
    _write_atomic(state_dir / CATO_FILE, json.dumps(cato) + "\n")
    print(f"export AIRFLOW_CONN_MS_TENANT_DEFAULT='{conn_json}'", flush=True)
    print(
        f"# simulator at {base_url} (admin API {base_url}/_admin/docs); "
        f"scenario {options.scenario}, {len(state.store)} incidents",
        file=sys.stderr,
        flush=True,
    )

    config = uvicorn.Config(
        app,
        ssl_certfile=str(tls.cert_path),
        ssl_keyfile=str(tls.key_path),
        log_level=options.log_level,
        access_log=False,
        lifespan="off",
        timeout_keep_alive=30,
        timeout_graceful_shutdown=2,
        server_header=False,
    )
    ready = {"base_url": base_url, "port": port, "pid": os.getpid(), "ca_path": str(tls.ca_path)}
    parent_pid = os.getppid() if options.exit_with_parent else None
    server = _Server(config, ready_path=ready_path, ready=ready, parent_pid=parent_pid)
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal to the handler it
    # found: make that handler end the process cleanly, so the ready file is removed and the exit
    # status is 0 for a requested stop.
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run(sockets=[sock])
    except _Stopped:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        ready_path.unlink(missing_ok=True)
        sock.close()
    return 0 if server.started else 1


class _Stopped(Exception):
    """A stop signal arrived after uvicorn had shut down."""


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _Stopped(signum)
