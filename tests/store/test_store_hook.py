from __future__ import annotations

import json

import pytest

from xops_provider.hooks.store import StoreHook
from xops_provider.store.database import default_sqlite_path


class TestStoreHook:
    def test_attributes(self):
        assert StoreHook.conn_name_attr == "xops_store_conn_id"
        assert StoreHook.default_conn_name == "xops_store"

    def test_sqlite_uri_from_environment(self, tmp_path, monkeypatch):
        path = tmp_path / "custom" / "stories.db"
        monkeypatch.setenv("AIRFLOW_CONN_XOPS_STORE", f"sqlite:///{path}")
        hook = StoreHook()
        store = hook.get_store()
        try:
            assert store.engine.url.database == str(path)
            assert store.reads.counts()["stories"] == 0
        finally:
            store.close()
        assert path.exists()

    def test_postgresql_uri_from_environment(self, pg_server, monkeypatch):
        name = pg_server.create()
        try:
            # Airflow parses this into conn type "postgres"; get_uri() would answer postgres://.
            monkeypatch.setenv("AIRFLOW_CONN_XOPS_STORE", pg_server.url(name) + "?sslmode=disable")
            hook = StoreHook()
            store = hook.get_store()
            try:
                url = store.engine.url
                assert (url.drivername, url.database, url.query) == (
                    "postgresql+psycopg",
                    name,
                    {"sslmode": "disable"},
                )
                assert store.reads.counts()["raw_versions"] == 0
            finally:
                store.close()
        finally:
            pg_server.drop(name)

    def test_json_connection_with_path_in_host(self, tmp_path, monkeypatch):
        path = tmp_path / "j.db"
        monkeypatch.setenv("AIRFLOW_CONN_XOPS_STORE", json.dumps({"conn_type": "sqlite", "host": str(path)}))
        with StoreHook().get_store() as store:
            assert store.engine.url.database == str(path)

    def test_falls_back_to_embedded_sqlite(self, tmp_path, monkeypatch):
        monkeypatch.delenv("AIRFLOW_CONN_XOPS_STORE", raising=False)
        monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
        hook = StoreHook()
        ok, message = hook.test_connection()
        assert ok, message
        assert default_sqlite_path(tmp_path).exists()

    def test_missing_custom_connection_is_an_error(self, monkeypatch):
        monkeypatch.delenv("AIRFLOW_CONN_MY_STORE", raising=False)
        with pytest.raises(Exception, match="my_store"):
            StoreHook(xops_store_conn_id="my_store").get_store()

    def test_test_connection_hides_password(self, monkeypatch):
        monkeypatch.setenv("AIRFLOW_CONN_XOPS_STORE", "postgresql://postgres:s3cr3t-pw@127.0.0.1:1/nope")
        ok, message = StoreHook().test_connection()
        assert not ok
        assert "s3cr3t-pw" not in message
