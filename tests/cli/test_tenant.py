"""``xops tenant`` and ``xops incidents``, and the connection lookup they share."""

from __future__ import annotations

import json
import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import pytest

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

    def test_metadata_db(self, airflow_cli):
        """A connection that lives only in the metadata DB, as ``airflow connections add`` stores it."""
        conn = {**CONN, "extra": {**CONN["extra"], "cloud": "usgov-dod"}}
        added = airflow_cli.run("connections", "add", "ms_tenant_in_db", "--conn-json", json.dumps(conn))
        assert added.returncode == 0, added.stderr[-2000:]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "xops_provider.cli",
                "tenant",
                "consent-url",
                "--conn-id",
                "ms_tenant_in_db",
                "--redirect-uri",
                "https://airflow.example/cb",
            ],
            env={k: v for k, v in airflow_cli.env.items() if not k.startswith("AIRFLOW_CONN_")},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout.startswith(
            "https://login.microsoftonline.us/contoso.onmicrosoft.com/v2.0/adminconsent?"
        )
        assert "dod-graph.microsoft.us" in result.stdout
        assert SECRET not in result.stdout + result.stderr


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
