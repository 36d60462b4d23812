from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from xops_provider.store import Store, StoreConfigurationError, url_from_connection
from xops_provider.store.database import (
    LockTimeout,
    create_store_engine,
    lock_key,
    named_lock,
    schema_revision,
    upgrade_schema,
)
from xops_provider.store.tables import VERSION_TABLE

REPO = Path(__file__).resolve().parents[2]
TABLES = {
    "raw_incident_versions",
    "incidents",
    "sync_state",
    "quarantine",
    "stories",
    "story_entities",
    "network_events",
    "hunting_rows",
    "endpoint_alerts",
    "story_correlation",
    "feed_markers",
    "integrations",
    "integration_health",
}


def run_python(code: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# The newest migration file's number: the head every upgrade must reach.
LATEST = max(
    path.name[:4]
    for path in (Path(__file__).resolve().parents[2] / "xops_provider/store/migrations/versions").glob(
        "0*.py"
    )
)


class TestUrlFromConnection:
    @pytest.mark.parametrize(
        ("fields", "expected"),
        [
            pytest.param(
                {"conn_type": "sqlite", "host": "", "schema": "/abs/path/stories.db"},
                "sqlite+pysqlite:////abs/path/stories.db",
                id="sqlite-uri-parsed-by-airflow",
            ),
            pytest.param(
                {"conn_type": "sqlite", "host": "/abs/x.db"},
                "sqlite+pysqlite:////abs/x.db",
                id="sqlite-path-in-host",
            ),
            pytest.param(
                {"conn_type": "postgres", "host": "db", "port": 5432, "login": "u", "schema": "xops"},
                "postgresql+psycopg://u@db:5432/xops",
                id="postgres-conn-type",
            ),
            pytest.param(
                {"conn_type": "postgresql", "host": "db", "login": "u", "schema": "xops"},
                "postgresql+psycopg://u@db/xops",
                id="postgresql-conn-type",
            ),
            pytest.param(
                {
                    "conn_type": "postgres",
                    "host": "db",
                    "login": "u",
                    "schema": "xops",
                    "extra": '{"sslmode": "require", "airflow_only": "x"}',
                },
                "postgresql+psycopg://u@db/xops?sslmode=require",
                id="libpq-extras-only",
            ),
            pytest.param(
                {"conn_type": "xops_store", "host": "db", "login": "u", "schema": "xops"},
                "postgresql+psycopg://u@db/xops",
                id="store-type-with-host",
            ),
            pytest.param(
                {"conn_type": "xops_store", "schema": "/data/stories.db"},
                "sqlite+pysqlite:////data/stories.db",
                id="store-type-with-path",
            ),
            pytest.param(
                {"conn_type": "xops_store", "host": "/data/s.db", "extra": {"backend": "sqlite"}},
                "sqlite+pysqlite:////data/s.db",
                id="store-type-explicit-backend",
            ),
        ],
    )
    def test_builds_url(self, fields, expected):
        assert url_from_connection(**fields).render_as_string(hide_password=False) == expected

    def test_password_is_escaped_and_hidden(self):
        url = url_from_connection(
            conn_type="postgres", host="db", login="u", password="p@ss/w:rd", schema="x"
        )
        assert url.password == "p@ss/w:rd"
        assert "p@ss" not in str(url)
        assert "p@ss" not in repr(url)

    @pytest.mark.parametrize(
        ("fields", "match"),
        [
            pytest.param(
                {"conn_type": "mysql", "host": "h"}, "unsupported store connection type", id="mysql"
            ),
            pytest.param({"conn_type": "sqlite"}, "needs the database file path", id="sqlite-no-path"),
            pytest.param({"conn_type": "postgres", "host": "h"}, "needs the database name", id="pg-no-db"),
            pytest.param(
                {"conn_type": "postgres", "host": "h", "schema": "x", "extra": "{nope"},
                "not valid JSON",
                id="bad-extra",
            ),
        ],
    )
    def test_refuses(self, fields, match):
        with pytest.raises(StoreConfigurationError, match=match):
            url_from_connection(**fields)

    def test_error_never_shows_password(self):
        with pytest.raises(StoreConfigurationError) as info:
            url_from_connection(conn_type="oracle", host="h", password="s3cret-value")
        assert "s3cret-value" not in str(info.value)


class TestEngine:
    def test_sqlite_pragmas(self, tmp_path):
        engine = create_store_engine(f"sqlite:///{tmp_path}/nested/dir/stories.db")
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000
        engine.dispose()

    def test_postgres_scheme_means_psycopg(self):
        engine = create_store_engine("postgresql://postgres@127.0.0.1:5432/whatever")
        assert engine.dialect.driver == "psycopg"
        engine.dispose()

    def test_lock_key_is_stable_and_signed_64_bit(self):
        assert lock_key("sync:default") == lock_key("sync:default")
        assert lock_key("sync:default") != lock_key("sync:other")
        assert -(2**63) <= lock_key("migrate") < 2**63


class TestMigrations:
    def test_upgrade_creates_schema_and_is_idempotent(self, empty_store_url):
        engine = create_store_engine(empty_store_url)
        assert schema_revision(engine) is None
        upgrade_schema(engine)
        upgrade_schema(engine)
        assert schema_revision(engine) == LATEST
        names = set(inspect(engine).get_table_names())
        assert names >= TABLES | {VERSION_TABLE}
        assert "alembic_version" not in names  # Airflow's own table name stays free
        engine.dispose()

    @pytest.mark.parametrize(
        "empty_store_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
    )
    def test_large_json_columns_use_lz4_on_postgres(self, empty_store_url):
        engine = create_store_engine(empty_store_url)
        upgrade_schema(engine)
        with engine.connect() as conn:
            methods = dict(
                conn.execute(
                    text(
                        "SELECT c.relname || '.' || a.attname, a.attcompression FROM pg_attribute a "
                        "JOIN pg_class c ON c.oid = a.attrelid WHERE (c.relname, a.attname) IN "
                        "(('raw_incident_versions', 'payload'), ('stories', 'document'))"
                    )
                ).all()
            )
            lz4 = (
                "lz4"
                in conn.execute(
                    text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
                ).scalar_one()
            )
        # A server built without lz4 keeps its default ("" in pg_attribute): the migration skips it.
        expected = "l" if lz4 else ""
        assert methods == {"raw_incident_versions.payload": expected, "stories.document": expected}
        engine.dispose()

    def test_two_processes_migrate_at_once(self, empty_store_url):
        code = """
            import sys
            from xops_provider.store import Store
            Store.open(sys.argv[1]).close()
            print("ok")
        """
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", textwrap.dedent(code), empty_store_url],
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outputs = [proc.communicate(timeout=120) for proc in procs]
        assert [proc.returncode for proc in procs] == [0, 0], outputs
        engine = create_store_engine(empty_store_url)
        assert schema_revision(engine) == LATEST
        engine.dispose()


class TestNamedLock:
    HOLD = """
        import sys, time
        from xops_provider.store.database import create_store_engine, named_lock
        engine = create_store_engine(sys.argv[1])
        with named_lock(engine, "sync:default"):
            print("held", flush=True)
            time.sleep(120)
    """

    def test_excludes_other_process_and_is_released_when_it_dies(self, store_url):
        holder = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(self.HOLD), store_url],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout.readline().strip() == "held"
            engine = create_store_engine(store_url)
            with (
                pytest.raises(LockTimeout, match="sync:default"),
                named_lock(engine, "sync:default", timeout=0.5, poll=0.1),
            ):
                pass
            # Another name is independent.
            with named_lock(engine, "sync:other", timeout=0.5):
                pass
        finally:
            holder.kill()
            holder.wait()
        # The OS (flock) or the server (advisory lock) released it with the process.
        with named_lock(engine, "sync:default", timeout=30, poll=0.1):
            pass
        engine.dispose()

    # A SQLite store's flock lives as long as its process: only a PostgreSQL lock can be lost.
    @pytest.mark.parametrize(
        "store_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
    )
    def test_verify_retakes_a_lock_whose_backend_was_terminated(self, store_url, pg_server):
        from sqlalchemy import event
        from sqlalchemy.engine import make_url

        database = make_url(store_url).database

        def holder() -> int | None:
            import psycopg

            with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
                row = conn.execute(
                    "SELECT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                    "WHERE l.locktype = 'advisory' AND l.granted AND d.datname = %s",
                    (database,),
                ).fetchone()
            return None if row is None else row[0]

        engine = create_store_engine(store_url)
        statements: list[str] = []
        event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
        with named_lock(engine, "sync:default") as lock:
            first = holder()
            lock.verify()
            assert statements[-1].startswith("SELECT pg_try_advisory_lock")  # a quiet session costs no query
            assert pg_server.terminate_backends(database) >= 1
            deadline = time.monotonic() + 10
            while holder() == first and time.monotonic() < deadline:
                time.sleep(0.05)
            lock.verify()
            assert holder() not in (None, first)
        assert holder() is None
        engine.dispose()


class TestStoreOpen:
    def test_repr_hides_password(self):
        from xops_provider.store import create_store_engine

        store = Store(engine=create_store_engine("postgresql://postgres:hunter2@127.0.0.1:1/none"))
        assert "hunter2" not in repr(store)
        store.close()


class TestSchemaMatchesModels:
    def test_migrations_match_table_definitions(self, store_url):
        from alembic.autogenerate import compare_metadata
        from alembic.runtime.migration import MigrationContext

        from xops_provider.store.tables import metadata

        engine = create_store_engine(store_url)
        upgrade_schema(engine)
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"version_table": VERSION_TABLE, "compare_type": True}
            )
            assert compare_metadata(context, metadata) == []
        engine.dispose()


class TestUpgradeShortcut:
    def test_store_at_head_takes_no_lock(self, store_url, monkeypatch):
        from xops_provider.store import database

        engine = create_store_engine(store_url)
        upgrade_schema(engine)

        def no_lock(*_args, **_kwargs):
            raise AssertionError("the migration lock was taken for a store at head")

        monkeypatch.setattr(database, "named_lock", no_lock)
        upgrade_schema(engine)
        assert database.head_revision() == LATEST
        engine.dispose()


class TestFirstOpeningOfANewSqliteFile:
    def test_processes_opening_one_new_file_at_once_all_succeed(self, tmp_path):
        # SQLite may refuse the switch to WAL with "database is locked" without waiting on
        # busy_timeout when two connections make it at once; the store retries it.
        # Every process opens the file at the same instant, after its interpreter has started.
        code = (
            "import sys, time\nfrom xops_provider.store import Store\n"
            "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\nStore.open(sys.argv[1]).close()\n"
        )
        for attempt in range(2):
            url = f"sqlite:///{tmp_path / f'new-{attempt}.db'}"
            start = str(time.time() + 2)
            procs = [
                subprocess.Popen(
                    [sys.executable, "-c", code, url, start], cwd=REPO, stderr=subprocess.PIPE, text=True
                )
                for _ in range(4)
            ]
            errors = [proc.communicate(timeout=120)[1] for proc in procs]
            assert [proc.returncode for proc in procs] == [0, 0, 0, 0], "\n---\n".join(errors)
