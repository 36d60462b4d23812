"""``/v1.0/security/alerts_v2``: every alert of the tenant (those inside its incidents), with
``$filter`` over ``serviceSource``, ``createdDateTime``, ``lastUpdateDateTime``, ``severity`` and
``status``, ``$orderby``, ``$top`` (≤ 2000), ``$skip``, ``$count`` and ``@odata.nextLink``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from xops_provider.simulator.constants import ALERT_ROLES, ALERTS_MAX_TOP
from xops_provider.simulator.graph.auth import authorize_roles
from xops_provider.simulator.graph.errors import GraphError
from xops_provider.simulator.graph.filters import (
    COMPARISONS,
    Clause,
    FilterSchema,
    ODataError,
    enum_rank,
    parse_filter,
)
from xops_provider.simulator.graph.odata import dollar_options, parse_count, parse_orderby, parse_paging
from xops_provider.simulator.graph.responses import context, graph_json, next_link, odata_error
from xops_provider.simulator.graph.schema import ALERT_STATUS, SERVICE_SOURCE, SEVERITY
from xops_provider.simulator.state import SimulatorState
from xops_provider.simulator.store import StoredAlert

router = APIRouter(prefix="/v1.0/security", tags=["graph"])

PATH = "/v1.0/security/alerts_v2"
ALERT_FILTER = FilterSchema(
    datetime_fields=("createdDateTime", "lastUpdateDateTime"),
    enum_fields={"serviceSource": SERVICE_SOURCE, "severity": SEVERITY, "status": ALERT_STATUS},
    any_of_fields=("serviceSource",),
)
QUERY_OPTIONS = frozenset({"$filter", "$top", "$skip", "$orderby", "$count"})
ORDERABLE = ("createdDateTime", "lastUpdateDateTime")


def _check(clause: Clause) -> Callable[[StoredAlert], bool]:
    if clause.field in ALERT_FILTER.datetime_fields:
        attribute = "created" if clause.field == "createdDateTime" else "updated"
        compare, ticks = COMPARISONS[clause.op], clause.value.ticks

        def check_time(alert: StoredAlert) -> bool:
            value = getattr(alert, attribute)
            return value is not None and compare(value, ticks)

        return check_time
    members = ALERT_FILTER.enum_fields[clause.field]
    if clause.op == "in":
        ranks = {enum_rank(members, value) for value in clause.value}
        return lambda alert: enum_rank(members, alert.fields.get(clause.field)) in ranks
    compare, rank = COMPARISONS[clause.op], enum_rank(members, clause.value)
    return lambda alert: compare(enum_rank(members, alert.fields.get(clause.field)), rank)


def select_alerts(
    sim: SimulatorState, clauses: list[Clause], *, order_by: str = "createdDateTime", descending: bool = True
) -> list[StoredAlert]:
    """The tenant's alerts that pass every clause, in order (ties broken by id).

    :param sim: the simulator's state.
    :param clauses: from :func:`parse_filter` with :data:`ALERT_FILTER`.
    :param order_by: ``createdDateTime`` or ``lastUpdateDateTime``.
    :param descending: newest first.
    """
    checks = [_check(clause) for clause in clauses]
    attribute = "created" if order_by == "createdDateTime" else "updated"
    matches = [alert for alert in sim.store.alerts.values() if all(check(alert) for check in checks)]
    matches.sort(key=lambda alert: (getattr(alert, attribute) or 0, alert.id), reverse=descending)
    return matches


@router.get("/alerts_v2", summary="List alerts")
async def list_alerts(request: Request) -> Response:
    """Graph's alert list. Without ``$orderby`` the order is ``createdDateTime desc``."""
    authorize_roles(request, roles=ALERT_ROLES)
    sim: SimulatorState = request.app.state.sim
    try:
        options = dollar_options(request.query_params, QUERY_OPTIONS)
        clauses = parse_filter(options["$filter"], ALERT_FILTER) if "$filter" in options else []
        top, skip = parse_paging(options, max_top=ALERTS_MAX_TOP, skip_ceiling=sim.faults.spec.skip_ceiling)
        order_by, descending = "createdDateTime", True
        if "$orderby" in options:
            order_by, descending = parse_orderby(options["$orderby"], ORDERABLE)
        count = parse_count(options.get("$count"))
    except ODataError as err:
        raise odata_error(err) from None
    matches = select_alerts(sim, clauses, order_by=order_by, descending=descending)
    page = matches[skip : skip + top]
    parts = [context(request, "security/alerts_v2")]
    if count:
        parts.append(b'"@odata.count":' + str(len(matches)).encode())
    if top > 0 and skip + top < len(matches):
        parts.append(next_link(request, PATH, options, skip=skip, top=top))
    parts.append(b'"value":[' + b",".join(alert.json() for alert in page) + b"]")
    return graph_json(b"{" + b",".join(parts) + b"}")


@router.get("/alerts_v2/{alert_id}", summary="Get an alert")
async def get_alert(alert_id: str, request: Request) -> Response:
    authorize_roles(request, roles=ALERT_ROLES)
    sim: SimulatorState = request.app.state.sim
    alert = sim.store.alerts.get(alert_id)
    if alert is None:
        raise GraphError(404, "NotFound", f"Alert with id '{alert_id}' was not found.")
    body = alert.json()
    head = context(request, "security/alerts_v2/$entity")
    return graph_json(b"{" + head + (b"," + body[1:] if len(body) > 2 else b"}"))


def alert_dicts(sim: SimulatorState) -> list[dict[str, Any]]:
    """Every alert as a dict, oldest ``createdDateTime`` first (the admin API's view).

    :param sim: the simulator's state.
    """
    return [alert.as_dict() for alert in select_alerts(sim, [], descending=False)]
