"""Entra ID stand-in: OIDC discovery and the v2.0 token endpoint for app-only (client credentials)
tokens, with a client secret or a certificate assertion as MSAL makes it."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from xops_provider.simulator.constants import DEFAULT_ROLES, DEFAULT_TOKEN_LIFETIME

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_ASSERTION_ALGORITHMS = ["RS256", "PS256"]


@dataclass(slots=True, kw_only=True)
class Certificate:
    """A certificate registered on an app (its public key verifies client assertions).

    :param certificate: the parsed certificate.
    """

    certificate: x509.Certificate

    @property
    def sha1(self) -> str:
        return _b64url(self.certificate.fingerprint(hashes.SHA1()))  # noqa: S303 - x5t is SHA-1 by definition

    @property
    def sha256(self) -> str:
        return _b64url(self.certificate.fingerprint(hashes.SHA256()))

    def describe(self) -> dict[str, str]:
        return {
            "thumbprint": self.certificate.fingerprint(hashes.SHA1()).hex().upper(),  # noqa: S303
            "x5t": self.sha1,
            "x5t#S256": self.sha256,
            "subject": self.certificate.subject.rfc4514_string(),
        }


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass(slots=True, kw_only=True)
class App:
    """An app registration with its credentials and consented application permissions.

    :param client_id: the application (client) id.
    :param secret: its client secret, if it has one.
    :param roles: the application permissions granted to its tokens.
    :param certificates: certificates accepted for client assertions.
    :param redirect_uris: admin-consent redirect URIs; empty accepts any loopback ``http(s)`` URI.
    :param consent: what the simulated administrator answers on the consent page: ``grant`` or
        ``deny``.
    """

    client_id: str
    secret: str | None
    roles: tuple[str, ...] = DEFAULT_ROLES
    certificates: list[Certificate] = field(default_factory=list)
    redirect_uris: tuple[str, ...] = ()
    consent: str = "grant"


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedToken:
    """What an opaque access token stands for.

    :param client_id: the app it was issued to.
    :param roles: its roles, fixed when issued (as in a real token).
    :param expires_at: Unix time after which Graph refuses it.
    """

    client_id: str
    roles: tuple[str, ...]
    expires_at: float


class Identity:
    """The tenant's app registrations and the tokens issued so far.

    :param tenant_id: the only tenant that exists.
    :param client_id: the connector's app id.
    :param secret: the connector's client secret.
    """

    def __init__(self, *, tenant_id: str, client_id: str, secret: str) -> None:
        self.tenant_id = tenant_id
        self.default_client_id = client_id
        self.default_secret = secret
        self.token_lifetime = DEFAULT_TOKEN_LIFETIME
        self.reset()

    def reset(self) -> None:
        """Back to one app with its secret and the default roles; all tokens forgotten."""
        self.apps: dict[str, App] = {
            self.default_client_id: App(client_id=self.default_client_id, secret=self.default_secret)
        }
        self.tokens: dict[str, IssuedToken] = {}
        self.token_lifetime = DEFAULT_TOKEN_LIFETIME
        self.issued = 0

    def app(self, client_id: str) -> App:
        """The app, registered on first use (without a secret) so that tests can add one.

        :param client_id: the application id.
        """
        if client_id not in self.apps:
            self.apps[client_id] = App(client_id=client_id, secret=None, roles=())
        return self.apps[client_id]

    def issue(self, app: App, *, lifetime: int | None = None) -> tuple[str, int]:
        """A new opaque token for ``app`` and its lifetime in seconds.

        :param app: the authenticated app.
        :param lifetime: overrides the configured lifetime.
        """
        lifetime = lifetime or self.token_lifetime
        token = "simtok." + secrets.token_urlsafe(32)
        self.tokens[token] = IssuedToken(
            client_id=app.client_id, roles=tuple(app.roles), expires_at=time.time() + lifetime
        )
        self.issued += 1
        return token, lifetime

    def revoke(self, client_id: str | None = None) -> int:
        """Forget current tokens (all of them, or one app's); returns how many.

        :param client_id: only this app's tokens.
        """
        doomed = [t for t, info in self.tokens.items() if client_id is None or info.client_id == client_id]
        for token in doomed:
            del self.tokens[token]
        return len(doomed)

    def matches_tenant(self, tenant: str) -> bool:
        """Whether ``tenant`` (from a URL) names this tenant; GUIDs compare case-insensitively.

        :param tenant: the tenant segment.
        """
        return tenant.lower() == self.tenant_id.lower()


# -- HTTP ----------------------------------------------------------------------------------------

router = APIRouter(tags=["identity"])


def _identity(request: Request) -> Identity:
    return request.app.state.sim.identity


def base_url(request: Request) -> str:
    """``https://host:port`` as the client addressed us."""
    return f"{request.url.scheme}://{request.url.netloc}"


def entra_error(request: Request, *, status: int, error: str, code: int, description: str) -> JSONResponse:
    """An error in Entra's shape, AADSTS code first, trace and correlation ids at the end.

    :param request: the request being answered.
    :param status: HTTP status.
    :param error: the OAuth ``error``.
    :param code: the AADSTS number.
    :param description: the text after ``AADSTSnnn:``.
    """
    trace_id = str(uuid.uuid4())
    correlation_id = request.headers.get("client-request-id") or str(uuid.uuid4())
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    body = {
        "error": error,
        "error_description": (
            f"AADSTS{code}: {description} Trace ID: {trace_id} Correlation ID: {correlation_id} "
            f"Timestamp: {stamp}"
        ),
        "error_codes": [code],
        "timestamp": stamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"{base_url(request)}/error?code={code}",
    }
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store, no-cache"})


def _unknown_tenant(request: Request, tenant: str) -> JSONResponse:
    return entra_error(
        request,
        status=400,
        error="invalid_tenant",
        code=90002,
        description=(
            f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are "
            "signing into the correct cloud. Check with your subscription administrator, this may happen "
            "if there are no active subscriptions for the tenant."
        ),
    )


@router.get("/{tenant}/v2.0/.well-known/openid-configuration", summary="OIDC discovery (v2.0)")
async def openid_configuration(tenant: str, request: Request) -> JSONResponse:
    """The tenant's OpenID configuration, as MSAL reads it from its constructor."""
    identity = _identity(request)
    if not identity.matches_tenant(tenant):
        return _unknown_tenant(request, tenant)
    base = base_url(request)
    tid = identity.tenant_id
    return JSONResponse(
        {
            "token_endpoint": f"{base}/{tid}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{base}/{tid}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/{tid}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{base}/oidc/userinfo",
            "authorization_endpoint": f"{base}/{tid}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/{tid}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/{tid}/oauth2/v2.0/logout",
            "claims_supported": [
                "sub",
                "iss",
                "cloud_instance_name",
                "cloud_instance_host_name",
                "cloud_graph_host_name",
                "msgraph_host",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "acr",
                "nonce",
                "preferred_username",
                "name",
                "tid",
                "ver",
                "at_hash",
                "c_hash",
                "email",
            ],
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }
    )


@router.get("/{tenant}/discovery/v2.0/keys", summary="Signing keys (none: tokens are opaque)")
async def jwks(tenant: str, request: Request) -> JSONResponse:
    if not _identity(request).matches_tenant(tenant):
        return _unknown_tenant(request, tenant)
    return JSONResponse({"keys": []})


def _basic_credentials(request: Request) -> tuple[str | None, str | None]:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None, None
    try:
        decoded = base64.b64decode(header[6:].strip()).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    client_id, _, secret = decoded.partition(":")
    return unquote_plus(client_id), unquote_plus(secret)


class _Refusal(Exception):
    def __init__(self, *, status: int, error: str, code: int, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.code, self.description = status, error, code, description


def _check_assertion(app: App, assertion: str, *, audience: str) -> None:
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError as err:
        raise _Refusal(
            status=401, error="invalid_client", code=50027, description="JWT token is invalid or malformed."
        ) from err
    thumb256, thumb1 = header.get("x5t#S256"), header.get("x5t")
    certificate = next(
        (
            cert
            for cert in app.certificates
            if (thumb256 and hmac.compare_digest(cert.sha256, str(thumb256).rstrip("=")))
            or (thumb1 and hmac.compare_digest(cert.sha1, str(thumb1).rstrip("=")))
        ),
        None,
    )
    if certificate is None:
        raise _Refusal(
            status=401,
            error="invalid_client",
            code=700027,
            description=(
                "The certificate with identifier used to sign the client assertion is not registered on "
                f"application. [Reason - The key was not found., Thumbprint of key used by client: "
                f"'{thumb256 or thumb1 or ''}']"
            ),
        )
    if header.get("alg") not in _ASSERTION_ALGORITHMS:
        raise _Refusal(
            status=401,
            error="invalid_client",
            code=5002738,
            description=f"Invalid JWT token. '{header.get('alg')}' is not a supported signature algorithm.",
        )
    try:
        claims = jwt.decode(
            assertion,
            key=certificate.certificate.public_key(),
            algorithms=_ASSERTION_ALGORITHMS,
            audience=[audience, audience + "/"],
            options={"require": ["exp", "iss", "sub", "aud"]},
            leeway=300,
        )
    except jwt.ExpiredSignatureError as err:
        raise _Refusal(
            status=401,
            error="invalid_client",
            code=700024,
            description="Client assertion is not within its valid time range.",
        ) from err
    except jwt.InvalidAudienceError as err:
        raise _Refusal(
            status=401,
            error="invalid_client",
            code=700016,
            description=f"Client assertion audience claim does not match the token endpoint '{audience}'.",
        ) from err
    except jwt.InvalidSignatureError as err:
        raise _Refusal(
            status=401,
            error="invalid_client",
            code=700027,
            description="Client assertion failed signature validation.",
        ) from err
    except jwt.PyJWTError as err:
        raise _Refusal(
            status=401,
            error="invalid_client",
            code=50027,
            description=f"JWT token is invalid or malformed. {err}",
        ) from err
    if claims.get("iss") != app.client_id or claims.get("sub") != app.client_id:
        raise _Refusal(
            status=401,
            error="invalid_client",
            code=700023,
            description="Client assertion iss and sub claims must both be the client id.",
        )


def _authenticate(request: Request, form: dict[str, str], identity: Identity) -> App:
    basic_id, basic_secret = _basic_credentials(request)
    client_id = form.get("client_id") or basic_id
    if not client_id:
        raise _Refusal(
            status=400,
            error="invalid_request",
            code=900144,
            description="The request body must contain the following parameter: 'client_id'.",
        )
    app = identity.apps.get(client_id)
    if app is None:
        raise _Refusal(
            status=400,
            error="unauthorized_client",
            code=700016,
            description=(
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{identity.tenant_id}'. This can happen if the application has not been installed by the "
                "administrator of the tenant or consented to by any user in the tenant."
            ),
        )
    secret = form.get("client_secret") or basic_secret
    assertion = form.get("client_assertion")
    if assertion:
        if form.get("client_assertion_type") != JWT_BEARER:
            raise _Refusal(
                status=400,
                error="invalid_request",
                code=90058,
                description=f"The 'client_assertion_type' must be '{JWT_BEARER}'.",
            )
        audience = f"{base_url(request)}/{identity.tenant_id}/oauth2/v2.0/token"
        _check_assertion(app, assertion, audience=audience)
        return app
    if not secret:
        raise _Refusal(
            status=401,
            error="invalid_client",
            code=7000216,
            description="'client_assertion', 'client_secret' or 'request' is required for the "
            "'client_credentials' grant type.",
        )
    if app.secret is None or not hmac.compare_digest(secret.encode(), app.secret.encode()):
        raise _Refusal(
            status=401,
            error="invalid_client",
            code=7000215,
            description=(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client "
                f"secret value, not the client secret ID, for a secret added to app '{app.client_id}'."
            ),
        )
    return app


def _check_scope(request: Request, scope: str | None) -> None:
    if not scope:
        raise _Refusal(
            status=400,
            error="invalid_request",
            code=90014,
            description="The required field 'scope' is missing from the credential.",
        )
    resources = [item for item in scope.split() if item not in ("openid", "profile", "offline_access")]
    if len(resources) == 1 and not resources[0].endswith("/.default"):
        raise _Refusal(
            status=400,
            error="invalid_scope",
            code=1002012,
            description=(
                f"The provided value for scope {scope} is not valid. Client credential flows must have a "
                "scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        )
    # Graph's resource is the simulator itself, as the connection's graph_endpoint says.
    expected = f"{base_url(request)}/.default".lower()
    if len(resources) != 1 or resources[0].lower() != expected:
        raise _Refusal(
            status=400,
            error="invalid_scope",
            code=70011,
            description=(
                f"The provided value for the input parameter 'scope' is not valid. The scope {scope} is not "
                "valid."
            ),
        )


@router.post("/{tenant}/oauth2/v2.0/token", summary="Token endpoint (client credentials)")
async def token(tenant: str, request: Request) -> JSONResponse:
    """Issue an app-only access token for a client secret or a certificate assertion."""
    identity = _identity(request)
    if not identity.matches_tenant(tenant):
        return _unknown_tenant(request, tenant)
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
    try:
        grant_type = form.get("grant_type")
        if grant_type != "client_credentials":
            raise _Refusal(
                status=400,
                error="unsupported_grant_type",
                code=70003,
                description=f"The app requested an unsupported grant type '{grant_type or ''}'.",
            )
        app = _authenticate(request, form, identity)
        _check_scope(request, form.get("scope"))
    except _Refusal as refusal:
        return entra_error(
            request,
            status=refusal.status,
            error=refusal.error,
            code=refusal.code,
            description=refusal.description,
        )
    access_token, lifetime = identity.issue(app, lifetime=request.app.state.sim.faults.spec.token_lifetime)
    body: dict[str, Any] = {
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": access_token,
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"})


def _redirect_allowed(app: App, redirect_uri: str) -> bool:
    if app.redirect_uris:
        return redirect_uri in app.redirect_uris
    parts = urlsplit(redirect_uri)
    return parts.scheme in ("http", "https") and parts.hostname in ("127.0.0.1", "::1", "localhost")


@router.get("/{tenant}/v2.0/adminconsent", summary="Admin consent (v2), answered at once")
async def admin_consent(
    tenant: str,
    request: Request,
    client_id: str = "",
    redirect_uri: str = "",
    scope: str = "",
    state: str = "",
) -> Response:
    """Redirect back as Entra does after an administrator's decision (``admin_consent=True``, with
    ``error`` when denied); the decision is the app's ``consent`` setting."""
    identity = _identity(request)
    if not identity.matches_tenant(tenant):
        return _unknown_tenant(request, tenant)
    app = identity.apps.get(client_id)
    if app is None:
        return entra_error(
            request,
            status=400,
            error="unauthorized_client",
            code=700016,
            description=f"Application with identifier '{client_id}' was not found in the directory "
            f"'{identity.tenant_id}'.",
        )
    if not _redirect_allowed(app, redirect_uri):
        return entra_error(
            request,
            status=400,
            error="invalid_request",
            code=50011,
            description=f"The redirect URI '{redirect_uri}' specified in the request does not match the "
            f"redirect URIs configured for the application '{client_id}'.",
        )
    if app.consent == "grant":
        answer = {"admin_consent": "True", "tenant": identity.tenant_id, "scope": scope, "state": state}
    else:
        answer = {
            "error": "access_denied",
            "error_description": "AADSTS65004: User declined to consent to access the app.",
            "admin_consent": "True",
            "state": state,
        }
    separator = "&" if urlsplit(redirect_uri).query else "?"
    return RedirectResponse(redirect_uri + separator + urlencode(answer), status_code=302)
