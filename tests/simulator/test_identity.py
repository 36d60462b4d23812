from __future__ import annotations

import base64
import time
import uuid
from urllib.parse import parse_qs, urlsplit

import jwt
import msal
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.simulator.conftest import Graph, VerifyingSession, token_request
from xops_provider.simulator import CLIENT_ID, TENANT_ID
from xops_provider.simulator.identity import JWT_BEARER


def _msal(simulator, credential, *, tenant=None):
    return msal.ConfidentialClientApplication(
        simulator.client_id,
        client_credential=credential,
        authority=f"{simulator.base_url}/{tenant or simulator.tenant_id}",
        instance_discovery=False,
        http_client=VerifyingSession(str(simulator.ca_path)),
    )


def _scopes(simulator):
    return [f"{simulator.base_url}/.default"]


class TestDiscovery:
    def test_openid_configuration(self, simulator):
        session = VerifyingSession(str(simulator.ca_path))
        config = session.get(f"{simulator.base_url}/{TENANT_ID}/v2.0/.well-known/openid-configuration").json()
        assert config["token_endpoint"] == f"{simulator.base_url}/{TENANT_ID}/oauth2/v2.0/token"
        assert config["issuer"] == f"{simulator.base_url}/{TENANT_ID}/v2.0"
        assert config["authorization_endpoint"].startswith("https://")

    def test_unknown_tenant_makes_msal_raise(self, simulator):
        with pytest.raises(ValueError, match="tenant"):
            _msal(simulator, simulator.connection["password"], tenant=str(uuid.uuid4()))

    def test_unknown_tenant_answers_like_entra(self, simulator):
        session = VerifyingSession(str(simulator.ca_path))
        response = session.get(f"{simulator.base_url}/nope/v2.0/.well-known/openid-configuration")
        assert response.status_code == 400
        body = response.json()
        assert body["error"] == "invalid_tenant"
        assert body["error_codes"] == [90002]
        assert body["error_description"].startswith("AADSTS90002: Tenant 'nope' not found.")


class TestSecret:
    def test_msal_gets_a_working_token(self, simulator):
        result = _msal(simulator, simulator.connection["password"]).acquire_token_for_client(
            _scopes(simulator)
        )
        assert result.get("token_type") == "Bearer", result.get("error_description")
        assert result["expires_in"] > 3000
        assert Graph(simulator, result["access_token"]).list().status_code == 200

    def test_wrong_secret(self, simulator):
        result = _msal(simulator, "not-the-secret").acquire_token_for_client(_scopes(simulator))
        assert result["error"] == "invalid_client"
        assert result["error_description"].startswith("AADSTS7000215: Invalid client secret provided.")
        assert 7000215 in result["error_codes"]

    def test_wrong_secret_is_a_401(self, simulator):
        response = token_request(simulator, client_secret="not-the-secret")
        assert response.status_code == 401
        assert simulator.connection["password"] not in response.text

    def test_secret_in_basic_auth(self, simulator):
        session = VerifyingSession(str(simulator.ca_path))
        response = session.post(
            f"{simulator.base_url}/{TENANT_ID}/oauth2/v2.0/token",
            data={"grant_type": "client_credentials", "scope": f"{simulator.base_url}/.default"},
            auth=(CLIENT_ID, simulator.connection["password"]),
        )
        assert response.status_code == 200

    @pytest.mark.parametrize(
        ("overrides", "status", "error", "code"),
        [
            pytest.param(
                {"scope": "https://graph.microsoft.com/.default"}, 400, "invalid_scope", 70011, id="scope"
            ),
            pytest.param({"scope": None}, 400, "invalid_request", 90014, id="no-scope"),
            pytest.param(
                {"scope": "https://127.0.0.1/Incident.Read"}, 400, "invalid_scope", 1002012, id="not-default"
            ),
            pytest.param(
                {"client_id": str(uuid.uuid4())}, 400, "unauthorized_client", 700016, id="unknown-app"
            ),
            pytest.param({"client_secret": None}, 401, "invalid_client", 7000216, id="no-credential"),
            pytest.param({"grant_type": "password"}, 400, "unsupported_grant_type", 70003, id="grant"),
        ],
    )
    def test_refusals(self, simulator, overrides, status, error, code):
        response = token_request(simulator, **overrides)
        assert response.status_code == status
        body = response.json()
        assert (body["error"], body["error_codes"]) == (error, [code])
        assert body["error_description"].startswith(f"AADSTS{code}:")
        assert {"trace_id", "correlation_id", "timestamp"} <= set(body)


class TestCertificate:
    @pytest.mark.parametrize(
        "style",
        [
            pytest.param("public_certificate", id="ps256-x5t-s256"),
            pytest.param("thumbprint", id="rs256-x5t"),
        ],
    )
    def test_msal_certificate_assertion(self, simulator, certificate, style):
        key_pem, cert_pem, sha1 = certificate
        simulator.admin.add_certificate(CLIENT_ID, cert_pem)
        credential = {"private_key": key_pem, style: cert_pem if style == "public_certificate" else sha1}
        result = _msal(simulator, credential).acquire_token_for_client(_scopes(simulator))
        assert result.get("token_type") == "Bearer", result.get("error_description")
        assert Graph(simulator, result["access_token"]).list().status_code == 200

    def test_unregistered_certificate(self, simulator, certificate):
        key_pem, cert_pem, _ = certificate
        credential = {"private_key": key_pem, "public_certificate": cert_pem}
        result = _msal(simulator, credential).acquire_token_for_client(_scopes(simulator))
        assert result["error"] == "invalid_client"
        assert result["error_description"].startswith("AADSTS700027:")

    def _assertion(self, simulator, certificate, **claims):
        key_pem, cert_pem, sha1 = certificate
        simulator.admin.add_certificate(CLIENT_ID, cert_pem)
        now = int(time.time())
        payload = {
            "aud": f"{simulator.base_url}/{TENANT_ID}/oauth2/v2.0/token",
            "iss": CLIENT_ID,
            "sub": CLIENT_ID,
            "exp": now + 600,
            "iat": now,
            "jti": str(uuid.uuid4()),
        }
        payload.update(claims)
        x5t = base64.urlsafe_b64encode(bytes.fromhex(sha1)).decode()
        return jwt.encode(payload, key_pem, algorithm="RS256", headers={"x5t": x5t})

    @pytest.mark.parametrize(
        ("claims", "code"),
        [
            pytest.param({"exp": int(time.time()) - 3600}, 700024, id="expired"),
            pytest.param(
                {"aud": "https://login.microsoftonline.com/x/oauth2/v2.0/token"}, 700016, id="audience"
            ),
            pytest.param({"sub": "someone-else"}, 700023, id="subject"),
        ],
    )
    def test_bad_assertions(self, simulator, certificate, claims, code):
        assertion = self._assertion(simulator, certificate, **claims)
        response = token_request(
            simulator, client_secret=None, client_assertion=assertion, client_assertion_type=JWT_BEARER
        )
        assert response.status_code == 401
        assert response.json()["error_codes"] == [code]

    def test_assertion_signed_by_another_key(self, simulator, certificate):
        _, cert_pem, sha1 = certificate
        simulator.admin.add_certificate(CLIENT_ID, cert_pem)
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        assertion = jwt.encode(
            {
                "aud": f"{simulator.base_url}/{TENANT_ID}/oauth2/v2.0/token",
                "iss": CLIENT_ID,
                "sub": CLIENT_ID,
                "exp": int(time.time()) + 600,
            },
            other,
            algorithm="RS256",
            headers={"x5t": base64.urlsafe_b64encode(bytes.fromhex(sha1)).decode()},
        )
        response = token_request(
            simulator, client_secret=None, client_assertion=assertion, client_assertion_type=JWT_BEARER
        )
        assert response.status_code == 401
        assert "signature" in response.json()["error_description"]


class TestAdminConsent:
    def _consent(
        self, simulator, redirect_uri="http://localhost:8080/integrations/callback", tenant=TENANT_ID
    ):
        session = VerifyingSession(str(simulator.ca_path))
        return session.get(
            f"{simulator.base_url}/{tenant}/v2.0/adminconsent",
            params={
                "client_id": CLIENT_ID,
                "scope": f"{simulator.base_url}/.default",
                "redirect_uri": redirect_uri,
                "state": "s-42",
            },
            allow_redirects=False,
        )

    def test_granted(self, simulator):
        response = self._consent(simulator)
        assert response.status_code == 302
        location = urlsplit(response.headers["Location"])
        assert location.path == "/integrations/callback"
        assert parse_qs(location.query) == {
            "admin_consent": ["True"],
            "tenant": [TENANT_ID],
            "scope": [f"{simulator.base_url}/.default"],
            "state": ["s-42"],
        }

    def test_denied_carries_admin_consent_too(self, simulator):
        simulator.admin.set_consent(CLIENT_ID, "deny")
        query = parse_qs(urlsplit(self._consent(simulator).headers["Location"]).query)
        assert query["error"] == ["access_denied"]
        assert query["admin_consent"] == ["True"]
        assert query["state"] == ["s-42"]

    @pytest.mark.parametrize(
        ("redirect_uri", "registered"),
        [
            pytest.param("https://evil.example/callback", None, id="not-loopback"),
            pytest.param(
                "http://localhost:8080/other",
                ["http://localhost:8080/integrations/callback"],
                id="not-registered",
            ),
        ],
    )
    def test_unregistered_redirect_is_refused(self, simulator, redirect_uri, registered):
        simulator.admin.set_consent(CLIENT_ID, "grant", redirect_uris=registered)
        response = self._consent(simulator, redirect_uri=redirect_uri)
        assert response.status_code == 400
        assert response.json()["error_codes"] == [50011]

    def test_unknown_tenant(self, simulator):
        assert self._consent(simulator, tenant="nope").json()["error"] == "invalid_tenant"
