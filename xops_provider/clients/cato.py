"""Cato Networks' GraphQL API: the ``eventsFeed`` query, behind ``x-api-key``.

Cato answers 200 with GraphQL ``errors`` for most problems (a wrong key, an account the key does not
reach, a bad marker, its rate limit). This client:

- posts only to the configured ``https`` endpoint, never follows a redirect (the key would go
  wherever it points), and sends ``verify`` and timeouts on every request (``REQUESTS_CA_BUNDLE``
  cannot override a per-request ``verify``);
- retries 5xx answers, connection failures, broken bodies and Cato's rate-limit error, with bounded
  exponential backoff and jitter (``eventsFeed`` only reads, so a repeat is harmless);
- raises typed errors that never carry the key: it is only ever in the request's headers.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from xops_provider.clients.identity import Verify

log = logging.getLogger(__name__)

#: Cato's public API host; a connection without an endpoint uses it.
DEFAULT_ENDPOINT = "https://api.catonetworks.com"
GRAPHQL_PATH = "/api/v1/graphql2"
EVENTS_FEED_QUERY = (
    "query eventsFeed($accountIDs: [ID!], $marker: String, $filters: [EventFeedFieldFilterInput!]) {"
    " eventsFeed(accountIDs: $accountIDs, marker: $marker, filters: $filters) {"
    " marker fetchedCount accounts { id records { time fieldsMap } } } }"
)
_MAX_MESSAGE = 300


class CatoError(Exception):
    """A call to Cato's API failed. The message is Cato's (clipped), never the key."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        text = " ".join(str(message).split())
        self.message = text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"
        self.status = status
        super().__init__(self.message)


class CatoGraphQLError(CatoError):
    """Cato answered with GraphQL ``errors`` (an invalid marker, a query it refuses, ...)."""


class CatoPermissionError(CatoGraphQLError):
    """``permission denied``: a wrong API key, or an account id the key does not reach."""


class CatoRateLimitError(CatoGraphQLError):
    """Cato's rate limit kept refusing the call after every retry."""


class CatoServerError(CatoError):
    """Cato kept answering 5xx (or a body that is not JSON) after every retry."""


class CatoUnreachableError(CatoError):
    """No answer: DNS, a refused or reset connection, or a timeout."""


class CatoTLSError(CatoError):
    """The TLS handshake failed: the server's certificate is not trusted by ``verify``."""


def graphql_url(endpoint: str) -> str:
    """The GraphQL URL of an endpoint: ``https://host[:port]`` gets :data:`GRAPHQL_PATH`; a URL that
    already names a path is kept as it is.

    :param endpoint: ``https://api.catonetworks.com``, a bare host, or the full GraphQL URL.
    :raises ValueError: for anything but an ``https`` URL with a host.
    """
    text = endpoint.strip()
    if "://" not in text:
        text = f"https://{text}"
    parts = urlsplit(text)
    if parts.scheme.lower() != "https" or not parts.hostname:
        raise ValueError(f"the Cato endpoint must be an https:// URL, got {endpoint!r}")
    if parts.query or parts.fragment:
        raise ValueError("the Cato endpoint must not carry a query or a fragment")
    path = parts.path.rstrip("/") or GRAPHQL_PATH
    return f"https://{parts.netloc}{path}"


def _rate_limited(messages: Sequence[str]) -> bool:
    return any("rate limit" in m.lower() for m in messages)


@dataclass
class CatoCounters:
    """What the client did.

    :param requests: HTTP requests sent (every attempt counts).
    :param retries: attempts repeated after a transient failure or the rate limit.
    :param rate_limited: rate-limit errors received.
    """

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0


@dataclass
class CatoClient:
    """A client of one Cato account's ``eventsFeed``.

    :param endpoint: the API's origin or full GraphQL URL (see :func:`graphql_url`).
    :param api_key: the ``x-api-key``; kept out of ``repr`` and every error.
    :param account_id: the Cato account id.
    :param verify: ``True``, ``False`` or a CA bundle path.
    :param timeout: ``(connect, read)`` seconds.
    :param max_retries: retries of a transient failure or a rate-limit error before it is raised.
    :param backoff: the first retry delay in seconds; it doubles per retry, with jitter.
    :param max_backoff: the longest delay, in seconds.
    :param sleep: how to wait.
    """

    endpoint: str
    api_key: str = field(repr=False)
    account_id: str
    verify: Verify = True
    timeout: tuple[float, float] = (10.0, 120.0)
    max_retries: int = 5
    backoff: float = 1.0
    max_backoff: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    counters: CatoCounters = field(default_factory=CatoCounters, init=False)

    def __post_init__(self) -> None:
        self.url = graphql_url(self.endpoint)
        if not self.api_key:
            raise ValueError("the Cato API key is empty")
        if not str(self.account_id).strip():
            raise ValueError("the Cato account id is empty")
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.account_id = str(self.account_id).strip()
        self._session = requests.Session()

    def close(self) -> None:
        """Close the HTTP session."""
        self._session.close()

    def __enter__(self) -> CatoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def events_feed(self, *, marker: str | None, filters: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
        """One ``eventsFeed`` page, as decoded JSON without ``errors``.

        :param marker: where to resume; ``None`` or ``""`` starts at the oldest record Cato keeps.
        :param filters: Cato's ``EventFeedFieldFilterInput`` items.
        :raises CatoError: a subclass naming what went wrong.
        """
        variables: dict[str, Any] = {"accountIDs": [self.account_id], "marker": marker or ""}
        if filters:
            variables["filters"] = list(filters)
        body = {"query": EVENTS_FEED_QUERY, "variables": variables}
        attempt = 0
        while True:
            try:
                return self._post(body)
            except (CatoServerError, CatoUnreachableError, CatoRateLimitError) as err:
                if attempt >= self.max_retries:
                    raise
                delay = min(self.max_backoff, self.backoff * (2**attempt))
                # "Equal jitter": never less than half the delay, so retries stay spaced out.
                delay = delay / 2 + random.uniform(0, delay / 2)
                attempt += 1
                self.counters.retries += 1
                log.warning(
                    "Cato eventsFeed: %s (%s); retry %d/%d in %.2fs",
                    type(err).__name__,
                    err.message,
                    attempt,
                    self.max_retries,
                    delay,
                )
                self.sleep(delay)

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        host = urlsplit(self.url).netloc
        self.counters.requests += 1
        try:
            response = self._session.post(
                self.url,
                json=body,
                headers={"x-api-key": self.api_key, "Accept": "application/json"},
                timeout=self.timeout,
                verify=self.verify,
                allow_redirects=False,
            )
        except requests.exceptions.SSLError:
            raise CatoTLSError(
                f"TLS handshake with {host} failed: its certificate is not trusted by "
                f"'verify' ({self.verify!r})"
            ) from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as err:
            raise CatoUnreachableError(f"cannot reach {host}: {type(err).__name__}") from None
        except requests.RequestException as err:
            raise CatoUnreachableError(f"POST {host} failed: {type(err).__name__}") from None
        status = response.status_code
        if 300 <= status < 400:
            # Never followed: the key would go to whatever host the redirect names.
            raise CatoError(f"{host} answered a redirect ({status}); it is not followed", status=status)
        if status == 429:
            raise CatoRateLimitError(f"{host} answered 429", status=status)
        if status >= 500:
            raise CatoServerError(f"{host} answered {status}", status=status)
        try:
            payload = json.loads(response.content)
        except ValueError:
            if status != 200:
                raise CatoError(
                    f"{host} answered {status} with a body that is not JSON", status=status
                ) from None
            raise CatoServerError(f"{host} answered a body that is not JSON", status=status) from None
        errors = payload.get("errors") if isinstance(payload, dict) else None
        if errors:
            messages = [str(e.get("message")) for e in errors if isinstance(e, dict)] or [str(errors)]
            # Defensive: a server that echoes the key back must not get it into a log.
            text = "; ".join(messages).replace(self.api_key, "[redacted]")
            if _rate_limited(messages):
                self.counters.rate_limited += 1
                raise CatoRateLimitError(f"Cato: {text}", status=status)
            if any("permission denied" in m.lower() for m in messages):
                raise CatoPermissionError(
                    f"Cato: {text} (check the API key and that it reaches account {self.account_id})",
                    status=status,
                )
            raise CatoGraphQLError(f"Cato: {text}", status=status)
        if status != 200 or not isinstance(payload, dict):
            raise CatoError(f"{host} answered {status} without data", status=status)
        return payload
