"""The Integrations page: the ``ms_tenant`` connections Airflow knows, and each integration's sync state.

Connections come from the metadata DB (what *Admin -> Connections* lists) and from
``AIRFLOW_CONN_*`` environment variables of the API server; secrets backends cannot be listed, so
connections that live only there do not appear. Only what identifies a connection is shown: never
its secret, nor the extra beyond the tenant, cloud, hosts and the kind of credential.

Health (Connected, Pending consent, Error) and *Authorize* arrive with the live integrations; until
then the page says "Not known yet" rather than guess.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

log = logging.getLogger(__name__)

MS_TENANT = "ms_tenant"
_ENV_PREFIX = "AIRFLOW_CONN_"


def _credential(password: str | None, extra: dict[str, Any]) -> str:
    if str(extra.get("use_workload_identity", "")).lower() in ("true", "1"):
        return "workload identity"
    if extra.get("certificate_path") or extra.get("certificate_thumbprint"):
        return "certificate"
    return "client secret" if password else "none"


def _extra(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw or "{}")
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def describe(
    *, conn_id: str, origin: str, login: str | None, password: str | None, extra: Any
) -> dict[str, Any]:
    """What the page shows of one connection (no secret).

    :param conn_id: the connection id.
    :param origin: ``metadata DB`` or ``environment``.
    :param login: the application (client) id.
    :param password: only tells whether a secret is set.
    :param extra: the connection's extra.
    """
    options = _extra(extra)
    return {
        "conn_id": conn_id,
        "origin": origin,
        "client_id": login or None,
        "tenant_id": options.get("tenant_id"),
        "cloud": options.get("cloud") or "public",
        "graph_endpoint": options.get("graph_endpoint"),
        "authority_host": options.get("authority_host"),
        "credential": _credential(password, options),
        "health": "Not known yet",
    }


def environment_connections(environ: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """``ms_tenant`` connections defined as ``AIRFLOW_CONN_*`` JSON in this process's environment.

    :param environ: the environment (``os.environ`` when omitted).
    """
    found = []
    for key, value in sorted((environ if environ is not None else os.environ).items()):
        if not key.startswith(_ENV_PREFIX) or not value.lstrip().startswith("{"):
            continue
        try:
            fields = json.loads(value)
        except ValueError:
            continue
        if isinstance(fields, dict) and fields.get("conn_type") == MS_TENANT:
            found.append(
                describe(
                    conn_id=key[len(_ENV_PREFIX) :].lower(),
                    origin="environment",
                    login=fields.get("login"),
                    password=fields.get("password"),
                    extra=fields.get("extra"),
                )
            )
    return found


def metadata_connections() -> list[dict[str, Any]]:
    """``ms_tenant`` connections in Airflow's metadata DB (the API server's own session)."""
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(select(Connection).where(Connection.conn_type == MS_TENANT)).all()
        return [
            describe(
                conn_id=row.conn_id,
                origin="metadata DB",
                login=row.login,
                password=row.password,
                extra=row.extra,
            )
            for row in rows
        ]


def ms_tenant_connections() -> list[dict[str, Any]]:
    """Every listable ``ms_tenant`` connection; an environment variable wins over a metadata DB row
    of the same id, as it does when Airflow resolves the connection."""
    listed = environment_connections()
    seen = {item["conn_id"] for item in listed}
    try:
        stored = metadata_connections()
    except Exception:
        log.warning("could not list connections from the metadata DB", exc_info=True)
        stored = []
    return listed + [item for item in stored if item["conn_id"] not in seen]
