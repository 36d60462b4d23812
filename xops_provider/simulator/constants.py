"""Fixed identities of the simulated tenant, shared by the server, its clients and the tests."""

from __future__ import annotations

#: The simulated Entra tenant. Any other tenant in a URL is unknown, as it would be to Entra.
TENANT_ID = "6f1c8e3a-2d4b-4f7a-9c1e-5b8d2a7f0c93"
#: The registered application (client) id of the connector.
CLIENT_ID = "3b9f2c71-8a4e-4d16-b5c2-9e07d1a6f4b8"
#: Microsoft Graph's own application id, as it appears in ``WWW-Authenticate`` challenges.
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"

READ_ROLE = "SecurityIncident.Read.All"
WRITE_ROLE = "SecurityIncident.ReadWrite.All"
#: ``GET /security/alerts_v2`` needs one of these.
ALERT_ROLES = ("SecurityAlert.Read.All", "SecurityAlert.ReadWrite.All")
#: ``POST /security/runHuntingQuery`` needs this.
HUNTING_ROLE = "ThreatHunting.Read.All"
#: What the connector's app registration is consented to unless a test says otherwise.
DEFAULT_ROLES: tuple[str, ...] = (READ_ROLE, WRITE_ROLE, ALERT_ROLES[0], HUNTING_ROLE)
#: Entra's usual ``expires_in`` for an app-only token.
DEFAULT_TOKEN_LIFETIME = 3599
#: Graph's page size ceiling for ``/security/incidents``.
MAX_TOP = 50
#: Graph's page size ceiling (and default) for ``/security/alerts_v2``.
ALERTS_MAX_TOP = 2000
#: The simulated Cato account, the only one its API key reaches.
CATO_ACCOUNT_ID = "4172"
