"""``/_admin/``: control of the simulated tenant for tests, benchmarks and the demo.

No authentication: the simulator listens on loopback and holds only made-up data. Faults never
apply here and these requests are not counted.
"""

from __future__ import annotations

from typing import Any, Literal

from cryptography import x509
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from xops_provider.simulator.constants import CLIENT_ID, DEFAULT_ROLES, TENANT_ID
from xops_provider.simulator.faults import FaultSpec, FaultSpecError
from xops_provider.simulator.identity import Certificate
from xops_provider.simulator.scenarios import SCENARIOS, UnknownScenario
from xops_provider.simulator.scenarios.builders import graph_time
from xops_provider.simulator.scenarios.generated import make_incident
from xops_provider.simulator.state import SimulatorState
from xops_provider.simulator.store import AlertNotFound, IncidentNotFound, StoredIncident

router = APIRouter(prefix="/_admin", tags=["admin"])


def _sim(request: Request) -> SimulatorState:
    return request.app.state.sim


class ScenarioRequest(BaseModel):
    """Which scenario to load."""

    scenario: str = Field(default="empty", description=f"One of {', '.join(SCENARIOS)}.")
    incidents: int | None = Field(default=None, ge=0, description="How many incidents `generated` makes.")
    seed: int | None = Field(default=None, description="Content seed; the server's `--seed` when omitted.")


class ResetRequest(ScenarioRequest):
    """A full reset: scenario, identities, tokens, faults and counters."""

    faults: str = Field(default="", description="Fault specification to apply after the reset.")


class FaultsRequest(BaseModel):
    """Faults in the `--faults` syntax, e.g. `429=0.3,retry_after=0.2,expand500=20` or `quota=150/min`."""

    spec: str = Field(
        default="",
        description=(
            "Comma-separated `name=value` items: `429`, `503`, `retry_after`, `quota`, `expand500`, "
            "`slow`, `truncate`, `skip_ceiling`, `token_lifetime`, `hunting_quota` (default `45/min`, "
            "`off` for none), `hunting_429`, `hunting_400`, `cato_error`, `cato_quota`, `cato_page`; "
            "quotas are sliding windows answering 429 with `Retry-After`. See docs/simulator.md."
        ),
        examples=["429=0.3,retry_after=0.2,slow=200ms", "quota=150/min", "hunting_quota=off,cato_page=50"],
    )


class RevokeRequest(BaseModel):
    client_id: str | None = Field(default=None, description="Only this app's tokens; all when omitted.")


class LifetimeRequest(BaseModel):
    seconds: int = Field(ge=1, description="`expires_in` of tokens issued from now on.")


class RolesRequest(BaseModel):
    roles: list[str] = Field(description="Application permissions, e.g. `SecurityIncident.Read.All`.")
    revoke_tokens: bool = Field(
        default=False, description="Also revoke the app's tokens (roles are fixed in a token when issued)."
    )


class ConsentRequest(BaseModel):
    decision: Literal["grant", "deny"] = Field(description="What the administrator answers.")
    redirect_uris: list[str] | None = Field(
        default=None,
        description="Registered redirect URIs; empty accepts any loopback URI. Unchanged if omitted.",
    )


class CertificateRequest(BaseModel):
    pem: str = Field(description="The certificate (public part) in PEM.")


class MergeRequest(BaseModel):
    into: str = Field(description="The surviving incident's id.")


class ResolveRequest(BaseModel):
    classification: str = "truePositive"
    determination: str = "phishing"
    resolvingComment: str | None = None


class BulkRequest(BaseModel):
    count: int = Field(ge=1, le=100_000)
    lastUpdateDateTime: str | None = Field(
        default=None, description="The shared timestamp; a fresh unique instant when omitted."
    )


class IncidentBody(BaseModel):
    """Any incident properties; `alerts` (a list) replaces the generated ones."""

    model_config = ConfigDict(extra="allow")


def _http_error(status: int, detail: str) -> HTTPException:
    return HTTPException(status_code=status, detail=detail)


def _incident_or_404(sim: SimulatorState, incident_id: str) -> StoredIncident:
    try:
        return sim.store.get(incident_id)
    except IncidentNotFound:
        raise _http_error(404, f"no incident {incident_id}") from None


def _full(sim: SimulatorState, incident: StoredIncident) -> dict[str, Any]:
    return sim.store.incident_dict(incident, expand=True)


def _faults(spec: str) -> FaultSpec:
    try:
        return FaultSpec.parse(spec)
    except FaultSpecError as err:
        raise _http_error(400, str(err)) from None


@router.get("/health", summary="Liveness and what is loaded")
async def health(request: Request) -> dict[str, Any]:
    sim = _sim(request)
    return {
        "status": "ok",
        "tenant_id": TENANT_ID,
        "client_id": CLIENT_ID,
        "scenario": sim.scenario.name,
        "seed": sim.scenario.seed,
        "reference_time": sim.scenario.reference_time,
        "incidents": len(sim.store),
        "alerts": len(sim.store.alerts),
        "faults": str(sim.faults.spec),
    }


@router.post("/reset", summary="Reset everything and load a scenario")
async def reset(body: ResetRequest, request: Request) -> dict[str, Any]:
    sim = _sim(request)
    faults = _faults(body.faults)
    try:
        sim.reset(name=body.scenario, seed=body.seed, incidents=body.incidents, faults=faults)
    except UnknownScenario as err:
        raise _http_error(400, str(err)) from None
    return await health(request)


@router.post("/scenario", summary="Load a scenario (identities, faults and counters are kept)")
async def load_scenario(body: ScenarioRequest, request: Request) -> dict[str, Any]:
    sim = _sim(request)
    try:
        sim.load(name=body.scenario, seed=body.seed, incidents=body.incidents)
    except UnknownScenario as err:
        raise _http_error(400, str(err)) from None
    return await health(request)


@router.get("/faults", summary="Current faults")
async def get_faults(request: Request) -> dict[str, Any]:
    return _sim(request).faults.spec.as_dict()


@router.put(
    "/faults", summary="Replace the faults (restarts the fault dice from the seed and the quota from zero)"
)
async def set_faults(body: FaultsRequest, request: Request) -> dict[str, Any]:
    sim = _sim(request)
    sim.faults.configure(spec=_faults(body.spec))
    return sim.faults.spec.as_dict()


@router.delete("/faults", summary="Clear all faults (a quota is lifted)")
async def clear_faults(request: Request) -> dict[str, Any]:
    sim = _sim(request)
    sim.faults.configure(spec=FaultSpec())
    return sim.faults.spec.as_dict()


@router.post("/tokens/revoke", summary="Revoke current access tokens")
async def revoke_tokens(body: RevokeRequest, request: Request) -> dict[str, int]:
    return {"revoked": _sim(request).identity.revoke(body.client_id)}


@router.put("/tokens/lifetime", summary="Lifetime of tokens issued from now on")
async def set_token_lifetime(body: LifetimeRequest, request: Request) -> dict[str, int]:
    sim = _sim(request)
    sim.identity.token_lifetime = body.seconds
    return {"seconds": body.seconds}


@router.get("/apps", summary="App registrations (secrets are never shown)")
async def list_apps(request: Request) -> list[dict[str, Any]]:
    return [
        {
            "client_id": app.client_id,
            "has_secret": app.secret is not None,
            "roles": list(app.roles),
            "certificates": [cert.describe() for cert in app.certificates],
            "consent": app.consent,
            "redirect_uris": list(app.redirect_uris),
        }
        for app in _sim(request).identity.apps.values()
    ]


@router.put("/apps/{client_id}/roles", summary="Set an app's application permissions")
async def set_roles(client_id: str, body: RolesRequest, request: Request) -> dict[str, Any]:
    sim = _sim(request)
    app = sim.identity.app(client_id)
    app.roles = tuple(body.roles)
    revoked = sim.identity.revoke(client_id) if body.revoke_tokens else 0
    return {"client_id": client_id, "roles": list(app.roles), "revoked": revoked}


@router.put("/apps/{client_id}/consent", summary="How the admin-consent page answers for an app")
async def set_consent(client_id: str, body: ConsentRequest, request: Request) -> dict[str, Any]:
    app = _sim(request).identity.app(client_id)
    app.consent = body.decision
    if body.redirect_uris is not None:
        app.redirect_uris = tuple(body.redirect_uris)
    return {"client_id": client_id, "consent": app.consent, "redirect_uris": list(app.redirect_uris)}


@router.post("/apps/{client_id}/certificates", summary="Register a certificate credential")
async def add_certificate(client_id: str, body: CertificateRequest, request: Request) -> dict[str, str]:
    try:
        certificate = x509.load_pem_x509_certificate(body.pem.encode())
    except ValueError as err:
        raise _http_error(400, f"not a PEM certificate: {err}") from None
    sim = _sim(request)
    app = sim.identity.app(client_id)
    if client_id != CLIENT_ID and not app.roles:
        app.roles = DEFAULT_ROLES
    registered = Certificate(certificate=certificate)
    app.certificates.append(registered)
    return registered.describe()


@router.get("/counters", summary="Request counts by method, route and status")
async def get_counters(request: Request) -> dict[str, Any]:
    sim = _sim(request)
    rows = [
        {"method": method, "route": route, "status": status, "count": count}
        for (method, route, status), count in sorted(sim.counters.items())
    ]
    return {
        "requests": rows,
        "total": sum(row["count"] for row in rows),
        "tokens_issued": sim.identity.issued,
    }


@router.delete("/counters", summary="Reset the request counts")
async def reset_counters(request: Request) -> dict[str, Any]:
    sim = _sim(request)
    sim.counters.clear()
    sim.identity.issued = 0
    return await get_counters(request)


@router.get(
    "/incidents",
    summary="Every incident with its alerts, in (lastUpdateDateTime, id) order",
    response_description='`{"count": N, "value": [incident, ...]}`',
)
async def all_incidents(request: Request) -> Response:
    sim = _sim(request)
    # Encoded from the stored JSON: a 20,000-incident tenant through jsonable_encoder costs seconds
    # and hundreds of megabytes.
    items = [sim.store.incident_json(incident, expand=True) for incident in sim.store.scan()]
    body = b'{"count":' + str(len(items)).encode() + b',"value":[' + b",".join(items) + b"]}"
    return Response(content=body, media_type="application/json")


@router.get("/incidents/{incident_id}", summary="One incident with its alerts")
async def one_incident(incident_id: str, request: Request) -> dict[str, Any]:
    sim = _sim(request)
    return _full(sim, _incident_or_404(sim, incident_id))


def _create(sim: SimulatorState, fields: dict[str, Any], *, stamp: str | None = None) -> StoredIncident:
    incident_id = str(fields.get("id") or sim.store.new_id())
    if not incident_id.isdigit():
        raise _http_error(400, f"incident ids are numeric strings, got {incident_id!r}")
    now = sim.clock.now()
    body, alerts = make_incident(tenant_id=TENANT_ID, incident_id=incident_id, now=now, seed=sim.seed)
    if "alerts" in fields:
        alerts = [
            {**alert, "incidentId": alert.get("incidentId") or incident_id}
            for alert in fields.pop("alerts") or []
        ]
    body.update(fields)
    body["id"] = incident_id
    if stamp is not None:
        body["lastUpdateDateTime"] = body["createdDateTime"] = stamp
    try:
        return sim.store.put(body, alerts)
    except ValueError as err:
        raise _http_error(400, str(err)) from None


@router.post("/incidents", summary="Create an incident (realistic defaults, any field overridable)")
async def create_incident(body: IncidentBody, request: Request) -> dict[str, Any]:
    sim = _sim(request)
    fields = body.model_dump()
    if fields.get("id") and str(fields["id"]) in sim.store.incidents:
        raise _http_error(409, f"incident {fields['id']} already exists")
    return _full(sim, _create(sim, fields))


@router.post("/incidents/bulk", summary="Create N incidents sharing one lastUpdateDateTime")
async def bulk_create(body: BulkRequest, request: Request) -> dict[str, Any]:
    sim = _sim(request)
    stamp = body.lastUpdateDateTime or graph_time(sim.clock.now().ticks)
    ids = [_create(sim, {}, stamp=stamp).id for _ in range(body.count)]
    return {"ids": ids, "lastUpdateDateTime": stamp}


def _update(sim: SimulatorState, incident_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    _incident_or_404(sim, incident_id)
    try:
        incident = sim.store.update(incident_id, changes)
    except ValueError as err:
        raise _http_error(400, str(err)) from None
    return _full(sim, incident)


@router.patch("/incidents/{incident_id}", summary="Change any fields; bumps lastUpdateDateTime to now")
async def update_incident(incident_id: str, body: IncidentBody, request: Request) -> dict[str, Any]:
    return _update(_sim(request), incident_id, body.model_dump())


@router.post("/incidents/{incident_id}/resolve", summary="Resolve an incident")
async def resolve(incident_id: str, body: ResolveRequest, request: Request) -> dict[str, Any]:
    changes = {
        "status": "resolved",
        "classification": body.classification,
        "determination": body.determination,
    }
    if body.resolvingComment is not None:
        changes["resolvingComment"] = body.resolvingComment
    return _update(_sim(request), incident_id, changes)


@router.post("/incidents/{incident_id}/reopen", summary="Make an incident active again")
async def reopen(incident_id: str, request: Request) -> dict[str, Any]:
    return _update(_sim(request), incident_id, {"status": "active", "redirectIncidentId": None})


@router.post("/incidents/{incident_id}/merge", summary="Merge (redirect) this incident into another")
async def merge(incident_id: str, body: MergeRequest, request: Request) -> dict[str, Any]:
    sim = _sim(request)
    _incident_or_404(sim, incident_id)
    _incident_or_404(sim, body.into)
    try:
        source, target = sim.store.merge(incident_id, body.into)
    except ValueError as err:
        raise _http_error(400, str(err)) from None
    return {"source": _full(sim, source), "target": _full(sim, target)}


@router.post("/incidents/{incident_id}/alerts", summary="Add an alert (a realistic one unless given)")
async def add_alert(incident_id: str, body: IncidentBody, request: Request) -> dict[str, Any]:
    sim = _sim(request)
    _incident_or_404(sim, incident_id)
    fields = body.model_dump()
    _, generated = make_incident(
        tenant_id=TENANT_ID,
        incident_id=incident_id,
        now=sim.clock.now(),
        seed=f"{sim.seed}:{len(sim.store.alerts)}",
    )
    alert = {**generated[0], **fields}
    try:
        sim.store.add_alert(incident_id, alert)
    except ValueError as err:
        raise _http_error(409, str(err)) from None
    return _full(sim, sim.store.get(incident_id))


@router.delete("/alerts/{alert_id}", summary="Remove an alert; its incident is bumped")
async def remove_alert(alert_id: str, request: Request) -> dict[str, Any]:
    sim = _sim(request)
    try:
        incident = sim.store.remove_alert(alert_id)
    except AlertNotFound:
        raise _http_error(404, f"no alert {alert_id}") from None
    return _full(sim, incident)
