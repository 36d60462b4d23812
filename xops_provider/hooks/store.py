"""The ``xops_store`` connection: where stories live.

SQLite by default (``$AIRFLOW_HOME/xops/stories.db``, used when no ``xops_store`` connection is
defined), PostgreSQL in production (``postgresql://user:password@host:5432/db``, psycopg 3). The URL
is built from the connection's fields by :func:`xops_provider.store.database.url_from_connection`.

:func:`store_url` is the one rule every caller follows (operators, the sensor, the triggers, the
``xops`` command and the Workbench): only the default id ``xops_store`` falls back to the embedded
SQLite file; any other id that is not defined is an error that names it, so a mistyped id can never
write somewhere nobody reads.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

if TYPE_CHECKING:
    from airflow.sdk import Connection
    from sqlalchemy.engine import URL

    from xops_provider.store import Store

DEFAULT_STORE_CONN_ID = "xops_store"


class StoreConnectionNotFound(AirflowNotFoundException, LookupError):
    """A store connection id other than the default is not defined."""


def _airflow_home() -> Path:
    return Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow").expanduser()


def store_url(conn_id: str, connection: Any | None) -> URL:
    """The store's SQLAlchemy URL for a looked-up connection.

    :param conn_id: the id that was looked up.
    :param connection: the connection, or ``None`` when the lookup found none.
    :raises StoreConnectionNotFound: ``conn_id`` is not the default and was not found.
    """
    from xops_provider.store.database import default_sqlite_path, sqlite_url, url_from_connection

    if connection is None:
        if conn_id != DEFAULT_STORE_CONN_ID:
            raise StoreConnectionNotFound(
                f"story store connection {conn_id!r} is not defined; only the default "
                f"{DEFAULT_STORE_CONN_ID!r} falls back to the embedded SQLite store"
            )
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


def open_store(url: URL, *, migrate: bool) -> Store:
    """Open the store at a URL.

    :param url: from :func:`store_url`.
    :param migrate: upgrade the schema first (writers); readers are told when it is behind.
    """
    from xops_provider.store import Store

    return Store.open(url, migrate=migrate)


class StoreHook(BaseHook):
    """Opens the story store named by an ``xops_store`` connection.

    The connection type is ``sqlite`` (the database file path in ``host``, or in ``schema`` as
    Airflow parses ``sqlite:////abs/path.db``) or ``postgres`` (host, port, login, password, the
    database in ``schema``; libpq options such as ``sslmode`` in the extra). When the default
    connection is not defined, the embedded SQLite store under ``$AIRFLOW_HOME`` is used.

    :param xops_store_conn_id: the connection id.
    :param connection: an already resolved connection, used instead of looking the id up (triggers
        resolve it asynchronously).
    """

    conn_name_attr = "xops_store_conn_id"
    default_conn_name = DEFAULT_STORE_CONN_ID
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

    def _url(self) -> URL:
        connection = self._connection
        if connection is None:
            try:
                connection = self.get_connection(self.xops_store_conn_id)
            except AirflowNotFoundException:
                connection = None
        return store_url(self.xops_store_conn_id, connection)

    def get_conn(self) -> Store:
        """The opened store (same as :meth:`get_store`)."""
        return self.get_store()

    def get_store(self, *, migrate: bool = True) -> Store:
        """Open the store.

        :param migrate: upgrade the schema first, as every writing task does; a reader passes
            ``False`` and gets :class:`~xops_provider.store.SchemaNotMigrated` when it is behind.
        """
        return open_store(self._url(), migrate=migrate)

    def test_connection(self) -> tuple[bool, str]:
        """Open the store, without migrating it, and read its counts."""
        from xops_provider.store import SchemaNotMigrated

        try:
            store = self.get_store(migrate=False)
        except SchemaNotMigrated as err:
            return True, f"story store reachable; {err}"
        except Exception as err:
            return False, f"cannot open the story store: {type(err).__name__}: {err}"
        try:
            counts = store.reads.counts()
        finally:
            store.close()
        return True, f"story store reachable: {counts['stories']} stories, {counts['raw_versions']} versions"
