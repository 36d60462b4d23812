"""``POST /v1.0/security/runHuntingQuery``: the KQL subset of :mod:`~.kql` over the simulated tables,
behind ``ThreatHunting.Read.All`` and hunting's own quota (45 calls a minute per app and tenant by
default, a sliding window like Graph's ``quota=``).

Order of checks, as the service meets them: authentication and permission (401/403, charged to no
quota), the ``hunting_429`` dice (free), the quota (a refusal is free), the ``hunting_400`` dice,
then the body and the query (a refused query has used its call). Every call, answered or refused,
is appended to the hunting log (``GET /_admin/hunting/queries``) and counted in the request
counters under ``/v1.0/security/runHuntingQuery``.
"""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from xops_provider.simulator.constants import HUNTING_ROLE
from xops_provider.simulator.faults import HUNTING_QUOTA, retry_after_header
from xops_provider.simulator.graph import kql
from xops_provider.simulator.graph.auth import authorize_roles
from xops_provider.simulator.graph.errors import GraphError
from xops_provider.simulator.graph.responses import graph_json
from xops_provider.simulator.identity import base_url
from xops_provider.simulator.state import SimulatorState
from xops_provider.simulator.store import dumps
from xops_provider.simulator.telemetry.tables import SCHEMA_TYPES, TABLES, render

router = APIRouter(prefix="/v1.0/security", tags=["graph"])

PATH = "/v1.0/security/runHuntingQuery"
#: The longest query text the hunting log keeps per call.
LOGGED_QUERY_LENGTH = 10_000
_BODY_KEYS = frozenset({"Query", "Timespan"})
_UNREADABLE = object()


def _throttled(message: str, retry_after: str) -> GraphError:
    return GraphError(429, "TooManyRequests", message, headers={"Retry-After": retry_after})


def _body(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return _UNREADABLE


def _query_text(body: Any) -> str:
    if body is _UNREADABLE:
        raise GraphError(400, "BadRequest", "Unable to read JSON request payload.")
    if not isinstance(body, dict):
        raise GraphError(400, "BadRequest", "The request body must be a JSON object.")
    for name in body:
        if name not in _BODY_KEYS:
            raise GraphError(
                400,
                "BadRequest",
                f"The property '{name}' does not exist on type 'microsoft.graph.security.huntingQuery'.",
            )
    query = body.get("Query")
    if not isinstance(query, str) or not query.strip():
        raise GraphError(400, "BadRequest", "The Query property is required and must be a non-empty string.")
    return query


def _admit(sim: SimulatorState, key: str) -> None:
    spec = sim.faults.spec
    if sim.faults.fires("hunting_throttle"):
        raise _throttled(
            "Too many requests are being sent. Please retry after the time given in Retry-After.",
            f"{spec.retry_after:g}",
        )
    wait = sim.faults.admit_hunting(key)
    if wait is not None:
        quota = spec.hunting_quota or HUNTING_QUOTA
        raise _throttled(
            f"Advanced hunting API quota exceeded: at most {quota.limit} calls per {quota.unit} for "
            "this tenant. Please retry after the time given in Retry-After.",
            retry_after_header(wait),
        )
    if sim.faults.fires("hunting_bad_request"):
        raise GraphError(400, "BadRequest", "Query execution failed: an injected error (hunting_400).")


def _answer(request: Request, query: kql.HuntingQuery, rows: list[dict[str, Any]]) -> bytes:
    columns = query.columns
    schema = [{"name": name, "type": SCHEMA_TYPES[kind]} for name, kind in columns.items()]
    context = f"{base_url(request)}/v1.0/$metadata#microsoft.graph.security.huntingQueryResults"
    results = ",".join(dumps(render(row, columns)) for row in rows)
    return (
        b'{"@odata.context":'
        + dumps(context).encode()
        + b',"schema":'
        + dumps(schema).encode()
        + b',"results":['
        + results.encode()
        + b"]}"
    )


@router.post("/runHuntingQuery", summary="Run an advanced hunting query")
async def run_hunting_query(request: Request) -> Response:
    """``{"Query": "<KQL>"}`` (``Timespan`` accepted and ignored) answers ``schema`` and
    ``results``; anything outside the subset answers 400."""
    sim: SimulatorState = request.app.state.sim
    entry: dict[str, Any] = {"time": time.time(), "client_id": None, "query": None, "status": 500, "rows": 0}
    sim.telemetry.queries.append(entry)
    try:
        body = _body(await request.body())
        if isinstance(body, dict) and isinstance(body.get("Query"), str):
            entry["query"] = body["Query"][:LOGGED_QUERY_LENGTH]
        issued = authorize_roles(request, roles=(HUNTING_ROLE,))
        entry["client_id"] = issued.client_id
        _admit(sim, f"{sim.identity.tenant_id}/{issued.client_id}")
        text = _query_text(body)
        try:
            query = kql.parse(text, TABLES)
        except kql.KqlError as err:
            raise GraphError(400, "BadRequest", str(err)) from None
        rows = kql.run(query, sim.telemetry.tables[query.table].scan)
        entry.update(status=200, rows=len(rows))
        return graph_json(_answer(request, query, rows))
    except GraphError as err:
        entry["status"] = err.status
        raise
