"""Connection lookup for the ``xops`` command, the way ``airflow connections get`` does it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow.models.connection import Connection

log = logging.getLogger(__name__)


class ConnectionNotFound(LookupError):
    """No environment variable, secrets backend or metadata DB row defines the connection."""


def get_connection(conn_id: str) -> Connection:
    """Resolve a connection: ``AIRFLOW_CONN_*``, then configured secrets backends, then the metadata DB.

    ``BaseHook.get_connection`` in a plain process skips the metadata DB (it is the Task SDK path).
    ``airflow connections get`` walks the server's backend chain instead; so does this, through the
    same ``ensure_secrets_loaded()``. It does not go through ``Connection.get_connection_from_secrets``
    because that renders the connection as a URI for its cache, and Airflow then prints a warning
    about ``ms_tenant`` not being an RFC 3986 scheme on standard output, in the middle of our output.

    :param conn_id: the connection id.
    """
    from airflow.configuration import ensure_secrets_loaded
    from airflow.sdk.exceptions import AirflowSecretsBackendAccessDenied

    for backend in ensure_secrets_loaded():
        try:
            connection = backend.get_connection(conn_id=conn_id)
        except AirflowSecretsBackendAccessDenied:
            # An authoritative refusal: falling through to a laxer backend would bypass it.
            raise
        except Exception:
            log.debug(
                "Secrets backend %s failed for %s; trying the next one",
                type(backend).__name__,
                conn_id,
                exc_info=True,
            )
            continue
        if connection is not None:
            return connection
    raise ConnectionNotFound(
        f"connection {conn_id!r} is not defined (looked in AIRFLOW_CONN_{conn_id.upper()}, "
        "the secrets backends and the metadata DB)"
    )
