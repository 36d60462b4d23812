"""MsTenantHook: connection mapping, credentials and test_connection() against the simulator."""

# ruff: noqa: F811 - the simulator fixtures are imported by name

from __future__ import annotations

import datetime as dt
import json
import socket
import uuid
from pathlib import Path

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.certificates import app_certificate as make_app_certificate
from tests.clients.simulator_support import secret_of, sim, tokens_issued  # noqa: F401 - fixtures
from xops_provider.clients.graph import INCIDENTS_PATH, GraphClient
from xops_provider.hooks.ms_tenant import MsTenantHook
from xops_provider.simulator.tls import ensure_tls

CONN_ID = "ms_tenant_hook_test"


def _use(monkeypatch, connection: dict, conn_id: str = CONN_ID) -> MsTenantHook:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))
    return MsTenantHook(ms_tenant_conn_id=conn_id)


def _with_extra(connection: dict, **extra) -> dict:
    return {**connection, "extra": {**connection["extra"], **extra}}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def app_certificate(tmp_path_factory) -> tuple[Path, str, rsa.RSAPrivateKey, x509.Certificate]:
    """A PEM with the app's private key and its self-signed certificate, and the SHA-1 thumbprint."""
    made = make_app_certificate()
    path = made.write_pem(tmp_path_factory.mktemp("app-cert") / "app.pem")
    return path, made.sha1.upper(), made.key, made.cert


class TestHookAttributes:
    def test_airflow_attributes(self):
        assert MsTenantHook.conn_type == "ms_tenant"
        assert MsTenantHook.conn_name_attr == "ms_tenant_conn_id"
        assert MsTenantHook.default_conn_name == "ms_tenant_default"
        assert MsTenantHook.hook_name

    def test_default_connection_id(self):
        assert MsTenantHook().ms_tenant_conn_id == "ms_tenant_default"


class TestConfigFromConnection:
    BASE = {
        "conn_type": "ms_tenant",
        "login": "app-id",
        "password": "the-secret-value",
        "extra": {"tenant_id": "contoso.onmicrosoft.com"},
    }

    def test_defaults_to_public_cloud(self, monkeypatch):
        config = _use(monkeypatch, self.BASE).tenant_config
        assert config.authority == "https://login.microsoftonline.com"
        assert config.graph_base_url == "https://graph.microsoft.com"
        assert config.client_id == "app-id"
        assert config.verify is True
        assert config.credential_kind == "secret"

    @pytest.mark.parametrize(
        ("extra", "attribute", "expected"),
        [
            pytest.param(
                {"cloud": "USGov"}, "graph_base_url", "https://graph.microsoft.us", id="cloud-any-case"
            ),
            pytest.param(
                {"cloud": "usgov-dod"}, "graph_base_url", "https://dod-graph.microsoft.us", id="usgov-dod"
            ),
            pytest.param({"verify": "false"}, "verify", False, id="verify-false-text"),
            pytest.param({"verify": False}, "verify", False, id="verify-false-bool"),
            pytest.param(
                {"use_workload_identity": "true"}, "credential_kind", "workload_identity", id="wi-text"
            ),
            pytest.param({"cloud": ""}, "authority", "https://login.microsoftonline.com", id="empty-cloud"),
            pytest.param(
                {"extra__ms_tenant__graph_endpoint": "https://graph.example"},
                "graph_base_url",
                "https://graph.example",
                id="prefixed-extra",
            ),
        ],
    )
    def test_extras(self, monkeypatch, extra, attribute, expected):
        config = _use(monkeypatch, _with_extra(self.BASE, **extra)).tenant_config
        assert getattr(config, attribute) == expected

    @pytest.mark.parametrize(
        ("extra", "message"),
        [
            pytest.param({"cloud": "china"}, "cloud must be one of", id="china"),
            pytest.param({"tenant_id": ""}, "tenant_id is required", id="no-tenant"),
            pytest.param({"verify": "/nonexistent/ca.pem"}, "does not exist", id="missing-ca"),
            pytest.param({"authority_host": "http://127.0.0.1:1"}, "must be an https", id="plain-http"),
        ],
    )
    def test_invalid(self, monkeypatch, extra, message):
        hook = _use(monkeypatch, _with_extra(self.BASE, **extra))
        with pytest.raises(ValueError, match=f"ms_tenant connection '{CONN_ID}'.*{message}"):
            _ = hook.tenant_config
        ok, text = hook.test_connection()
        assert not ok
        assert text.startswith("Invalid connection")
        assert "the-secret-value" not in text

    def test_resolved_connection_is_used_as_given(self):
        from airflow.sdk import Connection

        conn = Connection(
            conn_id="given",
            conn_type="ms_tenant",
            login="a",
            password="b" * 8,
            extra=json.dumps({"tenant_id": "t"}),
        )
        hook = MsTenantHook(ms_tenant_conn_id="given", connection=conn)
        assert hook.tenant_config.tenant_id == "t"

    def test_consent_url(self, monkeypatch):
        url = _use(monkeypatch, self.BASE).consent_url(redirect_uri="https://x/cb", state="s")
        assert url.startswith("https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0/adminconsent?")
        assert "client_id=app-id" in url


class TestTestConnection:
    def test_success(self, sim, monkeypatch):
        ok, message = _use(monkeypatch, sim.connection).test_connection()
        assert ok, message
        assert message.startswith("Connected")
        assert secret_of(sim) not in message

    def test_unknown_tenant(self, sim, monkeypatch):
        hook = _use(monkeypatch, _with_extra(sim.connection, tenant_id=str(uuid.uuid4())))
        ok, message = hook.test_connection()
        assert not ok
        assert message.startswith("Unknown tenant")

    def test_wrong_secret(self, sim, monkeypatch):
        hook = _use(monkeypatch, {**sim.connection, "password": "wrong-secret-value"})
        ok, message = hook.test_connection()
        assert not ok
        assert "AADSTS7000215" in message
        assert "client secret is wrong" in message
        assert "wrong-secret-value" not in message

    def test_unregistered_app(self, sim, monkeypatch):
        hook = _use(monkeypatch, {**sim.connection, "login": str(uuid.uuid4())})
        ok, message = hook.test_connection()
        assert not ok
        assert "AADSTS700016" in message

    def test_missing_permission(self, sim, monkeypatch):
        sim.admin.set_roles(sim.client_id, [], revoke_tokens=True)
        ok, message = _use(monkeypatch, sim.connection).test_connection()
        assert not ok
        assert "403" in message
        assert "SecurityIncident.Read.All" in message

    def test_unreachable_host(self, sim, monkeypatch):
        dead = f"https://127.0.0.1:{_free_port()}"
        hook = _use(monkeypatch, _with_extra(sim.connection, authority_host=dead))
        ok, message = hook.test_connection()
        assert not ok
        assert message.startswith("Unreachable")

    def test_unreachable_graph(self, sim, monkeypatch):
        # Identity answers, Graph does not: the scope names the dead endpoint, so identity refuses it
        # unless the token is issued first; either way the message must not be "Connected".
        dead = f"https://127.0.0.1:{_free_port()}"
        hook = _use(monkeypatch, _with_extra(sim.connection, graph_endpoint=dead))
        ok, message = hook.test_connection()
        assert not ok
        assert message.startswith(("Unreachable", "Token refused"))

    def test_tls_failure(self, sim, monkeypatch, tmp_path):
        foreign_ca = ensure_tls(tmp_path).ca_path
        hook = _use(monkeypatch, _with_extra(sim.connection, verify=str(foreign_ca)))
        ok, message = hook.test_connection()
        assert not ok
        assert message.startswith("TLS failure")
        assert "verify" in message

    def test_environment_ca_bundle_does_not_override_verify(self, sim, monkeypatch):
        # This machine sets REQUESTS_CA_BUNDLE to the system store, which lacks the test CA.
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
        monkeypatch.setenv("CURL_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
        ok, message = _use(monkeypatch, sim.connection).test_connection()
        assert ok, message


class TestGraphClientFromHook:
    def test_client_is_reused_by_the_hook(self, sim, monkeypatch):
        hook = _use(monkeypatch, sim.connection)
        client = hook.get_graph_client()
        assert isinstance(client, GraphClient)
        assert hook.get_conn() is client
        assert client.base_url == sim.base_url

    def test_one_token_for_many_hooks_and_calls(self, sim, monkeypatch):
        sim.admin.load_scenario("generated", incidents=60)
        sim.admin.reset_counters()
        for _ in range(3):
            hook = _use(monkeypatch, sim.connection)
            client = hook.get_graph_client()
            client.get(INCIDENTS_PATH, {"$top": 1})
            list(client.iter_pages(INCIDENTS_PATH, {"$top": 50}))
        assert sim.admin.count(route="/v1.0/security/incidents") == 9
        assert tokens_issued(sim) == 1


class TestCertificateCredential:
    @pytest.mark.parametrize(
        "with_thumbprint",
        [pytest.param(True, id="sha1-thumbprint"), pytest.param(False, id="sha256-derived")],
    )
    def test_token_with_certificate(self, sim, monkeypatch, app_certificate, with_thumbprint):
        path, thumbprint, _, cert = app_certificate
        sim.admin.add_certificate(sim.client_id, cert.public_bytes(serialization.Encoding.PEM).decode())
        extra = {"certificate_path": str(path)}
        if with_thumbprint:
            extra["certificate_thumbprint"] = thumbprint
        connection = _with_extra({**sim.connection, "password": None}, **extra)
        ok, message = _use(monkeypatch, connection).test_connection()
        assert ok, message

    def test_unregistered_certificate(self, sim, monkeypatch, app_certificate):
        path, thumbprint, _, _ = app_certificate
        connection = _with_extra(
            {**sim.connection, "password": None},
            certificate_path=str(path),
            certificate_thumbprint=thumbprint,
        )
        ok, message = _use(monkeypatch, connection).test_connection()
        assert not ok
        assert "AADSTS700027" in message

    def test_thumbprint_mismatch(self, sim, monkeypatch, app_certificate):
        path, _, _, _ = app_certificate
        connection = _with_extra(
            {**sim.connection, "password": None}, certificate_path=str(path), certificate_thumbprint="AB" * 20
        )
        ok, message = _use(monkeypatch, connection).test_connection()
        assert not ok
        assert "does not match" in message


class TestWorkloadIdentity:
    def test_federated_token_file(self, sim, monkeypatch, tmp_path, app_certificate):
        """``WorkloadIdentityCredential`` posts the federated token as a ``client_assertion``.

        Entra would check a Kubernetes-issued token against the app's federated credential; the
        simulator checks assertions against registered certificates, so the token file here is a
        JWT signed with a registered certificate (issuer and subject the client id).
        """
        _, _, key, cert = app_certificate
        sim.admin.add_certificate(sim.client_id, cert.public_bytes(serialization.Encoding.PEM).decode())
        tenant = sim.connection["extra"]["tenant_id"]
        now = dt.datetime.now(dt.UTC)
        assertion = jwt.encode(
            {
                "iss": sim.client_id,
                "sub": sim.client_id,
                "aud": f"{sim.base_url}/{tenant}/oauth2/v2.0/token",
                "iat": now,
                "nbf": now,
                "exp": now + dt.timedelta(minutes=10),
                "jti": str(uuid.uuid4()),
            },
            key,
            algorithm="RS256",
            headers={"x5t": jwt.utils.base64url_encode(cert.fingerprint(hashes.SHA1())).decode()},
        )
        token_file = tmp_path / "azure-identity-token"
        token_file.write_text(assertion)
        monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(token_file))
        connection = _with_extra({**sim.connection, "password": None}, use_workload_identity=True)
        hook = _use(monkeypatch, connection)
        ok, message = hook.test_connection()
        assert ok, message
        sim.admin.reset_counters()
        hook.get_graph_client().get(INCIDENTS_PATH, {"$top": 1})
        assert tokens_issued(sim) == 0  # azure-identity caches the token too

    def test_revoked_token_is_replaced(self, sim, monkeypatch, tmp_path, app_certificate):
        _, _, key, cert = app_certificate
        sim.admin.add_certificate(sim.client_id, cert.public_bytes(serialization.Encoding.PEM).decode())
        tenant = sim.connection["extra"]["tenant_id"]
        now = dt.datetime.now(dt.UTC)
        assertion = jwt.encode(
            {
                "iss": sim.client_id,
                "sub": sim.client_id,
                "aud": f"{sim.base_url}/{tenant}/oauth2/v2.0/token",
                "iat": now,
                "exp": now + dt.timedelta(minutes=10),
            },
            key,
            algorithm="RS256",
            headers={"x5t": jwt.utils.base64url_encode(cert.fingerprint(hashes.SHA1())).decode()},
        )
        token_file = tmp_path / "token"
        token_file.write_text(assertion)
        monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(token_file))
        hook = _use(
            monkeypatch, _with_extra({**sim.connection, "password": None}, use_workload_identity=True)
        )
        client = hook.get_graph_client()
        client.get(INCIDENTS_PATH, {"$top": 1})
        sim.admin.revoke_tokens()
        client.get(INCIDENTS_PATH, {"$top": 1})
        assert client.counters.token_refreshes == 1

    def test_tls_failure(self, sim, monkeypatch, tmp_path):
        token_file = tmp_path / "token"
        token_file.write_text("not-used")
        monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(token_file))
        (tmp_path / "foreign").mkdir()
        foreign_ca = ensure_tls(tmp_path / "foreign").ca_path
        connection = _with_extra(
            {**sim.connection, "password": None}, use_workload_identity=True, verify=str(foreign_ca)
        )
        ok, message = _use(monkeypatch, connection).test_connection()
        assert not ok
        assert message.startswith("TLS failure")

    def test_refused_assertion(self, sim, monkeypatch, tmp_path):
        token_file = tmp_path / "token"
        token_file.write_text("eyJhbGciOiJub25lIn0.e30.")
        monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(token_file))
        connection = _with_extra({**sim.connection, "password": None}, use_workload_identity=True)
        ok, message = _use(monkeypatch, connection).test_connection()
        assert not ok
        assert message.startswith("Token refused")
