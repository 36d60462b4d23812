"""Cato's GraphQL API, ``POST /api/v1/graphql2``: the ``eventsFeed`` query, behind ``x-api-key``.

Like Cato, it answers 200 with GraphQL ``errors`` for a wrong key, an account the key does not
reach, a bad marker or a rate limit; only an unreadable body answers 400. Records come in arrival
order, up to ``cato_page`` (3000) a page, and the returned marker resumes after the last one.

Filters (``variables.filters``, Cato's ``EventFeedFieldFilterInput``): ``{"fieldName", "operator",
"values"}`` with ``operator`` one of ``is``, ``is_not``, ``in``, ``not_in``, ``exists``,
``not_exists``, compared with the record's ``fieldsMap``.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from xops_provider.simulator.constants import CATO_ACCOUNT_ID
from xops_provider.simulator.state import SimulatorState
from xops_provider.simulator.telemetry.feed import MarkerError, decode_marker, encode_marker

router = APIRouter(tags=["cato"])

PATH = "/api/v1/graphql2"
RATE_LIMITED = "rate limit for operation: eventsFeed reached"
_EVENTS_FEED = re.compile(r"\beventsFeed\b")
Record = dict[str, Any]


class _Refusal(Exception):
    def __init__(self, message: str, *, status: int = 200) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _errors(message: str, *, status: int = 200) -> Response:
    return JSONResponse({"errors": [{"message": message}], "data": None}, status_code=status)


def _filter(filters: Any) -> Callable[[Record], bool] | None:
    if filters in (None, []):
        return None
    if not isinstance(filters, list):
        raise _Refusal("filters must be a list of EventFeedFieldFilterInput")
    tests: list[Callable[[dict[str, Any]], bool]] = []
    for item in filters:
        if not isinstance(item, dict) or not isinstance(item.get("fieldName"), str):
            raise _Refusal("each filter needs fieldName, operator and values")
        name, operator = item["fieldName"], item.get("operator")
        values = item.get("values") or []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise _Refusal(f"filter on {name}: values must be a list of strings")
        wanted = frozenset(values)
        if operator in ("is", "in"):
            tests.append(lambda fields, n=name, w=wanted: fields.get(n) in w)
        elif operator in ("is_not", "not_in"):
            tests.append(lambda fields, n=name, w=wanted: fields.get(n) not in w)
        elif operator == "exists":
            tests.append(lambda fields, n=name: fields.get(n) not in (None, ""))
        elif operator == "not_exists":
            tests.append(lambda fields, n=name: fields.get(n) in (None, ""))
        else:
            raise _Refusal(f"filter on {name}: operator {operator!r} is not supported")
    return lambda record: all(test(record["fieldsMap"]) for test in tests)


def _events_feed(sim: SimulatorState, variables: dict[str, Any]) -> dict[str, Any]:
    accounts = variables.get("accountIDs") or variables.get("accountIds")
    if isinstance(accounts, str):
        accounts = [accounts]
    if not isinstance(accounts, list) or not accounts or any(str(a) != CATO_ACCOUNT_ID for a in accounts):
        raise _Refusal("permission denied")
    if sim.faults.admit_cato(CATO_ACCOUNT_ID) is not None or sim.faults.fires("cato_error"):
        raise _Refusal(RATE_LIMITED)
    marker = variables.get("marker")
    if marker is not None and not isinstance(marker, str):
        raise _Refusal("marker must be a string")
    try:
        position = decode_marker(marker)
    except MarkerError as err:
        raise _Refusal(str(err)) from None
    accept = _filter(variables.get("filters"))
    records, after = sim.telemetry.cato.read(position, limit=sim.faults.spec.cato_page, accept=accept)
    return {
        "eventsFeed": {
            "marker": encode_marker(after),
            "fetchedCount": len(records),
            "accounts": [{"id": CATO_ACCOUNT_ID, "records": records}],
        }
    }


@router.post(PATH, summary="Cato GraphQL: eventsFeed")
async def graphql(request: Request) -> Response:
    """``{"query": "… eventsFeed …", "variables": {"accountIDs", "marker", "filters"}}``."""
    sim: SimulatorState = request.app.state.sim
    key = request.headers.get("x-api-key", "")
    if not key or not hmac.compare_digest(key.encode(), sim.cato_key.encode()):
        return _errors("permission denied")
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        return _errors("the request body is not JSON", status=400)
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return _errors("the request body needs a GraphQL query", status=400)
    if not _EVENTS_FEED.search(body["query"]):
        return _errors("this service answers the eventsFeed query only")
    variables = body.get("variables") or {}
    if not isinstance(variables, dict):
        return _errors("variables must be an object")
    try:
        data = _events_feed(sim, variables)
    except _Refusal as err:
        return _errors(err.message, status=err.status)
    return Response(content=json.dumps({"data": data}, separators=(",", ":")), media_type="application/json")
