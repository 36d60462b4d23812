"""``xops tenant`` and ``xops incidents``, and the connection lookup they share."""

# ruff: noqa: F811 - the simulator fixtures are imported by name

from __future__ import annotations

import json
import os
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.clients.simulator_support import secret_of, sim, tokens_issued  # noqa: F401 - fixtures
from xops_provider.cli import main
from xops_provider.cli.connections import ConnectionNotFound, get_connection

SECRET = "cli-test-secret-value-42"
CONN = {
    "conn_type": "ms_tenant",
    "login": "11111111-2222-3333-4444-555555555555",
    "password": SECRET,
    "extra": {"tenant_id": "contoso.onmicrosoft.com", "cloud": "usgov"},
}


@pytest.fixture
def env_connection(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_MS_TENANT_CLI", json.dumps(CONN))
    return "ms_tenant_cli"


class TestGetConnection:
    def test_environment(self, env_connection):
        conn = get_connection(env_connection)
        assert conn.conn_type == "ms_tenant"
        assert conn.extra_dejson["tenant_id"] == "contoso.onmicrosoft.com"

    def test_missing(self):
        with pytest.raises(ConnectionNotFound, match="AIRFLOW_CONN_NOT_THERE"):
            get_connection("not_there")

    def test_metadata_db(self, airflow_cli, capsys):
        """A connection that lives only in the metadata DB, as ``airflow connections add`` stores it."""
        conn = {**CONN, "extra": {**CONN["extra"], "cloud": "usgov-dod"}}
        from airflow.configuration import conf

        # Encrypt with the key this process decrypts with (its config may predate airflow.cfg).
        fernet = {"AIRFLOW__CORE__FERNET_KEY": conf.get("core", "fernet_key", fallback="")}
        added = airflow_cli.run(
            "connections", "add", "ms_tenant_in_db", "--conn-json", json.dumps(conn), extra_env=fernet
        )
        assert added.returncode == 0, added.stderr[-2000:]
        # This process shares the session's AIRFLOW_HOME, so its metadata DB is the one just written;
        # no AIRFLOW_CONN_* variable defines the connection.
        assert "AIRFLOW_CONN_MS_TENANT_IN_DB" not in os.environ
        assert get_connection("ms_tenant_in_db").extra_dejson["cloud"] == "usgov-dod"
        code = main(
            ["tenant", "consent-url", "--conn-id", "ms_tenant_in_db", "--redirect-uri", "https://a/cb"]
        )
        out, err = capsys.readouterr()
        assert code == 0, err
        assert out.startswith("https://login.microsoftonline.us/contoso.onmicrosoft.com/v2.0/adminconsent?")
        assert "dod-graph.microsoft.us" in out
        assert SECRET not in out + err


class TestConsentUrlCommand:
    def test_prints_url_and_permissions(self, env_connection, capsys):
        code = main(
            [
                "tenant",
                "consent-url",
                "--conn-id",
                env_connection,
                "--redirect-uri",
                "https://airflow.example/stories/consent",
                "--state",
                "abc",
            ]
        )
        out, err = capsys.readouterr()
        assert code == 0, err
        url = out.splitlines()[0]
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
            "https://login.microsoftonline.us/contoso.onmicrosoft.com/v2.0/adminconsent"
        )
        assert parse_qs(parts.query) == {
            "client_id": [CONN["login"]],
            "scope": ["https://graph.microsoft.us/.default"],
            "redirect_uri": ["https://airflow.example/stories/consent"],
            "state": ["abc"],
        }
        for permission in (
            "SecurityIncident.Read.All",
            "SecurityAlert.Read.All",
            "ThreatHunting.Read.All",
            "SecurityIncident.ReadWrite.All",
        ):
            assert permission in out
        assert SECRET not in out + err

    def test_unknown_connection(self, capsys):
        code = main(["tenant", "consent-url", "--conn-id", "nope", "--redirect-uri", "https://x/cb"])
        _, err = capsys.readouterr()
        assert code == 2
        assert "connection 'nope' is not defined" in err

    def test_invalid_connection(self, monkeypatch, capsys):
        monkeypatch.setenv(
            "AIRFLOW_CONN_MS_TENANT_BAD", json.dumps({**CONN, "extra": {"tenant_id": "t", "cloud": "mars"}})
        )
        code = main(["tenant", "consent-url", "--conn-id", "ms_tenant_bad", "--redirect-uri", "https://x/cb"])
        _, err = capsys.readouterr()
        assert code == 2
        assert "cloud must be one of" in err
        assert SECRET not in err

    def test_redirect_uri_is_required(self, env_connection):
        with pytest.raises(SystemExit):
            main(["tenant", "consent-url", "--conn-id", env_connection])


class TestTenantTestCommand:
    def test_success(self, sim, capsys):
        code = main(["tenant", "test", "--conn-id", "ms_tenant_default"])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert out.startswith("Connected")

    def test_failure_exit_code(self, sim, monkeypatch, capsys):
        monkeypatch.setenv(
            "AIRFLOW_CONN_MS_TENANT_WRONG", json.dumps({**sim.connection, "password": "nope-nope"})
        )
        code = main(["tenant", "test", "--conn-id", "ms_tenant_wrong"])
        out, err = capsys.readouterr()
        assert code == 1
        assert "AADSTS7000215" in err
        assert "nope-nope" not in out + err


class TestIncidentsList:
    HOSTILE = "Pay\u202eexe.pdf invoice\x1b[2J\x07 from \u200bceo"

    def test_table(self, sim, capsys):
        sim.admin.load_scenario("generated", incidents=60)
        code = main(["incidents", "list", "--top", "55"])
        out, err = capsys.readouterr()
        assert code == 0, err
        lines = out.splitlines()
        assert lines[0].split() == ["ID", "LAST", "UPDATE", "STATUS", "SEVERITY", "TITLE"]
        assert len(lines) == 2 + 55  # header, rule, rows (two pages)
        assert secret_of(sim) not in out + err

    def test_hostile_title_is_escaped(self, sim, capsys):
        created = sim.admin.create_incident(displayName=self.HOSTILE)
        code = main(["incidents", "list", "--top", "5"])
        out, _ = capsys.readouterr()
        assert code == 0
        assert created["id"] in out
        for raw in ("\u202e", "\x1b", "\x07", "\u200b"):
            assert raw not in out
        assert "\\u202e" in out
        assert "\\u001b[2J" in out

    def test_since_filters(self, sim, capsys):
        sim.admin.load_scenario("generated", incidents=30)
        incidents = sim.admin.incidents()
        newest = max(incidents, key=lambda i: i["lastUpdateDateTime"])
        code = main(["incidents", "list", "--since", newest["lastUpdateDateTime"]])
        out, err = capsys.readouterr()
        assert code == 0, err
        rows = out.splitlines()[2:]
        assert [row.split()[0] for row in rows] == [newest["id"]]

    def test_bad_since(self, sim, capsys):
        assert main(["incidents", "list", "--since", "yesterday"]) == 2
        assert "--since" in capsys.readouterr().err

    def test_graph_error_is_reported(self, sim, capsys):
        sim.admin.set_roles(sim.client_id, [], revoke_tokens=True)
        code = main(["incidents", "list"])
        _, err = capsys.readouterr()
        assert code == 1
        assert "GraphForbiddenError" in err
