"""The simulator's ASGI application: identity, Graph, the Cato feed and the admin API on one port."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from xops_provider.simulator.faults import retry_after_header
from xops_provider.simulator.graph.errors import GraphError, error_response, graph_error_handler, request_ids
from xops_provider.simulator.state import SimulatorState

ADMIN_PREFIX = "/_admin"
_GRAPH_PREFIXES = ("/v1.0/", "/beta/")
_DIAGNOSTIC = (
    b'{"ServerInfo":{"DataCenter":"Loopback","Slice":"E","Ring":"5","ScaleUnit":"000",'
    b'"RoleInstance":"SIM","ADSiteName":"LOC"}}'
)
_THROTTLED = "Too many requests are being sent. Please retry after the time given in Retry-After."


def _is_graph(path: str) -> bool:
    return path.startswith(_GRAPH_PREFIXES)


def _caller(sim: SimulatorState, authorization: str) -> str | None:
    """The client id behind a bearer token Graph would accept, or ``None``.

    Graph authenticates before it throttles: a request it answers 401 belongs to no app, so it
    counts against no quota.

    :param sim: the simulator's state.
    :param authorization: the ``Authorization`` header.
    """
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    issued = sim.identity.tokens.get(token.strip())
    if issued is None or issued.expires_at <= time.time():
        return None
    return issued.client_id


class Envelope:
    """What every answer shares, outside the handlers: ``request-id``/``client-request-id``
    headers, request counters, and the faults (slow, 429, quota, 503, truncation) on Graph paths.

    :param app: the wrapped application.
    :param state: the simulator's state.
    :param routes: the application's routes, to count requests by route template.
    """

    def __init__(self, app: ASGIApp, *, state: SimulatorState, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.state = state
        self.routes = routes

    def _template(self, scope: Scope) -> str:
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return route.path
        return scope["path"]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        sim = self.state
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = str(uuid.uuid4())
        client_request_id = headers.get("client-request-id") or request_id
        scope.setdefault("state", {}).update(request_id=request_id, client_request_id=client_request_id)
        graph = _is_graph(scope["path"])
        template = self._template(scope)
        status = 500
        cut: int | None = None
        sent = 0

        async def wrapped_send(message: Message) -> None:
            nonlocal status, cut, sent
            if message["type"] == "http.response.start":
                status = message["status"]
                extra = [
                    (b"request-id", request_id.encode()),
                    (b"client-request-id", client_request_id.encode()[:200]),
                    (b"strict-transport-security", b"max-age=31536000"),
                ]
                if graph:
                    extra.append((b"x-ms-ags-diagnostic", _DIAGNOSTIC))
                response_headers = list(message.get("headers", []))
                if graph and status == 200 and sim.faults.fires("truncate"):
                    length = next((int(v) for k, v in response_headers if k.lower() == b"content-length"), 0)
                    cut = sim.faults.cut(length)
                    response_headers = [(k, v) for k, v in response_headers if k.lower() != b"content-length"]
                    response_headers.append((b"content-length", str(cut).encode()))
                message = {**message, "headers": response_headers + extra}
            elif message["type"] == "http.response.body" and cut is not None:
                body = message.get("body", b"")
                keep = max(0, min(len(body), cut - sent))
                sent += keep
                message = {**message, "body": body[:keep]}
            await send(message)

        try:
            if graph:
                failure = await self._fault(sim, headers.get("authorization", ""))
                if failure is not None:
                    response = error_response(
                        failure, request_id=request_id, client_request_id=client_request_id
                    )
                    await response(scope, receive, wrapped_send)
                    return
            await self.app(scope, receive, wrapped_send)
        finally:
            sim.count(method=scope["method"], route=template, status=status)

    @staticmethod
    async def _fault(sim: SimulatorState, authorization: str) -> GraphError | None:
        spec = sim.faults.spec
        if spec.slow:
            await asyncio.sleep(spec.slow)
        retry_after = {"Retry-After": f"{spec.retry_after:g}"}
        if sim.faults.fires("throttle"):
            return GraphError(429, "TooManyRequests", _THROTTLED, headers=retry_after)
        # After the 429 dice, so that their refusals cost no quota; before the 503 dice, because a
        # request the service failed had still reached it.
        app = _caller(sim, authorization)
        wait = None if app is None else sim.faults.admit(app)
        if wait is not None:
            return GraphError(
                429, "TooManyRequests", _THROTTLED, headers={"Retry-After": retry_after_header(wait)}
            )
        if sim.faults.fires("unavailable"):
            return GraphError(
                503,
                "ServiceUnavailable",
                "The service is temporarily unavailable. Please retry after the time given in Retry-After.",
                headers=retry_after,
            )
        return None


async def _not_found(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if _is_graph(request.url.path):
        request_id, client_request_id = request_ids(request.scope.get("state", {}))
        if exc.status_code == 404:
            segment = request.url.path.rstrip("/").rsplit("/", 1)[-1]
            error = GraphError(400, "BadRequest", f"Resource not found for the segment '{segment}'.")
        else:
            error = GraphError(exc.status_code, "BadRequest", str(exc.detail))
        return error_response(error, request_id=request_id, client_request_id=client_request_id)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


def create_app(state: SimulatorState) -> FastAPI:
    """The simulator application for ``state``.

    :param state: what the simulator serves.
    """
    from xops_provider.simulator import admin_api, admin_telemetry, cato, identity
    from xops_provider.simulator.graph import alerts_v2, hunting, incidents

    app = FastAPI(
        title="xops Defender simulator",
        summary=(
            "Entra ID, Microsoft Graph security incidents, alerts_v2 and advanced hunting, and Cato's "
            "events feed, simulated over loopback HTTPS."
        ),
        description=(
            "Stands in for Microsoft's cloud in tests, benchmarks and demos. The `/_admin/` API controls "
            "the simulated tenant; it is unauthenticated and meant for loopback only. See docs/simulator.md."
        ),
        version="1",
        docs_url=f"{ADMIN_PREFIX}/docs",
        redoc_url=None,
        openapi_url=f"{ADMIN_PREFIX}/openapi.json",
    )
    app.state.sim = state
    app.include_router(identity.router)
    app.include_router(incidents.router)
    app.include_router(alerts_v2.router)
    app.include_router(hunting.router)
    app.include_router(cato.router)
    app.include_router(admin_api.router)
    app.include_router(admin_telemetry.router)
    app.add_exception_handler(GraphError, graph_error_handler)
    app.add_exception_handler(StarletteHTTPException, _not_found)
    app.add_middleware(Envelope, state=state, routes=app.router.routes)
    return app
