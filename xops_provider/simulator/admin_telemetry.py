"""``/_admin/``, continued: what correlation reads. Hunting rows, Cato events and alerts can be
added live (as incidents are) and read back as stored, with the hunting call log and the loaded
scenario's correlation truth.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from xops_provider.models.timestamps import GraphTime, InvalidTimestamp
from xops_provider.simulator.constants import TENANT_ID
from xops_provider.simulator.graph.alerts_v2 import alert_dicts
from xops_provider.simulator.scenarios.company_xyz import COMPANY_XYZ_CORRELATION_TRUTH, moment
from xops_provider.simulator.scenarios.generated import make_incident
from xops_provider.simulator.state import SimulatorState
from xops_provider.simulator.telemetry.generator import NetworkGenerator
from xops_provider.simulator.telemetry.tables import TABLES, RowError, coerce_row, render

router = APIRouter(prefix="/_admin", tags=["admin: correlation"])


def _sim(request: Request) -> SimulatorState:
    return request.app.state.sim


def _table(name: str) -> str:
    if name not in TABLES:
        raise HTTPException(status_code=404, detail=f"no hunting table {name!r}; known: {', '.join(TABLES)}")
    return name


def _ticks(text: str | None, *, default: GraphTime) -> int:
    if text is None:
        return default.ticks
    try:
        return GraphTime.parse(text).ticks
    except InvalidTimestamp as err:
        raise HTTPException(status_code=400, detail=str(err)) from None


class RowsRequest(BaseModel):
    rows: list[dict[str, Any]] = Field(
        description="Rows as column -> value (datetimes as ISO 8601 text); missing columns are blank, a "
        "missing `Timestamp` is now."
    )


class CatoEventsRequest(BaseModel):
    records: list[dict[str, Any]] = Field(
        description='`{"time": ISO 8601 (now when omitted), "fieldsMap": {key: string}}`, in arrival order.'
    )


class GenerateRequest(BaseModel):
    count: int = Field(ge=1, le=50_000_000, description="How many events.")
    start: str | None = Field(default=None, description="The first event's time; `end - hours` when omitted.")
    end: str | None = Field(default=None, description="The time after the last event; now when omitted.")
    hours: float = Field(default=72.0, gt=0, description="The span when `start` is omitted.")
    seed: int = 0
    users: int = Field(default=500, ge=1)
    domains: int = Field(default=2000, ge=1)
    user_domain: str = "contoso-sim.com"
    plant_domain: str | None = Field(
        default=None, description="A domain every `plant_every`-th event visits."
    )
    plant_every: int = Field(default=0, ge=0)
    plant_user: str | None = None
    cato: bool = Field(default=True, description="Append them to the Cato feed.")
    device: bool = Field(default=True, description="Add them to `DeviceNetworkEvents`.")


class AlertBody(BaseModel):
    """Any alert properties; `incidentId` names an existing incident, or a new one holds the alert."""

    model_config = ConfigDict(extra="allow")


@router.get("/hunting", summary="Rows per hunting table, and the Cato feed's length")
async def hunting_tables(request: Request) -> dict[str, Any]:
    return {"tables": _sim(request).telemetry.counts()}


@router.get("/hunting/queries", summary="The runHuntingQuery calls answered, oldest first")
async def hunting_queries(request: Request) -> dict[str, Any]:
    entries = list(_sim(request).telemetry.queries)
    return {"count": len(entries), "value": entries}


@router.delete("/hunting/queries", summary="Forget the hunting call log")
async def clear_hunting_queries(request: Request) -> dict[str, int]:
    _sim(request).telemetry.queries.clear()
    return {"count": 0}


@router.get(
    "/hunting/{table}", summary="A hunting table's rows, oldest first, as runHuntingQuery writes them"
)
async def hunting_rows(
    table: str, request: Request, limit: int = Query(default=10_000, ge=0, le=1_000_000)
) -> dict[str, Any]:
    stored = _sim(request).telemetry.tables[_table(table)]
    rows = []
    for row in stored.scan():
        if len(rows) >= limit:
            break
        rows.append(render(row, stored.columns))
    return {"table": table, "count": len(stored), "value": rows}


@router.post("/hunting/{table}", summary="Add rows to a hunting table")
async def add_hunting_rows(table: str, body: RowsRequest, request: Request) -> dict[str, Any]:
    sim = _sim(request)
    stored = sim.telemetry.tables[_table(table)]
    now = sim.clock.now().ticks
    try:
        rows = [coerce_row(table, row, default_time=now) for row in body.rows]
    except RowError as err:
        raise HTTPException(status_code=400, detail=str(err)) from None
    return {"table": table, "added": stored.add(rows), "count": len(stored)}


@router.get("/cato/events", summary="The Cato feed's records, in feed order")
async def cato_events(
    request: Request,
    offset: int = Query(default=0, ge=0),
    limit: int = Query(default=10_000, ge=0, le=1_000_000),
) -> dict[str, Any]:
    feed = _sim(request).telemetry.cato
    return {"count": len(feed), "offset": offset, "value": feed.slice(offset, offset + limit)}


@router.post("/cato/events", summary="Append records to the Cato feed")
async def add_cato_events(body: CatoEventsRequest, request: Request) -> dict[str, Any]:
    sim = _sim(request)
    now = sim.clock.now()
    records = []
    for record in body.records:
        fields = record.get("fieldsMap")
        if not isinstance(fields, dict) or not all(isinstance(v, str) for v in fields.values()):
            raise HTTPException(status_code=400, detail="each record needs a fieldsMap of strings")
        when = GraphTime(_ticks(record.get("time"), default=now)).isoformat()
        records.append({"time": when[:19] + "Z", "fieldsMap": dict(fields)})
    before = len(sim.telemetry.cato)
    return {"added": len(records), "count": sim.telemetry.cato.append(records), "first_position": before}


@router.post(
    "/network/generate", summary="Add N generated network events (Cato feed and DeviceNetworkEvents)"
)
async def generate_network_events(body: GenerateRequest, request: Request) -> dict[str, Any]:
    sim = _sim(request)
    end = _ticks(body.end, default=sim.clock.now())
    start = _ticks(body.start, default=GraphTime(end).shift(seconds=-body.hours * 3600))
    try:
        generator = NetworkGenerator(
            count=body.count,
            start=start,
            end=end,
            seed=body.seed,
            users=body.users,
            domains=body.domains,
            user_domain=body.user_domain,
            plant_domain=body.plant_domain,
            plant_every=body.plant_every,
            plant_user=body.plant_user,
        )
    except ValueError as err:
        raise HTTPException(status_code=400, detail=str(err)) from None
    first_position = len(sim.telemetry.cato)
    if body.cato:
        sim.telemetry.cato.extend(generator)
    if body.device:
        sim.telemetry.tables["DeviceNetworkEvents"].segments.append(generator)
    return {
        "count": body.count,
        "first": GraphTime(generator.ticks(0)).isoformat(),
        "last": GraphTime(generator.ticks(body.count - 1)).isoformat(),
        "planted": generator.planted,
        "first_position": first_position if body.cato else None,
        "tables": sim.telemetry.counts(),
    }


@router.get("/alerts", summary="Every alert as alerts_v2 serves it, oldest createdDateTime first")
async def all_alerts(request: Request) -> dict[str, Any]:
    alerts = alert_dicts(_sim(request))
    return {"count": len(alerts), "value": alerts}


@router.post("/alerts", summary="Add an alert (realistic MDO defaults, any field overridable)")
async def create_alert(body: AlertBody, request: Request) -> dict[str, Any]:
    sim = _sim(request)
    fields = body.model_dump()
    incident_id = str(fields.pop("incidentId", None) or "")
    if incident_id and incident_id not in sim.store.incidents:
        raise HTTPException(status_code=404, detail=f"no incident {incident_id}")
    if str(fields.get("id") or "") in sim.store.alerts:
        raise HTTPException(status_code=409, detail=f"alert {fields['id']} already exists")
    target = incident_id or sim.store.new_id()
    incident, generated = make_incident(
        tenant_id=TENANT_ID,
        incident_id=target,
        now=sim.clock.now(),
        seed=f"{sim.seed}:{len(sim.store.alerts)}",
    )
    alert = {**generated[0], **fields, "incidentId": target}
    if incident_id:
        sim.store.add_alert(incident_id, alert)
    else:
        # Defender files every alert in an incident: a new one, named after the alert.
        incident.update(displayName=alert.get("title"), severity=alert.get("severity"))
        sim.store.put(incident, [alert])
    return sim.store.alerts[str(alert["id"])].as_dict()


@router.get("/correlation/truth", summary="What correlation must find in the loaded scenario, with times")
async def correlation_truth(request: Request) -> dict[str, Any]:
    """Company XYZ's :data:`COMPANY_XYZ_CORRELATION_TRUTH` with each of its hours as a Graph time;
    ``{}`` for a scenario without one."""
    sim = _sim(request)
    if sim.scenario.name != "company-xyz":
        return {}
    now = GraphTime.parse(sim.scenario.reference_time)
    times = {name: moment(now, hours) for name, hours in COMPANY_XYZ_CORRELATION_TRUTH["hours"].items()}
    return {**COMPANY_XYZ_CORRELATION_TRUTH, "times": times}
