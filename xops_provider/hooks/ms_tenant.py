"""The ``ms_tenant`` connection: one Microsoft tenant and the Entra app that reads it.

It is the parent connector of every Microsoft integration of the provider: a Defender hook, a
sensor or a trigger names an ``ms_tenant`` connection and asks this hook for a token provider or
for the Graph client. The client, the identity code and the cloud table live in
:mod:`xops_provider.clients`; this module only maps an Airflow connection onto them.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from xops_provider.clients.errors import (
    CredentialError,
    GraphError,
    GraphForbiddenError,
    GraphTLSError,
    GraphUnauthorizedError,
    GraphUnreachableError,
    TenantNotFoundError,
)
from xops_provider.clients.graph import INCIDENTS_PATH, GraphClient, GraphCounters
from xops_provider.clients.identity import (
    DEFAULT_CLOUD,
    REQUIRED_PERMISSIONS,
    TenantConfig,
    TokenProvider,
    admin_consent_url,
    parse_verify,
    shared_token_provider,
)
from xops_provider.hooks.client import ClientHook

if TYPE_CHECKING:
    from airflow.sdk import Connection

# AADSTS codes that deserve their own advice in test_connection().
_AADSTS_ADVICE: dict[int, str] = {
    7000215: "the client secret is wrong: copy the secret's Value (not its ID) into the password",
    7000222: "the client secret has expired: create a new one on the app registration",
    700016: "the client (application) id is not registered in this tenant",
    700027: "the certificate signature was refused: check certificate_path and certificate_thumbprint",
    65001: "the app has not been granted admin consent: run `xops tenant consent-url`",
    90002: "the tenant does not exist in this cloud: check tenant_id and cloud",
}
_TRUE = frozenset({"true", "yes", "1", "on"})


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in _TRUE if value is not None else False


class MsTenantHook(ClientHook):
    """Tokens and the Graph client for one Microsoft tenant.

    The connection's login is the application (client) id and its password the client secret.
    Extras: ``tenant_id``, ``cloud`` (``public``, ``usgov``, ``usgov-dod``), ``authority_host``,
    ``graph_endpoint``, ``verify`` (true, false or a CA bundle path), ``certificate_path`` with
    ``certificate_thumbprint``, and ``use_workload_identity``.

    :param ms_tenant_conn_id: the ``ms_tenant`` connection id.
    :param connection: an already resolved connection, used instead of looking ``ms_tenant_conn_id``
        up (the ``xops`` command resolves connections as ``airflow connections get`` does).
    :param timeout: ``(connect, read)`` seconds for Graph calls.
    :param max_retries: retries of transient Graph failures.
    :param backoff: the first retry delay in seconds; it doubles per retry, with jitter.
    """

    conn_name_attr = "ms_tenant_conn_id"
    default_conn_name = "ms_tenant_default"
    conn_type = "ms_tenant"
    hook_name = "Microsoft tenant (Entra app)"

    def __init__(
        self,
        *,
        ms_tenant_conn_id: str = default_conn_name,
        connection: Connection | Any | None = None,
        timeout: tuple[float, float] = (10.0, 60.0),
        max_retries: int = 5,
        backoff: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            conn_id=ms_tenant_conn_id,
            connection=connection,
            timeout=timeout,
            max_retries=max_retries,
            backoff=backoff,
            **kwargs,
        )

    @cached_property
    def tenant_config(self) -> TenantConfig:
        """The connection read into a validated :class:`TenantConfig`."""
        return self.config_from_connection(self.connection)

    @classmethod
    def config_from_connection(cls, connection: Connection | Any) -> TenantConfig:
        """Map a connection onto a :class:`TenantConfig`; a bad field raises a clear ``ValueError``.

        Extras are read by their plain names; the ``extra__ms_tenant__`` prefix of older forms is
        accepted too.

        :param connection: an ``ms_tenant`` connection.
        """
        extras = dict(connection.extra_dejson or {})

        def extra(name: str) -> Any:
            value = extras.get(name)
            if value in (None, ""):
                value = extras.get(f"extra__{cls.conn_type}__{name}")
            return None if value == "" else value

        try:
            return TenantConfig(
                tenant_id=str(extra("tenant_id") or "").strip(),
                client_id=(connection.login or "").strip() or None,
                client_secret=connection.password or None,
                cloud=str(extra("cloud") or DEFAULT_CLOUD).strip().lower(),
                authority_host=extra("authority_host"),
                graph_endpoint=extra("graph_endpoint"),
                verify=parse_verify(extra("verify")),
                certificate_path=extra("certificate_path"),
                certificate_thumbprint=extra("certificate_thumbprint"),
                use_workload_identity=_as_bool(extra("use_workload_identity")),
            )
        except ValueError as err:
            raise ValueError(f"ms_tenant connection {connection.conn_id!r}: {err}") from None

    def get_token_provider(self) -> TokenProvider:
        """The process-wide token provider of this tenant and app (one MSAL app and cache each)."""
        return shared_token_provider(self.tenant_config)

    def get_graph_client(self) -> GraphClient:
        """The Graph client of this connection, created on first use and then reused by this hook."""
        return self._graph_client

    @property
    def graph_counters(self) -> GraphCounters | None:
        """The Graph client's request counters, ``None`` while this hook has not built its client."""
        client = self.__dict__.get("_graph_client")  # the cached_property's slot: reading it never builds
        return None if client is None else client.counters

    def get_conn(self) -> GraphClient:
        """The Graph client (the hook's "connection" in Airflow's sense)."""
        return self.get_graph_client()

    @cached_property
    def _graph_client(self) -> GraphClient:
        return self._make_client(max_retries=self.max_retries, timeout=self.timeout)

    def _make_client(self, *, max_retries: int, timeout: tuple[float, float]) -> GraphClient:
        config = self.tenant_config
        return GraphClient(
            base_url=config.graph_base_url,
            token_provider=self.get_token_provider(),
            verify=config.verify,
            timeout=timeout,
            max_retries=max_retries,
            backoff=self.backoff,
        )

    def consent_url(self, *, redirect_uri: str, state: str | None = None) -> str:
        """The v2 admin-consent URL for this tenant and app.

        :param redirect_uri: where the administrator is sent back; must be registered on the app.
        :param state: an opaque value echoed back with the answer.
        """
        return admin_consent_url(self.tenant_config, redirect_uri=redirect_uri, state=state)

    def test_connection(self) -> tuple[bool, str]:
        """Acquire a token and read one incident; explain what is wrong when that fails."""
        try:
            config = self.tenant_config
        except ValueError as err:
            return False, f"Invalid connection: {err}"
        try:
            # One quick attempt: a person is waiting for the answer in the UI.
            with self._make_client(max_retries=1, timeout=(5.0, 30.0)) as client:
                client.get(INCIDENTS_PATH, {"$top": 1})
        except Exception as err:
            return False, self._explain(err, config)
        return True, (
            f"Connected: token issued by {config.authority} for tenant {config.tenant_id}, "
            f"and {config.graph_base_url} answered the incidents query."
        )

    @staticmethod
    def _explain(err: Exception, config: TenantConfig) -> str:
        permission = next(iter(REQUIRED_PERMISSIONS))
        if isinstance(err, TenantNotFoundError):
            return (
                f"Unknown tenant: {config.authority} does not know tenant {config.tenant_id!r}. "
                "Check tenant_id, and cloud or authority_host."
            )
        if isinstance(err, CredentialError):
            advice = _AADSTS_ADVICE.get(err.aadsts or 0)
            if advice:
                return f"Token refused (AADSTS{err.aadsts}): {advice}."
            return f"Token refused by {config.authority}: {err}"
        if isinstance(err, GraphForbiddenError):
            return (
                f"Token issued, but Graph denied the incidents query (403 {err.code or 'Forbidden'}): "
                f"grant the application permission {permission} to the app and give admin consent "
                "(`xops tenant consent-url`)."
            )
        if isinstance(err, GraphUnauthorizedError):
            return f"Graph refused the token (401) even after a new one was acquired: {err}"
        if isinstance(err, GraphTLSError):
            return f"TLS failure: {err}. Set 'verify' to the CA bundle that signed the server's certificate."
        if isinstance(err, GraphUnreachableError):
            return f"Unreachable: {err}. Check authority_host / graph_endpoint and the network path."
        if isinstance(err, GraphError):
            return f"Graph error: {err}"
        return f"Unexpected error: {type(err).__name__}: {err}"
