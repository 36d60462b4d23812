"""The ``xops_store`` connection: where stories live.

SQLite by default (``$AIRFLOW_HOME/xops/stories.db``, used when no ``xops_store`` connection is
defined), PostgreSQL in production (``postgresql://user:password@host:5432/db``, psycopg 3). The URL
is built from the connection's fields by :func:`xops_provider.store.database.url_from_connection`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

if TYPE_CHECKING:
    from airflow.sdk import Connection
    from sqlalchemy.engine import URL

    from xops_provider.store.repository import Store


def _airflow_home() -> Path:
    return Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow").expanduser()


def store_url_for_connection(connection: Connection | None) -> URL:
    """The store's SQLAlchemy URL for a connection; the embedded SQLite file when there is none.

    :param connection: the ``xops_store`` connection, or ``None`` when it is not defined.
    """
    from xops_provider.store.database import default_sqlite_path, sqlite_url, url_from_connection

    if connection is None:
        return sqlite_url(default_sqlite_path(_airflow_home()))
    return url_from_connection(
        conn_type=connection.conn_type,
        host=connection.host,
        port=connection.port,
        login=connection.login,
        password=connection.password,
        schema=connection.schema,
        extra=connection.extra,
    )


def store_for_connection(connection: Connection | None) -> Store:
    """Open (and migrate on first use) the store a connection names.

    :param connection: the ``xops_store`` connection, or ``None`` for the embedded SQLite store.
    """
    from xops_provider.store.repository import Store

    return Store.open(store_url_for_connection(connection))


class StoreHook(BaseHook):
    """Opens the story store named by an ``xops_store`` connection.

    The connection type is ``sqlite`` (the database file path in ``host``, or in ``schema`` as
    Airflow parses ``sqlite:////abs/path.db``) or ``postgres`` (host, port, login, password, the
    database in ``schema``; libpq options such as ``sslmode`` in the extra). When the default
    connection is not defined, the embedded SQLite store under ``$AIRFLOW_HOME`` is used.

    :param xops_store_conn_id: the connection id.
    :param connection: an already resolved connection, used instead of looking the id up (triggers
        resolve it asynchronously; the ``xops`` command as ``airflow connections get`` does).
    """

    conn_name_attr = "xops_store_conn_id"
    default_conn_name = "xops_store"
    conn_type = "xops_store"
    hook_name = "XOps story store"

    def __init__(
        self,
        *,
        xops_store_conn_id: str = default_conn_name,
        connection: Connection | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.xops_store_conn_id = xops_store_conn_id
        self._connection = connection

    def _resolve(self) -> Connection | None:
        if self._connection is not None:
            return self._connection
        try:
            return self.get_connection(self.xops_store_conn_id)
        except Exception as err:
            # Only a missing default connection falls back to the embedded store: a secrets backend
            # that is down, or a mistyped custom id, must not silently write somewhere else. Matched
            # by name because the Task SDK and the core raise distinct classes of that name.
            if type(err).__name__ != "AirflowNotFoundException" or (
                self.xops_store_conn_id != self.default_conn_name
            ):
                raise
            return None

    def get_conn(self) -> Store:
        """The opened store (same as :meth:`get_store`)."""
        return self.get_store()

    def get_store(self) -> Store:
        """Open the store, upgrading its schema on first use."""
        return store_for_connection(self._resolve())

    def get_url(self) -> URL:
        """The store's SQLAlchemy URL (render it with ``hide_password=True``)."""
        return store_url_for_connection(self._resolve())

    def test_connection(self) -> tuple[bool, str]:
        """Open the store and read its counts."""
        try:
            store = self.get_store()
        except Exception as err:
            return False, f"cannot open the story store: {type(err).__name__}"
        try:
            counts = store.counts()
        finally:
            store.close()
        return True, f"story store reachable: {counts['stories']} stories, {counts['raw_versions']} versions"
