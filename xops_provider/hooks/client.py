"""What a hook that wraps one HTTP client for one connection shares: the lookup and the retry settings."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

if TYPE_CHECKING:
    from airflow.sdk import Connection


class ClientHook(BaseHook):
    """A hook over one client: its connection (looked up once) and how the client retries.

    :param conn_id: the connection id, stored under the subclass's ``conn_name_attr``.
    :param connection: an already resolved connection, used instead of looking the id up.
    :param timeout: ``(connect, read)`` seconds.
    :param max_retries: retries of a transient failure.
    :param backoff: the first retry delay in seconds; it doubles per retry, with jitter.
    """

    def __init__(
        self,
        *,
        conn_id: str,
        connection: Connection | Any | None,
        timeout: tuple[float, float],
        max_retries: int,
        backoff: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        setattr(self, self.conn_name_attr, conn_id)
        self._connection = connection
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff

    @cached_property
    def connection(self) -> Connection | Any:
        """The hook's connection."""
        return self._connection or self.get_connection(getattr(self, self.conn_name_attr))
