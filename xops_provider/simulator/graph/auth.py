"""Graph's bearer-token check, shared by every Graph API of the simulator."""

from __future__ import annotations

import time

from fastapi import Request

from xops_provider.simulator.constants import GRAPH_APP_ID
from xops_provider.simulator.graph.errors import GraphError
from xops_provider.simulator.identity import IssuedToken, base_url


def authorize_roles(request: Request, *, roles: tuple[str, ...]) -> IssuedToken:
    """The caller's token, or the 401/403 Graph would answer.

    Application permissions are checked as Graph does: any one of ``roles`` suffices.

    :param request: the request.
    :param roles: the application roles that grant access.
    """
    sim = request.app.state.sim
    challenge = {
        "WWW-Authenticate": (
            f'Bearer realm="", authorization_uri="{base_url(request)}/common/oauth2/authorize", '
            f'client_id="{GRAPH_APP_ID}"'
        )
    }
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.", headers=challenge)
    issued = sim.identity.tokens.get(token.strip())
    if issued is None:
        raise GraphError(
            401,
            "InvalidAuthenticationToken",
            "Access token validation failure. The token is not valid or has been revoked.",
            headers=challenge,
        )
    if issued.expires_at <= time.time():
        raise GraphError(
            401,
            "InvalidAuthenticationToken",
            "Lifetime validation failed, the token is expired.",
            headers=challenge,
        )
    if not set(roles) & set(issued.roles):
        raise GraphError(
            403,
            "Forbidden",
            f"Missing application roles. API required roles: {', '.join(roles)}. "
            f"Application roles: {', '.join(issued.roles)}.",
        )
    return issued
