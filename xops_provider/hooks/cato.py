"""The ``cato`` connection: one Cato Networks account's events feed.

The API key is the connection's password; the account id its login (or the extra ``account_id``);
the endpoint its host (or the extra ``endpoint``), Cato's public API when neither is set; the extra
``verify`` is true, false or a CA bundle path. The HTTP client lives in
:mod:`xops_provider.clients.cato`; this module only maps a connection onto it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from xops_provider.clients.cato import (
    DEFAULT_ENDPOINT,
    CatoClient,
    CatoError,
    CatoPermissionError,
    CatoRateLimitError,
    CatoTLSError,
    CatoUnreachableError,
    graphql_url,
)
from xops_provider.clients.identity import Verify, parse_verify
from xops_provider.hooks.client import ClientHook

if TYPE_CHECKING:
    from airflow.sdk import Connection

# A filter no record matches: the connection test reads no events.
_NOTHING = ({"fieldName": "event_type", "operator": "is", "values": ["xops-connection-test"]},)


@dataclass(frozen=True)
class CatoConfig:
    """A ``cato`` connection, read and checked.

    :param endpoint: the GraphQL URL.
    :param api_key: the ``x-api-key`` (kept out of ``repr``).
    :param account_id: the Cato account id.
    :param verify: ``True``, ``False`` or a CA bundle path.
    """

    endpoint: str
    api_key: str = field(repr=False)
    account_id: str
    verify: Verify = True


class CatoEventsHook(ClientHook):
    """The ``eventsFeed`` client of one Cato account.

    :param cato_conn_id: the ``cato`` connection id.
    :param connection: an already resolved connection, used instead of looking the id up.
    :param timeout: ``(connect, read)`` seconds.
    :param max_retries: retries of a transient failure or of Cato's rate limit.
    :param backoff: the first retry delay in seconds; it doubles per retry, with jitter.
    """

    conn_name_attr = "cato_conn_id"
    default_conn_name = "cato_default"
    conn_type = "cato"
    hook_name = "Cato Networks (events feed)"

    def __init__(
        self,
        *,
        cato_conn_id: str = default_conn_name,
        connection: Connection | Any | None = None,
        timeout: tuple[float, float] = (10.0, 120.0),
        max_retries: int = 5,
        backoff: float = 2.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            conn_id=cato_conn_id,
            connection=connection,
            timeout=timeout,
            max_retries=max_retries,
            backoff=backoff,
            **kwargs,
        )

    @cached_property
    def config(self) -> CatoConfig:
        """The connection read into a :class:`CatoConfig`."""
        return self.config_from_connection(self.connection)

    @classmethod
    def config_from_connection(cls, connection: Connection | Any) -> CatoConfig:
        """Map a connection onto a :class:`CatoConfig`; a bad field raises a clear ``ValueError``.

        :param connection: a ``cato`` connection.
        """
        extras = dict(connection.extra_dejson or {})

        def extra(name: str) -> Any:
            value = extras.get(name)
            if value in (None, ""):
                value = extras.get(f"extra__{cls.conn_type}__{name}")
            return None if value == "" else value

        try:
            endpoint = str(extra("endpoint") or connection.host or DEFAULT_ENDPOINT).strip()
            if connection.port and "://" not in endpoint and ":" not in endpoint:
                endpoint = f"{endpoint}:{connection.port}"
            account_id = str(extra("account_id") or connection.login or "").strip()
            if not account_id:
                raise ValueError("the account id is missing (login, or the extra 'account_id')")
            if not connection.password:
                raise ValueError("the API key is missing (password)")
            return CatoConfig(
                endpoint=graphql_url(endpoint),
                api_key=connection.password,
                account_id=account_id,
                verify=parse_verify(extra("verify")),
            )
        except ValueError as err:
            raise ValueError(f"cato connection {connection.conn_id!r}: {err}") from None

    def get_conn(self) -> CatoClient:
        """The client, created on first use and then reused by this hook."""
        return self._client

    @cached_property
    def _client(self) -> CatoClient:
        return self._make_client(max_retries=self.max_retries, timeout=self.timeout)

    def _make_client(self, *, max_retries: int, timeout: tuple[float, float]) -> CatoClient:
        config = self.config
        return CatoClient(
            endpoint=config.endpoint,
            api_key=config.api_key,
            account_id=config.account_id,
            verify=config.verify,
            timeout=timeout,
            max_retries=max_retries,
            backoff=self.backoff,
        )

    @property
    def feed_id(self) -> str:
        """What the feed's marker is stored under: the connection id and the account."""
        return f"{self.cato_conn_id}/{self.config.account_id}"

    def close(self) -> None:
        """Close the client's session, if one was made."""
        if "_client" in self.__dict__:
            self._client.close()

    def test_connection(self) -> tuple[bool, str]:
        """Ask the feed for a page no record matches; explain what is wrong when that fails."""
        try:
            config = self.config
        except ValueError as err:
            return False, f"Invalid connection: {err}"
        try:
            # One quick attempt: a person is waiting for the answer in the UI.
            with self._make_client(max_retries=0, timeout=(5.0, 30.0)) as client:
                client.events_feed(marker=None, filters=_NOTHING)
        except CatoPermissionError:
            return False, (
                f"Permission denied by {config.endpoint}: check the API key (password) and that it "
                f"reaches account {config.account_id}."
            )
        except CatoRateLimitError as err:
            return True, f"Reachable, but Cato's rate limit refused the test call: {err}"
        except CatoTLSError as err:
            return False, f"TLS failure: {err}. Set 'verify' to the CA bundle that signed the certificate."
        except CatoUnreachableError as err:
            return False, f"Unreachable: {err}. Check the endpoint and the network path."
        except CatoError as err:
            return False, f"Cato error: {err}"
        return True, f"Connected: {config.endpoint} answered eventsFeed for account {config.account_id}."
