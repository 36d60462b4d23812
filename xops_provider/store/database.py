"""Where the store lives: SQLAlchemy URLs from connection fields, engines, locks and migrations.

The URL is built from a connection's *fields*, never from Airflow's ``get_uri()``: Airflow turns
``postgresql://`` into the conn type ``postgres`` and answers ``postgres://``, which SQLAlchemy
rejects, and it parses ``sqlite:////abs/path.db`` into an empty host with the path in ``schema``.
This module imports no Airflow; the hook hands the fields over.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import select
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from xops_provider.store.tables import VERSION_TABLE
from xops_provider.sync.ports import TransientStoreError

#: The hook's own connection type; its backend is read from the fields (see ``_store_backend``).
STORE_CONN_TYPE = "xops_store"
SQLITE_CONN_TYPES = frozenset({"sqlite"})
POSTGRES_CONN_TYPES = frozenset({"postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2"})

# libpq keywords a connection's extra may carry; anything else (Airflow's own keys) stays out of the URL.
_LIBPQ_KEYWORDS = frozenset(
    {
        "sslmode",
        "sslcert",
        "sslkey",
        "sslrootcert",
        "sslcrl",
        "sslpassword",
        "application_name",
        "connect_timeout",
        "options",
        "target_session_attrs",
        "keepalives",
        "keepalives_idle",
        "keepalives_interval",
        "keepalives_count",
        "gssencmode",
        "channel_binding",
    }
)
_MIGRATIONS = Path(__file__).with_name("migrations")


class StoreConfigurationError(ValueError):
    """A connection that does not describe a usable store."""


class SchemaNotMigrated(RuntimeError):
    """The store's schema is behind the package: run ``xops store migrate`` (or let the first writing
    task migrate it). Readers such as the triggerer never migrate."""


class LockTimeout(TimeoutError):
    """Another process held a store lock for longer than the caller would wait."""


def default_sqlite_path(airflow_home: str | os.PathLike[str]) -> Path:
    """The embedded store: ``$AIRFLOW_HOME/xops/stories.db``.

    :param airflow_home: Airflow's home folder.
    """
    return Path(airflow_home) / "xops" / "stories.db"


def sqlite_url(path: str | os.PathLike[str]) -> URL:
    """The SQLAlchemy URL of a SQLite file.

    :param path: the database file; relative paths are made absolute so that locks sit beside it.
    """
    return URL.create("sqlite+pysqlite", database=str(Path(path).expanduser().absolute()))


def url_from_connection(
    *,
    conn_type: str | None,
    host: str | None = None,
    port: int | None = None,
    login: str | None = None,
    password: str | None = None,
    schema: str | None = None,
    extra: str | Mapping[str, Any] | None = None,
) -> URL:
    """Build the SQLAlchemy URL of the store from a connection's fields.

    :param conn_type: ``sqlite``, ``postgres``/``postgresql`` (psycopg 3 is always the driver), or
        ``xops_store`` (PostgreSQL when a host is set, SQLite otherwise; extra ``backend`` overrides).
    :param host: the PostgreSQL host; for SQLite, the file path when ``schema`` is empty.
    :param port: the PostgreSQL port.
    :param login: the PostgreSQL user.
    :param password: the PostgreSQL password.
    :param schema: the PostgreSQL database; for SQLite, the file path as Airflow parses
        ``sqlite:////abs/path.db``.
    :param extra: the connection's extra (JSON text or a mapping); libpq keywords such as ``sslmode``
        are passed on to PostgreSQL.
    """
    kind = (conn_type or "").strip().lower()
    if kind == STORE_CONN_TYPE:
        kind = _store_backend(host, extra)
    if kind in SQLITE_CONN_TYPES:
        path = schema or host
        if not path:
            raise StoreConfigurationError("a sqlite store connection needs the database file path")
        return sqlite_url(path)
    if kind in POSTGRES_CONN_TYPES:
        if not schema:
            raise StoreConfigurationError("a postgres store connection needs the database name in 'schema'")
        return URL.create(
            "postgresql+psycopg",
            username=login or None,
            password=password or None,
            host=host or None,
            port=port or None,
            database=schema,
            query=_libpq_options(extra),
        )
    raise StoreConfigurationError(
        f"unsupported store connection type {conn_type!r}: use 'sqlite', 'postgres' or 'xops_store'"
    )


def _store_backend(host: str | None, extra: str | Mapping[str, Any] | None) -> str:
    """The backend of a connection typed ``xops_store`` (the hook's own form): the extra's
    ``backend`` when given, else PostgreSQL when a host is set and SQLite when only a path is."""
    options = _extra_mapping(extra)
    backend = str(options.get("backend") or "").strip().lower()
    if backend:
        return backend
    return "postgres" if host and not host.startswith(("/", "~", ".")) else "sqlite"


def _extra_mapping(extra: str | Mapping[str, Any] | None) -> Mapping[str, Any]:
    if not extra:
        return {}
    if isinstance(extra, str):
        try:
            extra = json.loads(extra)
        except ValueError as err:
            raise StoreConfigurationError("the store connection's extra is not valid JSON") from err
    if not isinstance(extra, Mapping):
        raise StoreConfigurationError("the store connection's extra must be a JSON object")
    return extra


def _libpq_options(extra: str | Mapping[str, Any] | None) -> dict[str, str]:
    options = _extra_mapping(extra)
    return {key: str(value) for key, value in options.items() if key in _LIBPQ_KEYWORDS and value is not None}


def create_store_engine(url: str | URL, *, sqlite_busy_timeout: float = 30.0) -> Engine:
    """An engine tuned for the store.

    SQLite runs in WAL mode with a busy timeout and foreign keys on, and its transactions start with
    ``BEGIN IMMEDIATE`` when the engine is used through :func:`writer`, so that two writers queue on
    the busy timeout instead of failing on a lock upgrade. PostgreSQL pings pooled connections, so a
    backend that was terminated is replaced instead of failing the next batch.

    :param url: the SQLAlchemy URL (``postgresql://`` is read as psycopg 3).
    :param sqlite_busy_timeout: seconds a SQLite writer waits for another one before giving up.
    """
    url = make_url(url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        if not database or database == ":memory:":
            # One shared connection, or every checkout would see a new, empty database.
            engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
        else:
            engine = create_engine(url)
        _configure_sqlite(engine, busy_timeout_ms=int(sqlite_busy_timeout * 1000))
        return engine
    if url.get_backend_name() != "postgresql":
        raise StoreConfigurationError(f"unsupported store database {url.get_backend_name()!r}")
    engine = create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=4)
    _configure_postgres(engine)
    return engine


def _configure_postgres(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Asynchronous commit, the counterpart of SQLite's WAL with synchronous=NORMAL: a server crash
        # can lose the last few hundred milliseconds of commits, never part of one. Every batch
        # commits with the watermark that covers it (and every story with its queue mark), so what
        # is lost is re-read on the next run; the store never disagrees with itself.
        dbapi_connection.execute("SET synchronous_commit TO off")
        dbapi_connection.commit()


def _enable_wal(cursor: Any, *, timeout: float) -> None:
    """Switch a SQLite file to WAL. The mode persists in the file, so only the first opening switches;
    when two processes open a new file at once, SQLite may refuse the switch with "database is locked"
    without waiting on ``busy_timeout``, so the switch is retried until the timeout."""
    import sqlite3

    deadline = time.monotonic() + timeout
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def _configure_sqlite(engine: Engine, *, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
        _enable_wal(cursor, timeout=busy_timeout_ms / 1000)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get("xops_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def writer(engine: Engine) -> Engine:
    """The same engine, marked so that SQLite takes its write lock when a transaction begins.

    :param engine: a store engine.
    """
    return engine.execution_options(xops_write=True)


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for a PostgreSQL advisory lock.

    :param name: what the lock protects, for example ``sync:default``.
    """
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


def _lock_path(engine: Engine, name: str) -> Path | None:
    database = engine.url.database
    if not database or database == ":memory:":
        return None  # a private in-memory database has no second process to exclude
    digest = hashlib.blake2b(name.encode(), digest_size=6).hexdigest()
    return Path(f"{database}.{digest}.lock")


class HeldLock:
    """A lock :func:`named_lock` holds; :meth:`verify` before work that must stay exclusive.

    :param name: what the lock protects.
    :param verify: checks that the lock is still held, re-taking it if the server dropped it.
    """

    def __init__(self, *, name: str, verify: Callable[[], None] | None = None) -> None:
        self.name = name
        self._verify = verify

    def verify(self) -> None:
        """Make sure the lock is still held.

        :raises LockLost: the server dropped it (a terminated backend) and another process took it.
        """
        if self._verify is not None:
            self._verify()


class LockLost(RuntimeError):
    """A PostgreSQL session holding a lock was terminated and another process has taken the lock."""


@contextlib.contextmanager
def named_lock(
    engine: Engine, name: str, *, timeout: float | None = None, poll: float = 0.2
) -> Iterator[HeldLock]:
    """Hold an exclusive lock between processes; the OS or the server releases it if the holder dies.

    PostgreSQL: a session advisory lock on a connection of its own. SQLite: ``fcntl.flock`` on a
    lock file next to the database file.

    :param engine: the store engine.
    :param name: what the lock protects.
    :param timeout: seconds to wait for it; ``None`` waits as long as it takes.
    :param poll: seconds between attempts.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine, name, deadline=deadline, poll=poll) as held:
            yield held
        return
    path = _lock_path(engine, name)
    if path is None:
        yield HeldLock(name=name)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+b") as handle:
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                _wait_or_raise(deadline, name, poll)
        try:
            # An flock lives as long as this process: nothing to verify.
            yield HeldLock(name=name)
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def _advisory_lock(engine: Engine, name: str, *, deadline: float | None, poll: float) -> Iterator[HeldLock]:
    key = lock_key(name)
    session: list[Connection] = []

    def take(*, wait: bool) -> bool:
        conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        while not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
            if not wait:
                conn.close()
                return False
            try:
                _wait_or_raise(deadline, name, poll)
            except LockTimeout:
                conn.close()
                raise
        session[:] = [conn]
        return True

    def verify() -> None:
        if _quiet(session[0]):
            return
        try:
            session[0].execute(text("SELECT 1"))
            return
        except SQLAlchemyError:
            # The backend was terminated (or closed by an earlier failed check), and the server
            # released the lock with it.
            with contextlib.suppress(Exception):
                session[0].close()
        try:
            taken = take(wait=False)
        except DBAPIError as err:
            raise TransientStoreError(f"store unavailable: {type(err.orig).__name__}") from err
        if not taken:
            raise LockLost(f"the store lock {name!r} was lost and another process holds it now")

    take(wait=True)
    try:
        yield HeldLock(name=name, verify=verify)
    finally:
        with contextlib.suppress(Exception):  # a dead backend already released it
            session[0].execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        with contextlib.suppress(Exception):
            session[0].close()


def _quiet(conn: Connection) -> bool:
    """Whether the lock's session is open and the server has sent it nothing since its last query.

    A backend that is terminated, or a connection that breaks, makes the socket readable (the
    server's FATAL notice, or end of file), so a quiet socket proves the session, and the lock, as
    well as a ``SELECT 1`` would, without a round trip to a server that is busy with the batch. The
    round trip was 11% of the PostgreSQL ingest (``benchmarks/sync_ingest.py``, RESULTS.md).
    """
    try:
        pgconn = conn.connection.dbapi_connection.pgconn  # type: ignore[union-attr]
        if pgconn.status != 0:  # libpq's CONNECTION_OK
            return False
        readable, _, _ = select.select([pgconn.socket], [], [], 0)
    except Exception:
        return False
    return not readable


def _wait_or_raise(deadline: float | None, name: str, poll: float) -> None:
    if deadline is not None and time.monotonic() >= deadline:
        raise LockTimeout(f"the store lock {name!r} is held by another process")
    time.sleep(poll)


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


@functools.cache
def head_revision() -> str:
    """The latest revision the package ships."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("the store's migrations have no head revision")
    return head


def upgrade_schema(engine: Engine) -> None:
    """Bring the schema to the latest revision; safe to run twice or from two processes at once.

    A store already at the latest revision costs one query: no lock is taken.

    :param engine: the store engine.
    """
    if schema_revision(engine) == head_revision():
        return
    with named_lock(engine, "migrate"), writer(engine).begin() as conn:
        config = _alembic_config()
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def schema_revision(engine: Engine) -> str | None:
    """The store's current schema revision, ``None`` before the first migration.

    :param engine: the store engine.
    """
    with engine.connect() as conn:
        return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()


def require_schema(engine: Engine) -> None:
    """Check, without changing anything, that the store's schema is the package's latest.

    :param engine: the store engine.
    :raises SchemaNotMigrated: the store is empty or behind.
    """
    current = schema_revision(engine)
    if current != head_revision():
        where = engine.url.render_as_string(hide_password=True)
        state = "has no schema yet" if current is None else f"is at revision {current}, not {head_revision()}"
        raise SchemaNotMigrated(f"the story store {where} {state}: run `xops store migrate`")
