"""alerts_v2 alerts of the other Defender products -> :class:`EndpointDetection` facts.

Only alerts of :data:`ENDPOINT_SOURCES` are endpoint detections; the caller asks Graph for those
alone, so any other one is malformed input here. An alert's key is its id: a newer copy of the same
alert replaces the older one (the store upserts on the key) instead of adding a second detection.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from xops_provider.correlation.facts import (
    EndpointDetection,
    FactError,
    fact_key,
    record_of,
    text_field,
    time_field,
)
from xops_provider.correlation.values import InvalidValue, check_ip
from xops_provider.models.incident import evidence_kind, normalize_enum
from xops_provider.models.normalize import normalize_address, normalize_domain, scalar_text

SOURCE = "alerts_v2"
ENDPOINT_SOURCES = frozenset(
    {"microsoftDefenderForEndpoint", "microsoftDefenderForIdentity", "microsoftDefenderForCloudApps"}
)


def _account(account: Any) -> str | None:
    if not isinstance(account, Mapping):
        return None
    if upn := normalize_address(account.get("userPrincipalName")):
        return upn
    name, domain = scalar_text(account.get("accountName")), scalar_text(account.get("domainName"))
    if name:
        return f"{domain}\\{name}".lower() if domain else name.lower()
    return None


def _evidence_facts(evidence: list[Any]) -> tuple[set[str], set[str], set[str], set[str]]:
    users: set[str] = set()
    devices: set[str] = set()
    device_ids: set[str] = set()
    ips: set[str] = set()
    for item in evidence:
        if not isinstance(item, Mapping):
            continue
        kind = evidence_kind(item.get("@odata.type"))
        if kind == "userEvidence" and (user := _account(item.get("userAccount"))):
            users.add(user)
        elif kind == "mailboxEvidence" and (address := normalize_address(item.get("primaryAddress"))):
            users.add(address)
        elif kind == "deviceEvidence":
            if name := normalize_domain(scalar_text(item.get("deviceDnsName"))):
                devices.add(name)
            if device_id := scalar_text(item.get("mdeDeviceId")):
                device_ids.add(device_id.lower())
            logged_on = item.get("loggedOnUsers")
            if isinstance(logged_on, list):
                users.update(u for entry in logged_on if (u := _account(entry)))
        elif kind == "ipEvidence" and (text := scalar_text(item.get("ipAddress"))):
            try:
                ips.add(check_ip(text))
            except InvalidValue:
                continue  # a broken address in one evidence item does not cost the alert
    return users, devices, device_ids, ips


def parse_endpoint_alert(value: Any) -> EndpointDetection:
    """An alerts_v2 alert of Defender for Endpoint, Identity or Cloud Apps.

    :param value: the alert (object or JSON text).
    :raises FactError: when it lacks an id or a time, or comes from another product.
    """
    what = "alert"
    alert, raw = record_of(value, what=what)
    alert_id = text_field(alert, "id", what=what, required=True)
    service = normalize_enum("service_source", alert.get("serviceSource"))
    if service not in ENDPOINT_SOURCES:
        raise FactError(
            f"alert {alert_id[:60]}: serviceSource {str(service)[:60]!r} is not an endpoint product"
        )
    name = "firstActivityDateTime" if scalar_text(alert.get("firstActivityDateTime")) else "createdDateTime"
    time = time_field(alert, name, what=f"alert {alert_id[:60]}")
    evidence = alert.get("evidence")
    if isinstance(evidence, Mapping):
        evidence = [evidence]
    users, devices, device_ids, ips = _evidence_facts(evidence if isinstance(evidence, list) else [])
    return EndpointDetection(
        fact_key=fact_key(SOURCE, alert_id),
        source=service,
        alert_id=alert_id,
        incident_id=text_field(alert, "incidentId", what=what),
        time=time,
        title=text_field(alert, "title", what=what),
        severity=normalize_enum("severity", alert.get("severity")),
        users=tuple(sorted(users)),
        devices=tuple(sorted(devices)),
        device_ids=tuple(sorted(device_ids)),
        ips=tuple(sorted(ips)),
        raw=raw,
    )
