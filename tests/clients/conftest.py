"""Fixtures of the client tests: a tiny scripted HTTPS server on loopback, trusted through a test CA.

The Defender simulator stands in for Microsoft; this server only serves what the simulator must not
(a page whose ``@odata.nextLink`` points at another host, a certificate from a foreign CA).
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.clients.simulator_support import sim  # noqa: F401 - fixture
from xops_provider.simulator.tls import TlsFiles, ensure_tls

Responder = Callable[[BaseHTTPRequestHandler], tuple[int, dict[str, str], bytes]]


@dataclass
class ScriptedServer:
    """An HTTPS server answering every request with ``responder``; it records what it received.

    :param base_url: ``https://127.0.0.1:PORT``.
    :param tls: the CA and server certificate it uses.
    :param requests: ``(method, path, headers)`` of every request received.
    """

    base_url: str
    tls: TlsFiles
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    responder: Responder | None = None

    @property
    def ca_path(self) -> str:
        return str(self.tls.ca_path)


class StaticTokenProvider:
    """A fixed bearer token, for servers that are not Microsoft identity."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.invalidated = 0

    def get_token(self) -> str:
        return self.token

    def invalidate(self) -> None:
        self.invalidated += 1


def json_answer(status: int, payload: object, headers: dict[str, str] | None = None):
    body = json.dumps(payload).encode()
    return status, {"Content-Type": "application/json", **(headers or {})}, body


def _start(state_dir: Path) -> tuple[ThreadingHTTPServer, ScriptedServer]:
    tls = ensure_tls(state_dir)
    holder: dict[str, ScriptedServer] = {}

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            server = holder["server"]
            server.requests.append((self.command, self.path, dict(self.headers)))
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            status, headers, body = (server.responder or (lambda _h: json_answer(200, {})))(self)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PATCH = _answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls.cert_path, tls.key_path)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    holder["server"] = ScriptedServer(base_url=f"https://127.0.0.1:{httpd.server_address[1]}", tls=tls)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, holder["server"]


@pytest.fixture
def scripted_server_factory(tmp_path: Path) -> Iterator[Callable[[str], ScriptedServer]]:
    """Starts scripted HTTPS servers; each name gets its own CA under ``tmp_path``."""
    started: list[ThreadingHTTPServer] = []

    def start(name: str) -> ScriptedServer:
        state_dir = tmp_path / name
        state_dir.mkdir()
        httpd, server = _start(state_dir)
        started.append(httpd)
        return server

    yield start
    for httpd in started:
        httpd.shutdown()
        httpd.server_close()
