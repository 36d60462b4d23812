"""The Defender simulator: Entra ID and Microsoft Graph security incidents over loopback HTTPS.

Run it with ``xops simulator serve``; drive it with :class:`~xops_provider.simulator.admin.SimulatorAdmin`.
Layout: ``identity`` (Entra), ``graph/`` (one module per Graph API: ``incidents`` now, ``alerts_v2``
and ``hunting`` later), ``scenarios/`` (tenant content), ``faults``, ``admin_api`` (``/_admin/``),
``server`` (TLS and hand-off files), ``process`` (start it from Python). A Cato GraphQL feed would be
a sibling router (``cato.py``) mounted by ``app.create_app``.
"""

from __future__ import annotations

from xops_provider.simulator.constants import (
    CLIENT_ID,
    DEFAULT_ROLES,
    DEFAULT_TOKEN_LIFETIME,
    READ_ROLE,
    TENANT_ID,
    WRITE_ROLE,
)

__all__ = ["CLIENT_ID", "DEFAULT_ROLES", "DEFAULT_TOKEN_LIFETIME", "READ_ROLE", "TENANT_ID", "WRITE_ROLE"]
