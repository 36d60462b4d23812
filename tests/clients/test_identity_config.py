"""Tenant settings, the cloud table and the admin-consent URL (no network)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from xops_provider.clients.errors import CredentialError
from xops_provider.clients.identity import (
    CLOUDS,
    PLANNED_PERMISSIONS,
    REQUIRED_PERMISSIONS,
    TenantConfig,
    admin_consent_url,
    build_token_provider,
    load_certificate_credential,
    parse_verify,
    shared_token_provider,
)

TENANT = "contoso.onmicrosoft.com"


def _config(**overrides) -> TenantConfig:
    values = {"tenant_id": TENANT, "client_id": "app-id", "client_secret": "s3cret-value"}
    values.update(overrides)
    return TenantConfig(**values)


class TestClouds:
    @pytest.mark.parametrize(
        ("cloud", "authority", "graph"),
        [
            pytest.param(
                "public", "https://login.microsoftonline.com", "https://graph.microsoft.com", id="public"
            ),
            pytest.param(
                "usgov", "https://login.microsoftonline.us", "https://graph.microsoft.us", id="usgov-l4"
            ),
            pytest.param(
                "usgov-dod",
                "https://login.microsoftonline.us",
                "https://dod-graph.microsoft.us",
                id="usgov-l5",
            ),
        ],
    )
    def test_cloud_hosts_and_scope(self, cloud, authority, graph):
        config = _config(cloud=cloud)
        assert config.authority == authority
        assert config.graph_base_url == graph
        assert config.scope == f"{graph}/.default"

    def test_overrides_win_and_lose_trailing_slash(self):
        config = _config(
            cloud="usgov", authority_host="https://127.0.0.1:8443/", graph_endpoint="https://127.0.0.1:9443/"
        )
        assert config.authority == "https://127.0.0.1:8443"
        assert config.graph_base_url == "https://127.0.0.1:9443"
        assert config.scope == "https://127.0.0.1:9443/.default"

    def test_china_is_not_offered(self):
        assert set(CLOUDS) == {"public", "usgov", "usgov-dod"}


class TestTenantConfigValidation:
    @pytest.mark.parametrize(
        ("overrides", "message"),
        [
            pytest.param({"tenant_id": ""}, "tenant_id is required", id="no-tenant"),
            pytest.param({"cloud": "china"}, "cloud must be one of", id="unknown-cloud"),
            pytest.param({"client_id": None}, "client .application. id is required", id="no-client-id"),
            pytest.param({"client_secret": None}, "no credential", id="no-credential"),
            pytest.param(
                {"authority_host": "http://login.example"}, "authority_host must be an https", id="http"
            ),
            pytest.param(
                {"graph_endpoint": "graph.microsoft.com"}, "graph_endpoint must be an https", id="bare"
            ),
        ],
    )
    def test_refused(self, overrides, message):
        with pytest.raises(ValueError, match=message):
            _config(**overrides)

    def test_secret_never_in_repr(self):
        config = _config()
        assert "s3cret-value" not in repr(config)
        assert "s3cret-value" not in str(config.cache_key())

    def test_credential_kinds(self):
        assert _config().credential_kind == "secret"
        assert _config(client_secret=None, certificate_path="/x.pem").credential_kind == "certificate"
        assert _config(client_secret=None, client_id=None, use_workload_identity=True).credential_kind == (
            "workload_identity"
        )

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            pytest.param(None, True, id="absent"),
            pytest.param("", True, id="empty"),
            pytest.param(True, True, id="bool-true"),
            pytest.param(False, False, id="bool-false"),
            pytest.param("false", False, id="text-false"),
            pytest.param("True", True, id="text-true"),
        ],
    )
    def test_parse_verify(self, raw, expected):
        assert parse_verify(raw) is expected

    def test_parse_verify_path(self, tmp_path):
        bundle = tmp_path / "ca.pem"
        bundle.write_text("x")
        assert parse_verify(str(bundle)) == str(bundle)
        with pytest.raises(ValueError, match="does not exist"):
            parse_verify(str(tmp_path / "missing.pem"))


class TestTokenProviders:
    def test_shared_per_tenant_app_and_secret(self):
        first = shared_token_provider(_config())
        assert shared_token_provider(_config()) is first
        assert shared_token_provider(_config(client_secret="rotated-secret")) is not first
        assert shared_token_provider(_config(tenant_id="fabrikam.onmicrosoft.com")) is not first

    def test_building_does_no_io(self):
        # MSAL's constructor talks to the authority; the provider defers it to the first token.
        provider = build_token_provider(_config(authority_host="https://127.0.0.1:1"))
        assert "s3cret-value" not in repr(provider)

    def test_workload_identity_uses_azure_identity(self):
        provider = build_token_provider(_config(client_secret=None, use_workload_identity=True))
        assert type(provider).__name__ == "AzureIdentityTokenProvider"


class TestCertificateCredential:
    @pytest.fixture(scope="class")
    def pem(self, tmp_path_factory):
        from tests.certificates import app_certificate

        made = app_certificate("xops app")
        return made.write_pem(tmp_path_factory.mktemp("cert") / "app.pem"), made.sha1

    def test_with_thumbprint(self, pem):
        path, sha1 = pem
        credential = load_certificate_credential(
            str(path), ":".join(sha1[i : i + 2] for i in range(0, 40, 2))
        )
        assert credential["thumbprint"] == sha1.upper()
        assert "BEGIN PRIVATE KEY" in credential["private_key"]
        assert "BEGIN CERTIFICATE" in credential["public_certificate"]

    def test_without_thumbprint_msal_derives_it(self, pem):
        path, _ = pem
        credential = load_certificate_credential(str(path), None)
        assert "thumbprint" not in credential
        assert credential["public_certificate"]

    def test_wrong_thumbprint(self, pem):
        path, _ = pem
        with pytest.raises(CredentialError, match="does not match"):
            load_certificate_credential(str(path), "00" * 20)

    def test_missing_file(self, tmp_path):
        with pytest.raises(CredentialError, match="cannot read certificate_path"):
            load_certificate_credential(str(tmp_path / "nope.pem"), None)

    def test_no_key(self, tmp_path):
        path = tmp_path / "cert-only.pem"
        path.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
        with pytest.raises(CredentialError, match="no unencrypted PEM private key"):
            load_certificate_credential(str(path), None)


class TestAdminConsentUrl:
    def test_v2_url(self):
        url = admin_consent_url(
            _config(client_id="11111111-2222-3333-4444-555555555555"),
            redirect_uri="https://airflow.example/stories/consent",
            state="xyz 1",
        )
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
            f"https://login.microsoftonline.com/{TENANT}/v2.0/adminconsent"
        )
        assert parse_qs(parts.query) == {
            "client_id": ["11111111-2222-3333-4444-555555555555"],
            "scope": ["https://graph.microsoft.com/.default"],
            "redirect_uri": ["https://airflow.example/stories/consent"],
            "state": ["xyz 1"],
        }

    def test_sovereign_cloud_and_no_state(self):
        url = admin_consent_url(_config(cloud="usgov-dod"), redirect_uri="https://x/cb")
        assert url.startswith(f"https://login.microsoftonline.us/{TENANT}/v2.0/adminconsent?")
        assert "scope=https%3A%2F%2Fdod-graph.microsoft.us%2F.default" in url
        assert "state=" not in url

    def test_permissions(self):
        assert list(REQUIRED_PERMISSIONS) == ["SecurityIncident.Read.All"]
        assert set(PLANNED_PERMISSIONS) == {
            "SecurityAlert.Read.All",
            "ThreatHunting.Read.All",
            "SecurityIncident.ReadWrite.All",
        }


class TestAzureIdentitySelection:
    """Which azure-identity credential ``use_workload_identity`` builds (construction does no I/O)."""

    def _credential(self):
        from xops_provider.clients.identity import _azure_identity_factory

        return _azure_identity_factory(_config(client_secret=None, use_workload_identity=True))()

    def test_workload_identity_with_a_federated_token_file(self, monkeypatch, tmp_path):
        from azure.identity import WorkloadIdentityCredential

        token_file = tmp_path / "token"
        token_file.write_text("x")
        monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(token_file))
        assert isinstance(self._credential(), WorkloadIdentityCredential)

    def test_managed_identity_otherwise(self, monkeypatch):
        from azure.identity import ManagedIdentityCredential

        monkeypatch.delenv("AZURE_FEDERATED_TOKEN_FILE", raising=False)
        assert isinstance(self._credential(), ManagedIdentityCredential)
