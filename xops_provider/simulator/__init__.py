"""The Defender simulator: Entra ID, Microsoft Graph security incidents, alerts_v2 and advanced
hunting, and Cato's events feed, over loopback HTTPS.

Run it with ``xops simulator serve``; drive it with :class:`~xops_provider.simulator.admin.SimulatorAdmin`.
Layout: ``identity`` (Entra), ``graph/`` (one module per Graph API: ``incidents``, ``alerts_v2``,
``hunting`` with its KQL subset in ``kql``), ``cato`` (the GraphQL feed), ``telemetry/`` (hunting
tables, the Cato feed, generated network events), ``scenarios/`` (tenant content), ``faults`` and
``quota``, ``admin_api`` and ``admin_telemetry`` (``/_admin/``), ``server`` (TLS and hand-off files),
``process`` (start it from Python).
"""

from __future__ import annotations

from xops_provider.simulator.constants import (
    ALERT_ROLES,
    CATO_ACCOUNT_ID,
    CLIENT_ID,
    DEFAULT_ROLES,
    DEFAULT_TOKEN_LIFETIME,
    HUNTING_ROLE,
    READ_ROLE,
    TENANT_ID,
    WRITE_ROLE,
)

__all__ = [
    "ALERT_ROLES",
    "CATO_ACCOUNT_ID",
    "CLIENT_ID",
    "DEFAULT_ROLES",
    "DEFAULT_TOKEN_LIFETIME",
    "HUNTING_ROLE",
    "READ_ROLE",
    "TENANT_ID",
    "WRITE_ROLE",
]
