"""Microsoft identity for one tenant: clouds, tenant settings and token providers.

No Airflow here: the hook maps a connection to a :class:`TenantConfig`, and everything below works
from that. Token providers are shared within a process (:func:`shared_token_provider`), so one MSAL
application and its token cache serve every Graph call of every hook on the same tenant and app.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlencode, urlsplit

import requests

from xops_provider.clients.errors import (
    CredentialError,
    GraphError,
    GraphTLSError,
    GraphUnreachableError,
    TenantNotFoundError,
    aadsts_code,
)

log = logging.getLogger(__name__)

Verify = bool | str
"""``requests``' ``verify``: ``True`` (system CAs), ``False`` (no check), or a CA bundle path."""


@dataclass(frozen=True, slots=True)
class Cloud:
    """A Microsoft national cloud: where tokens come from and where Graph answers.

    :param name: the value of the connection's ``cloud`` extra.
    :param authority_host: the Microsoft identity host, as an ``https://`` URL.
    :param graph_endpoint: the Graph host, as an ``https://`` URL.
    """

    name: str
    authority_host: str
    graph_endpoint: str


# The security incident APIs are not offered in the China cloud, so it is not listed.
CLOUDS: Mapping[str, Cloud] = {
    cloud.name: cloud
    for cloud in (
        Cloud("public", "https://login.microsoftonline.com", "https://graph.microsoft.com"),
        Cloud("usgov", "https://login.microsoftonline.us", "https://graph.microsoft.us"),
        Cloud("usgov-dod", "https://login.microsoftonline.us", "https://dod-graph.microsoft.us"),
    )
}
DEFAULT_CLOUD = "public"

REQUIRED_PERMISSIONS: Mapping[str, str] = {
    "SecurityIncident.Read.All": "read incidents with their alerts (GET /security/incidents?$expand=alerts)",
}
"""Application permissions the app registration must carry today, with what each one is for."""

PLANNED_PERMISSIONS: Mapping[str, str] = {
    "SecurityAlert.Read.All": "endpoint alerts about recipients (alerts_v2), for correlation",
    "ThreatHunting.Read.All": "advanced hunting (runHuntingQuery): clicks and post-delivery events",
    "SecurityIncident.ReadWrite.All": "write analyst status, verdict and comments back to Defender",
}
"""Application permissions that coming features need; granting them now avoids a second consent."""


@runtime_checkable
class TokenProvider(Protocol):
    """Gives bearer tokens for Graph; the Graph client needs nothing else from identity."""

    def get_token(self) -> str:
        """A valid access token, from cache when one is still fresh."""
        ...

    def invalidate(self) -> None:
        """Forget cached tokens, so that the next :meth:`get_token` asks Microsoft identity again."""
        ...


class VerifyingSession(requests.Session):
    """A session that applies ``verify`` and a timeout to every request.

    ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` override a session-level ``verify`` in ``requests``; a
    per-request value wins over them. MSAL takes this as its ``http_client``.

    :param verify: ``True``, ``False`` or a CA bundle path.
    :param timeout: ``(connect, read)`` seconds.
    """

    def __init__(self, *, verify: Verify, timeout: tuple[float, float]) -> None:
        super().__init__()
        self._verify = verify
        self._timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs["verify"] = self._verify
        kwargs.setdefault("timeout", self._timeout)
        return super().request(method, url, *args, **kwargs)


def parse_verify(value: Any) -> Verify:
    """Read the connection's ``verify`` extra: a boolean, ``"true"``/``"false"``, or a CA bundle path.

    :param value: the raw value; ``None`` or ``""`` mean ``True``.
    """
    if isinstance(value, bool):
        return value
    text = "" if value is None else str(value).strip()
    if not text:
        return True
    if text.lower() in ("true", "yes", "1"):
        return True
    if text.lower() in ("false", "no", "0"):
        return False
    if not Path(text).is_file():
        raise ValueError(f"verify: the CA bundle {text!r} does not exist or is not a file")
    return text


def _https_origin(url: str, what: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(f"{what} must be an https:// URL, got {url!r}")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


@dataclass(frozen=True)
class TenantConfig:
    """Everything needed to obtain tokens for one app in one tenant and to reach its Graph.

    :param tenant_id: the directory (tenant) id or a verified domain.
    :param client_id: the application (client) id; optional only for a system-assigned managed identity.
    :param client_secret: the client secret, when the app authenticates with a secret.
    :param cloud: ``public``, ``usgov`` or ``usgov-dod``.
    :param authority_host: overrides the cloud's identity host.
    :param graph_endpoint: overrides the cloud's Graph host.
    :param verify: ``True``, ``False`` or a CA bundle path, for identity and Graph alike.
    :param certificate_path: a PEM file holding the private key and the certificate.
    :param certificate_thumbprint: the certificate's SHA-1 thumbprint as registered on the app.
    :param use_workload_identity: authenticate with workload identity or managed identity.
    """

    tenant_id: str
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    cloud: str = DEFAULT_CLOUD
    authority_host: str | None = None
    graph_endpoint: str | None = None
    verify: Verify = True
    certificate_path: str | None = None
    certificate_thumbprint: str | None = None
    use_workload_identity: bool = False

    def __post_init__(self) -> None:
        if not self.tenant_id:
            raise ValueError("tenant_id is required (the directory id of the Microsoft tenant)")
        if self.cloud not in CLOUDS:
            raise ValueError(f"cloud must be one of {', '.join(CLOUDS)}, got {self.cloud!r}")
        if not self.use_workload_identity:
            if not self.client_id:
                raise ValueError("the client (application) id is required")
            if not self.client_secret and not self.certificate_path:
                raise ValueError(
                    "no credential: set the client secret, a certificate_path, or use_workload_identity"
                )
        # Resolve now so that a bad override fails at configuration time, not on the first call.
        _https_origin(self.authority, "authority_host")
        _https_origin(self.graph_base_url, "graph_endpoint")

    @property
    def authority(self) -> str:
        """The identity host, cloud default unless overridden, without a trailing slash."""
        return (self.authority_host or CLOUDS[self.cloud].authority_host).rstrip("/")

    @property
    def graph_base_url(self) -> str:
        """The Graph host, cloud default unless overridden, without a trailing slash."""
        return (self.graph_endpoint or CLOUDS[self.cloud].graph_endpoint).rstrip("/")

    @property
    def scope(self) -> str:
        """The client-credentials scope: everything the app was granted on this Graph."""
        return f"{self.graph_base_url}/.default"

    @property
    def credential_kind(self) -> str:
        """``workload_identity``, ``certificate`` or ``secret``, in that order of precedence."""
        if self.use_workload_identity:
            return "workload_identity"
        return "certificate" if self.certificate_path else "secret"

    def cache_key(self) -> tuple[Any, ...]:
        """Identifies the token provider this config needs; secrets enter only as a digest."""
        if self.credential_kind == "secret":
            material = hashlib.sha256((self.client_secret or "").encode()).hexdigest()
        elif self.credential_kind == "certificate":
            material = f"{self.certificate_path}|{self.certificate_thumbprint}"
        else:
            material = os.environ.get("AZURE_FEDERATED_TOKEN_FILE", "")
        return (
            self.credential_kind,
            self.authority,
            self.tenant_id,
            self.client_id,
            self.scope,
            str(self.verify),
            material,
        )


def admin_consent_url(config: TenantConfig, *, redirect_uri: str, state: str | None = None) -> str:
    """The v2 admin-consent URL a tenant administrator opens to grant the app its permissions.

    Application permissions cannot be listed in the URL: ``.default`` grants whatever the app
    registration is configured with (see :data:`REQUIRED_PERMISSIONS`).

    :param config: the tenant and app.
    :param redirect_uri: where Microsoft sends the administrator back; must be registered on the app.
    :param state: an opaque value echoed back, to tie the answer to the request.
    """
    if not config.client_id:
        raise ValueError("admin consent needs the client (application) id")
    params = {"client_id": config.client_id, "scope": config.scope, "redirect_uri": redirect_uri}
    if state is not None:
        params["state"] = state
    return f"{config.authority}/{config.tenant_id}/v2.0/adminconsent?{urlencode(params)}"


def _translate_transport_error(err: requests.RequestException, where: str) -> GraphError:
    if isinstance(err, requests.exceptions.SSLError):
        return GraphTLSError(f"TLS handshake with {where} failed: the certificate is not trusted by 'verify'")
    if isinstance(err, requests.exceptions.Timeout):
        return GraphUnreachableError(f"{where} did not answer in time")
    return GraphUnreachableError(f"cannot reach {where}: {type(err).__name__}")


def load_certificate_credential(path: str, thumbprint: str | None) -> dict[str, str]:
    """MSAL's ``client_credential`` for a PEM file holding a private key and its certificate.

    With ``thumbprint`` MSAL signs with the SHA-1 thumbprint (``x5t``); without it MSAL computes
    the SHA-256 one (``x5t#S256``) from the certificate. The certificate also travels as ``x5c``.

    :param path: the PEM file.
    :param thumbprint: the SHA-1 thumbprint registered on the app, hex, any case, ``:`` allowed.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise CredentialError(f"cannot read certificate_path {path!r}: {err.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise CredentialError(f"certificate_path {path!r} holds no unencrypted PEM private key") from None
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        certs = []
    credential = {
        "private_key": key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
    }
    if certs:
        credential["public_certificate"] = certs[0].public_bytes(serialization.Encoding.PEM).decode()
    if thumbprint:
        wanted = thumbprint.replace(":", "").strip().lower()
        if certs and certs[0].fingerprint(hashes.SHA1()).hex() != wanted:  # noqa: S303 - the app registration's thumbprint is SHA-1
            raise CredentialError(
                f"certificate_thumbprint does not match the certificate in {path!r} (SHA-1 expected)"
            )
        credential["thumbprint"] = wanted.upper()
    elif not certs:
        raise CredentialError(
            f"certificate_path {path!r} holds no certificate: add it, or set certificate_thumbprint"
        )
    return credential


class MsalTokenProvider:
    """Client-credentials tokens from MSAL, with a client secret or a certificate.

    The MSAL application is built on first use (its constructor does network I/O) and then reused
    with its in-memory token cache: tokens are requested from Microsoft only when the cached one
    has less than five minutes left, or after :meth:`invalidate`.

    :param config: the tenant and app.
    :param timeout: ``(connect, read)`` seconds for identity calls.
    """

    def __init__(self, *, config: TenantConfig, timeout: tuple[float, float] = (10.0, 30.0)) -> None:
        if config.credential_kind == "workload_identity":
            raise ValueError("MsalTokenProvider needs a client secret or a certificate")
        self._config = config
        self._timeout = timeout
        self._app: Any = None
        self._lock = threading.Lock()
        self.tokens_acquired = 0
        """How many tokens came from Microsoft identity rather than from the cache."""

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(tenant_id={self._config.tenant_id!r}, "
            f"client_id={self._config.client_id!r}, kind={self._config.credential_kind!r})"
        )

    def _build_app(self) -> Any:
        import msal

        config = self._config
        if config.credential_kind == "certificate":
            credential: Any = load_certificate_credential(
                config.certificate_path or "", config.certificate_thumbprint
            )
        else:
            credential = config.client_secret
        authority = f"{config.authority}/{config.tenant_id}"
        try:
            return msal.ConfidentialClientApplication(
                config.client_id,
                client_credential=credential,
                authority=authority,
                http_client=VerifyingSession(verify=config.verify, timeout=self._timeout),
                # Instance discovery asks the public cloud about the authority host, which
                # fails for sovereign or loopback authorities; the host is configured explicitly.
                instance_discovery=False,
            )
        except requests.RequestException as err:
            raise _translate_transport_error(err, urlsplit(config.authority).netloc) from None
        except ValueError as err:
            text = str(err)
            if "authority configuration" in text or "OIDC Discovery" in text:
                raise TenantNotFoundError(
                    f"tenant {config.tenant_id!r} is unknown to {config.authority} "
                    "(check tenant_id and the cloud / authority_host)"
                ) from None
            raise CredentialError(f"MSAL refused the configuration: {text}") from None

    def _application(self) -> Any:
        with self._lock:
            if self._app is None:
                self._app = self._build_app()
            return self._app

    def get_token(self) -> str:
        """A valid access token for the configured Graph, from MSAL's cache when possible."""
        app = self._application()
        try:
            result = app.acquire_token_for_client(scopes=[self._config.scope])
        except requests.RequestException as err:
            raise _translate_transport_error(err, urlsplit(self._config.authority).netloc) from None
        if "access_token" not in result:
            description = result.get("error_description") or result.get("error") or "no token"
            raise CredentialError(
                # The first line carries the AADSTS code and reason; the rest is trace noise.
                str(description).splitlines()[0],
                code=result.get("error"),
                request_id=result.get("correlation_id"),
                aadsts=aadsts_code(description) or next(iter(result.get("error_codes") or []), None),
            )
        if result.get("token_source") == "identity_provider":
            self.tokens_acquired += 1
            log.debug(
                "Acquired a Graph token for tenant %s from %s", self._config.tenant_id, self._config.authority
            )
        return result["access_token"]

    def invalidate(self) -> None:
        """Evict this app's cached tokens (MSAL refuses ``force_refresh`` for client credentials)."""
        with self._lock:
            if self._app is not None:
                self._app.remove_tokens_for_client()


class AzureIdentityTokenProvider:
    """Tokens from an ``azure-identity`` credential (workload identity or managed identity).

    ``azure-identity`` credentials cache tokens but cannot evict them; :meth:`invalidate` therefore
    builds a fresh credential from the factory.

    :param credential_factory: builds the credential (called once, then again after :meth:`invalidate`).
    :param scope: the ``.default`` scope of the Graph endpoint.
    """

    def __init__(self, *, credential_factory: Callable[[], Any], scope: str) -> None:
        self._factory = credential_factory
        self._scope = scope
        self._credential: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(scope={self._scope!r})"

    def get_token(self) -> str:
        """A valid access token for the configured scope."""
        from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError

        with self._lock:
            if self._credential is None:
                self._credential = self._factory()
            credential = self._credential
        try:
            return credential.get_token(self._scope).token
        except ServiceRequestError as err:
            if "SSL" in type(err.inner_exception).__name__ or "CERTIFICATE" in str(err).upper():
                raise GraphTLSError("TLS handshake with the identity endpoint failed") from None
            raise GraphUnreachableError("cannot reach the identity endpoint") from None
        except ClientAuthenticationError as err:
            text = str(err.message or err)
            raise CredentialError(
                text.splitlines()[0] if text else "authentication failed", aadsts=aadsts_code(text)
            ) from None

    def invalidate(self) -> None:
        """Drop the credential, and with it its token cache."""
        with self._lock:
            credential, self._credential = self._credential, None
        if credential is not None and hasattr(credential, "close"):
            credential.close()


def _azure_identity_factory(config: TenantConfig) -> Callable[[], Any]:
    def build() -> Any:
        from azure.identity import ManagedIdentityCredential, WorkloadIdentityCredential

        transport_options: dict[str, Any] = {"connection_verify": config.verify}
        token_file = os.environ.get("AZURE_FEDERATED_TOKEN_FILE")
        if token_file:
            return WorkloadIdentityCredential(
                tenant_id=config.tenant_id,
                client_id=config.client_id or os.environ.get("AZURE_CLIENT_ID"),
                token_file_path=token_file,
                authority=config.authority,
                **transport_options,
            )
        return ManagedIdentityCredential(client_id=config.client_id, **transport_options)

    return build


def build_token_provider(
    config: TenantConfig, *, timeout: tuple[float, float] = (10.0, 30.0)
) -> TokenProvider:
    """A new token provider for the configured credential.

    :param config: the tenant and app.
    :param timeout: ``(connect, read)`` seconds for identity calls made by MSAL.
    """
    if config.credential_kind == "workload_identity":
        return AzureIdentityTokenProvider(
            credential_factory=_azure_identity_factory(config), scope=config.scope
        )
    return MsalTokenProvider(config=config, timeout=timeout)


_shared_providers: dict[tuple[Any, ...], TokenProvider] = {}
_shared_lock = threading.Lock()


def shared_token_provider(config: TenantConfig) -> TokenProvider:
    """The process-wide token provider for this tenant, app and credential.

    Sharing it means one MSAL application and one token cache per process, however many hooks and
    clients are created (a sensor poking every minute must not ask for a token every minute).

    :param config: the tenant and app.
    """
    key = config.cache_key()
    with _shared_lock:
        provider = _shared_providers.get(key)
        if provider is None:
            provider = _shared_providers[key] = build_token_provider(config)
        return provider
