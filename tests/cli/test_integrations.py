"""``xops integrations``: connections from ``AIRFLOW_CONN_*``, the store on a real SQLite file."""

from __future__ import annotations

import json

import pytest

from tests.faults.helpers import set_watermark, store_conn_env
from xops_provider.cli import main
from xops_provider.models.health import CONNECTED, RunOutcome
from xops_provider.models.timestamps import GraphTime
from xops_provider.store import Store

STORE = ["--store-conn-id", "xops_cli_store"]


def _conn(tenant_id: str) -> str:
    return json.dumps(
        {
            "conn_type": "ms_tenant",
            "login": "11111111-2222-3333-4444-555555555555",
            "password": "integrations-test-secret",
            "extra": {"tenant_id": tenant_id},
        }
    )


@pytest.fixture
def url(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/stories.db"
    monkeypatch.setenv("AIRFLOW_CONN_XOPS_CLI_STORE", store_conn_env(url))
    monkeypatch.setenv("AIRFLOW_CONN_MS_ACME", _conn("tenant-acme"))
    monkeypatch.setenv("AIRFLOW_CONN_MS_ACME_AGAIN", _conn("tenant-acme"))
    monkeypatch.delenv("AIRFLOW_CONN_MS_TENANT_DEFAULT", raising=False)
    return url


def run(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["integrations", *args, *STORE])
    out, err = capsys.readouterr()
    return code, out, err


class TestAdd:
    def test_add_then_list_and_show(self, url, capsys):
        code, out, _ = run(capsys, "add", "acme", "--conn-id", "ms_acme", "--description", "Acme Corp")
        assert code == 0
        assert "tenant:          tenant-acme" in out
        code, out, _ = run(capsys, "list")
        assert code == 0
        assert "acme" in out
        assert "Never run" in out
        code, out, _ = run(capsys, "show", "acme")
        assert code == 0
        assert "Acme Corp" in out
        assert "lag:             unknown" in out
        assert "integrations-test-secret" not in out

    def test_second_integration_for_the_tenant_is_refused(self, url, capsys):
        assert run(capsys, "add", "acme", "--conn-id", "ms_acme")[0] == 0
        code, _, err = run(capsys, "add", "acme2", "--conn-id", "ms_acme_again")
        assert code == 1
        assert (
            "tenant 'tenant-acme' already has a Microsoft Defender for Office 365 integration: 'acme'" in err
        )

    def test_missing_parent_connection_is_named(self, url, capsys):
        code, _, err = run(capsys, "add", "ghost", "--conn-id", "ms_ghost")
        assert code == 1
        assert "parent connection 'ms_ghost' not found" in err
        with Store.open(url) as store:
            assert store.integrations.list() == []


class TestShow:
    def test_health_and_lag(self, url, capsys):
        assert run(capsys, "add", "acme", "--conn-id", "ms_acme")[0] == 0
        watermark = GraphTime.now().shift(seconds=-7200)
        set_watermark(url, integration="acme", tenant_id="tenant-acme", watermark=watermark)
        with Store.open(url) as store:
            store.integrations.record_run("acme", RunOutcome(ok=True, status=CONNECTED, throttled=4))
        code, out, _ = run(capsys, "show", "acme")
        assert code == 0
        assert "status:          Connected" in out
        assert "lag:             2h 0m" in out
        assert "throttled (429): 4" in out
        assert "runs:            1" in out

    def test_unknown(self, url, capsys):
        code, _, err = run(capsys, "show", "nope")
        assert code == 1
        assert "'nope' does not exist" in err


class TestToggleAndRemove:
    def test_disable_enable(self, url, capsys):
        run(capsys, "add", "acme", "--conn-id", "ms_acme")
        assert run(capsys, "disable", "acme")[0] == 0
        with Store.open(url) as store:
            assert store.integrations.enabled() == []
        assert run(capsys, "enable", "acme")[0] == 0
        with Store.open(url) as store:
            assert [i.name for i in store.integrations.enabled()] == ["acme"]

    def test_remove_keeps_data_unless_purged(self, url, capsys):
        run(capsys, "add", "acme", "--conn-id", "ms_acme")
        with Store.open(url) as store:
            store.sync.commit_batch(
                integration="acme",
                tenant_id="tenant-acme",
                versions=[],
                quarantined=[],
                watermark=None,
                seen=[],
                overlap_seconds=300,
                lookback_start=GraphTime.now(),
            )
        code, out, _ = run(capsys, "remove", "acme")
        assert code == 0
        assert "sync_state" not in out
        with Store.open(url) as store:
            assert store.sync.sync_state("acme") is not None
        run(capsys, "add", "acme", "--conn-id", "ms_acme")
        code, out, _ = run(capsys, "remove", "acme", "--purge")
        assert code == 0
        assert "sync_state: 1 row(s) deleted" in out
        with Store.open(url) as store:
            assert store.sync.sync_state("acme") is None
            assert store.integrations.list() == []


class TestImplicitDefault:
    @pytest.fixture
    def default_conn(self, url, monkeypatch):
        monkeypatch.setenv("AIRFLOW_CONN_MS_TENANT_DEFAULT", _conn("tenant-default"))
        return url

    def test_listed_without_a_row(self, default_conn, capsys):
        code, out, _ = run(capsys, "list")
        assert code == 0
        assert "default (implicit)" in out
        with Store.open(default_conn) as store:
            assert store.integrations.list() == []

    def test_disable_gives_it_a_row(self, default_conn, capsys):
        assert run(capsys, "disable", "default")[0] == 0
        with Store.open(default_conn) as store:
            [row] = store.integrations.list()
            assert (row.name, row.enabled, row.tenant_id) == ("default", False, "tenant-default")
            assert store.integrations.enabled(default_tenant_id="tenant-default") == []

    def test_remove_without_purge_says_disable(self, default_conn, capsys):
        code, _, err = run(capsys, "remove", "default")
        assert code == 1
        assert "disable it instead" in err

    def test_its_tenant_is_taken(self, default_conn, monkeypatch, capsys):
        monkeypatch.setenv("AIRFLOW_CONN_MS_SAME", _conn("tenant-default"))
        code, _, err = run(capsys, "add", "same", "--conn-id", "ms_same")
        assert code == 1
        assert "'default'" in err
