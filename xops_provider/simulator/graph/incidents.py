"""``/v1.0/security/incidents``: list with OData options, get, alerts, update and comment."""

from __future__ import annotations

import json
from itertools import islice
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from xops_provider.simulator.constants import READ_ROLE, WRITE_ROLE
from xops_provider.simulator.graph.auth import authorize_roles
from xops_provider.simulator.graph.errors import GraphError
from xops_provider.simulator.graph.odata import ODataError, parse_expand, parse_query
from xops_provider.simulator.graph.responses import context as _context
from xops_provider.simulator.graph.responses import graph_json as _json
from xops_provider.simulator.graph.responses import next_link
from xops_provider.simulator.graph.responses import odata_error as _odata_error
from xops_provider.simulator.graph.schema import (
    CLASSIFICATION,
    DETERMINATION,
    EVOLVABLE_STATUS,
    INCIDENT_STATUS,
    PATCHABLE,
)
from xops_provider.simulator.identity import IssuedToken
from xops_provider.simulator.state import SimulatorState
from xops_provider.simulator.store import IncidentNotFound, StoredIncident, dumps

router = APIRouter(prefix="/v1.0/security", tags=["graph"])


def _sim(request: Request) -> SimulatorState:
    return request.app.state.sim


def authorize(request: Request, *, write: bool = False) -> IssuedToken:
    """The caller's token, or the 401/403 Graph would answer.

    :param request: the request.
    :param write: whether ``SecurityIncident.ReadWrite.All`` is needed.
    """
    return authorize_roles(request, roles=(WRITE_ROLE,) if write else (READ_ROLE, WRITE_ROLE))


@router.get("/incidents", summary="List incidents")
async def list_incidents(request: Request) -> Response:
    """Graph's incident list: ``$filter``, ``$orderby``, ``$top`` (≤ 50), ``$skip``, ``$count``,
    ``$expand=alerts``, ``$select``; ``@odata.nextLink`` while more remain."""
    authorize(request)
    sim = _sim(request)
    try:
        query = parse_query(request.query_params, skip_ceiling=sim.faults.spec.skip_ceiling)
    except ODataError as err:
        raise _odata_error(err) from None
    matches = sim.store.scan(
        lower=query.filter.lower,
        upper=query.filter.upper,
        descending=query.descending,
        predicate=query.filter.predicate,
        skip=query.skip,
    )
    page = list(islice(matches, query.top + 1))
    # $top=0 asks for nothing; a next link there would send a client round in circles.
    more = query.top > 0 and len(page) > query.top
    page = page[: query.top]
    limit = sim.faults.spec.expand500
    if query.expand and limit is not None and any(len(i.alert_ids) > limit for i in page):
        raise GraphError(500, "UnknownError", "")
    total = None
    if query.count:
        total = sum(
            1
            for _ in sim.store.scan(
                lower=query.filter.lower, upper=query.filter.upper, predicate=query.filter.predicate
            )
        )
    parts = [_context(request, "security/incidents" + ("(alerts())" if query.expand else ""))]
    if total is not None:
        parts.append(b'"@odata.count":' + str(total).encode())
    if more:
        parts.append(
            next_link(request, "/v1.0/security/incidents", query.options, skip=query.skip, top=query.top)
        )
    unknown_enums = _unknown_enums(request)
    items = [
        _render(sim, incident, expand=query.expand, select=query.select, unknown_enums=unknown_enums)
        for incident in page
    ]
    parts.append(b'"value":[' + b",".join(items) + b"]")
    return _json(b"{" + b",".join(parts) + b"}")


def _render(
    sim: SimulatorState,
    incident: StoredIncident,
    *,
    expand: bool,
    select: tuple[str, ...] | None,
    unknown_enums: bool,
    extra: bytes = b"",
) -> bytes:
    # Graph hides enum members added after v1.0 behind ``Prefer: include-unknown-enum-members``.
    hidden = not unknown_enums and incident.body.get("status") in EVOLVABLE_STATUS
    if select is None and not hidden:
        return sim.store.incident_json(incident, expand=expand, extra=extra)
    data = sim.store.incident_dict(incident, expand=expand)
    if hidden:
        data["status"] = "unknownFutureValue"
    if select is not None:
        keep = {"id", *select} | ({"alerts"} if expand else set())
        data = {k: v for k, v in data.items() if k in keep}
    text = dumps(data).encode()
    return b"{" + extra + b"," + text[1:] if extra else text


def _unknown_enums(request: Request) -> bool:
    return "include-unknown-enum-members" in request.headers.get("prefer", "").lower()


def _incident(sim: SimulatorState, incident_id: str) -> StoredIncident:
    try:
        return sim.store.get(incident_id)
    except IncidentNotFound:
        raise GraphError(404, "NotFound", f"Incident with id '{incident_id}' was not found.") from None


@router.get("/incidents/{incident_id}", summary="Get an incident")
async def get_incident(incident_id: str, request: Request) -> Response:
    authorize(request)
    sim = _sim(request)
    try:
        expand = parse_expand(request.query_params.get("$expand"))
    except ODataError as err:
        raise _odata_error(err) from None
    incident = _incident(sim, incident_id)
    context = _context(request, "security/incidents" + ("(alerts())" if expand else "") + "/$entity")
    return _json(
        _render(
            sim, incident, expand=expand, select=None, unknown_enums=_unknown_enums(request), extra=context
        )
    )


@router.get("/incidents/{incident_id}/alerts", summary="List an incident's alerts")
async def list_incident_alerts(incident_id: str, request: Request) -> Response:
    authorize(request)
    sim = _sim(request)
    incident = _incident(sim, incident_id)
    context = _context(request, f"security/incidents('{incident_id}')/alerts")
    return _json(b"{" + context + b',"value":[' + b",".join(sim.store.alert_json(incident)) + b"]}")


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        raise GraphError(400, "BadRequest", "Unable to read JSON request payload.") from None
    if not isinstance(body, dict):
        raise GraphError(400, "BadRequest", "The request body must be a JSON object.")
    return body


def _member(name: str, value: Any, members: tuple[str, ...]) -> str:
    # unknownFutureValue is a sentinel for readers, never a value to write.
    lookup = {m.lower(): m for m in members if m != "unknownFutureValue"}
    if not isinstance(value, str) or value.lower() not in lookup:
        raise GraphError(
            400, "BadRequest", f"Cannot convert the literal '{value}' to the expected type of '{name}'."
        )
    return lookup[value.lower()]


def validate_patch(body: dict[str, Any]) -> dict[str, Any]:
    """The changes of a Graph incident PATCH, validated and normalised.

    :param body: the request body.
    """
    changes: dict[str, Any] = {}
    for name, value in body.items():
        if name == "@odata.type":
            continue
        if name not in PATCHABLE:
            raise GraphError(
                400,
                "BadRequest",
                f"The property '{name}' does not exist or cannot be updated on type "
                "'microsoft.graph.security.incident'.",
            )
        if name == "status":
            # Redirection is Defender's own doing, never a client's.
            changes[name] = _member(name, value, tuple(m for m in INCIDENT_STATUS if m != "redirected"))
        elif name == "classification":
            changes[name] = _member(name, value, CLASSIFICATION)
        elif name == "determination":
            changes[name] = _member(name, value, DETERMINATION)
        elif name == "customTags":
            if not isinstance(value, list) or not all(isinstance(tag, str) for tag in value):
                raise GraphError(400, "BadRequest", "customTags must be a collection of strings.")
            changes[name] = value
        else:
            if value is not None and not isinstance(value, str):
                raise GraphError(400, "BadRequest", f"{name} must be a string.")
            changes[name] = value
    return changes


@router.patch("/incidents/{incident_id}", summary="Update an incident")
async def update_incident(incident_id: str, request: Request) -> Response:
    """Change ``status``, ``assignedTo``, ``classification``, ``determination``, ``customTags`` or
    ``resolvingComment``; needs ``SecurityIncident.ReadWrite.All``."""
    issued = authorize(request, write=True)
    sim = _sim(request)
    _incident(sim, incident_id)
    changes = validate_patch(await _body(request))
    changes["lastModifiedBy"] = f"API-App:{issued.client_id}"
    incident = sim.store.update(incident_id, changes)
    context = _context(request, "security/incidents/$entity")
    return _json(
        _render(
            sim, incident, expand=False, select=None, unknown_enums=_unknown_enums(request), extra=context
        )
    )


@router.post("/incidents/{incident_id}/comments", summary="Comment on an incident")
async def comment_incident(incident_id: str, request: Request) -> Response:
    """Append an ``alertComment``; answers the incident's comments, as Graph does."""
    issued = authorize(request, write=True)
    sim = _sim(request)
    incident = _incident(sim, incident_id)
    body = await _body(request)
    comment = body.get("comment")
    if not isinstance(comment, str) or not comment.strip():
        raise GraphError(400, "BadRequest", "The comment is required.")
    now = sim.clock.now()
    comments = [
        *(incident.body.get("comments") or []),
        {
            "comment": comment,
            "createdByDisplayName": f"API-App:{issued.client_id}",
            "createdDateTime": now.isoformat(),
        },
    ]
    sim.store.update(incident_id, {"comments": comments}, at=now)
    context = _context(request, "Collection(microsoft.graph.security.alertComment)")
    values = [{"@odata.type": "#microsoft.graph.security.alertComment", **c} for c in comments]
    return _json(b"{" + context + b',"value":' + dumps(values).encode() + b"}")
