"""Connection lookup for the ``xops`` command, the way ``airflow connections get`` does it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow.models.connection import Connection


class ConnectionNotFound(LookupError):
    """No environment variable, secrets backend or metadata DB row defines the connection."""


def get_connection(conn_id: str) -> Connection:
    """Resolve a connection: ``AIRFLOW_CONN_*``, then configured secrets backends, then the metadata DB.

    ``BaseHook.get_connection`` in a plain process skips the metadata DB (it is the Task SDK path);
    this is the path Airflow's own CLI takes instead.

    :param conn_id: the connection id.
    """
    from airflow.exceptions import AirflowNotFoundException
    from airflow.models.connection import Connection

    try:
        return Connection.get_connection_from_secrets(conn_id)
    except AirflowNotFoundException:
        raise ConnectionNotFound(
            f"connection {conn_id!r} is not defined (looked in AIRFLOW_CONN_{conn_id.upper()}, "
            "the secrets backends and the metadata DB)"
        ) from None
