"""The one Microsoft Graph client of the provider.

Synchronous and built on ``requests``: sensors, operators and the CLI call it directly, and the
async trigger runs it in a thread. It owns every rule about talking to Graph:

- ``verify`` and ``(connect, read)`` timeouts on every request (``REQUESTS_CA_BUNDLE`` cannot
  override a per-request ``verify``);
- ``Retry-After`` honoured on 429, 503 and 504 (fractional seconds included, capped);
- bounded exponential backoff with jitter on other 5xx, connection failures and broken JSON;
- one token refresh on 401;
- ``@odata.nextLink`` followed only on the configured Graph origin, because the bearer token goes
  wherever the link points;
- typed errors (:mod:`xops_provider.clients.errors`) that never carry a token or a secret.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import msgspec
import requests

from xops_provider.clients.errors import (
    ForeignNextLinkError,
    GraphError,
    GraphInvalidResponseError,
    GraphThrottledError,
    GraphTimeoutError,
    GraphTLSError,
    GraphUnauthorizedError,
    GraphUnreachableError,
    parse_graph_error,
)
from xops_provider.clients.identity import TokenProvider, Verify

log = logging.getLogger(__name__)

INCIDENTS_PATH = "/v1.0/security/incidents"
MAX_PAGE_SIZE = 50
"""Graph refuses ``$top`` above 50 on incidents with a 400."""

_RETRY_AFTER_STATUSES = frozenset({429, 503, 504})
# Retrying a POST after the request may have reached Graph could add a second comment.
_IDEMPOTENT = frozenset({"GET", "PATCH", "PUT", "DELETE"})
_DEFAULT_PORTS = {"https": 443, "http": 80}

T = TypeVar("T")


@dataclass(frozen=True)
class CollectionPage:
    """One page of a Graph collection, its items kept as the JSON text Graph sent.

    :param items: each item's JSON text (``bytes``); ``None`` when the page has no ``value`` array.
    :param next_link: the ``@odata.nextLink``, ``None`` on the last page.
    """

    items: list[bytes] | None
    next_link: str | None = None


class _CollectionBody(msgspec.Struct):
    # Each item stays raw: a caller that stores records keeps Graph's own bytes instead of decoding
    # and re-encoding them, which costs more than the request itself on a 500 kB expanded page.
    value: list[msgspec.Raw] | None = None
    next_link: str | None = msgspec.field(name="@odata.nextLink", default=None)


_COLLECTION_DECODER = msgspec.json.Decoder(_CollectionBody)


@dataclass
class GraphCounters:
    """What the client did, for benchmarks, sync reports and connector health.

    :param requests: HTTP requests sent to Graph (every attempt counts).
    :param retries: attempts repeated after a transient failure.
    :param throttled_waits: waits imposed by a ``Retry-After`` on 429/503/504.
    :param throttled_seconds: total seconds spent in those waits.
    :param token_refreshes: tokens re-acquired after a 401.
    :param throttled_429: 429 answers, waited on or not (the integration's health counts them).
    """

    requests: int = 0
    retries: int = 0
    throttled_waits: int = 0
    throttled_seconds: float = 0.0
    token_refreshes: int = 0
    throttled_429: int = 0

    def as_dict(self) -> dict[str, int | float]:
        """The counters as a JSON-ready dict."""
        return asdict(self)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: seconds (``"2.128"`` too) or an HTTP date.

    :param value: the header's value.
    :param now: the current epoch time, for the HTTP-date form.
    """
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


class GraphClient:
    """A Microsoft Graph client for one tenant's Graph endpoint.

    :param base_url: the Graph origin, e.g. ``https://graph.microsoft.com``.
    :param token_provider: where bearer tokens come from.
    :param verify: ``True``, ``False`` or a CA bundle path; applied to every request.
    :param timeout: ``(connect, read)`` seconds.
    :param max_retries: how many times a transient failure is retried before it is raised.
    :param backoff: the first backoff delay in seconds; it doubles per attempt, with jitter.
    :param max_backoff: the longest backoff delay, in seconds.
    :param max_retry_after: the longest ``Retry-After`` obeyed, in seconds; longer asks are capped.
    :param session: the ``requests`` session to use; one is created (and owned) when omitted.
    :param sleep: how to wait; tests and the async trigger may pass their own.
    """

    def __init__(
        self,
        *,
        base_url: str,
        token_provider: TokenProvider,
        verify: Verify = True,
        timeout: tuple[float, float] = (10.0, 60.0),
        max_retries: int = 5,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        max_retry_after: float = 120.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        scheme, host, _ = _origin(base_url)
        if scheme != "https" or not host:
            raise ValueError(f"base_url must be an https:// URL, got {base_url!r}")
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.base_url = base_url.rstrip("/")
        self._origin = _origin(self.base_url)
        self._token_provider = token_provider
        self._verify = verify
        self._timeout = timeout
        self._max_retries = max_retries
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._max_retry_after = max_retry_after
        self._owns_session = session is None
        self._session = session or requests.Session()
        self._sleep = sleep
        self._counter_lock = threading.Lock()
        self.counters = GraphCounters()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    def __enter__(self) -> GraphClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the session, if this client created it."""
        if self._owns_session:
            self._session.close()

    # -- public calls -----------------------------------------------------------------------------

    def get(self, path_or_url: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """GET a Graph resource and return its JSON object.

        :param path_or_url: a path such as ``/v1.0/security/incidents``, or an absolute URL on the
            configured Graph origin.
        :param params: query parameters (``$filter``, ``$top``, ...).
        """
        return self._request("GET", self._url(path_or_url), params=params, decode=_decode)

    def get_collection(self, path_or_url: str, params: dict[str, Any] | None = None) -> CollectionPage:
        """GET one page of a Graph collection, keeping each item's JSON text as Graph sent it.

        :param path_or_url: a path, or an absolute URL on the configured Graph origin (a nextLink is
            checked exactly as in :meth:`get_next`).
        :param params: query parameters.
        """
        return self._request("GET", self._url(path_or_url), params=params, decode=_decode_collection)

    def get_next(self, url: str) -> dict[str, Any]:
        """Follow an ``@odata.nextLink`` exactly as Graph returned it.

        :param url: the link; refused with :class:`ForeignNextLinkError` unless its scheme, host and
            port are the configured Graph endpoint's.
        """
        return self._request("GET", self._url(url), decode=_decode)

    def patch(self, path: str, json: dict[str, Any]) -> dict[str, Any]:
        """PATCH a Graph resource; returns the answer's JSON object (``{}`` for 204).

        :param path: the resource path.
        :param json: the properties to change.
        """
        return self._request("PATCH", self._url(path), json_body=json, decode=_decode)

    def post(self, path: str, json: dict[str, Any]) -> dict[str, Any]:
        """POST to Graph; returns the answer's JSON object (``{}`` for 204).

        POST is retried only when Graph certainly did not act on it (429, 503, 504 and connect
        failures); a read timeout or a 500 is raised, since the request may have taken effect.

        :param path: the resource or action path.
        :param json: the body.
        """
        return self._request("POST", self._url(path), json_body=json, decode=_decode)

    def iter_pages(self, path: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every page of a collection, following ``@odata.nextLink`` until it is absent.

        :param path: the collection path.
        :param params: the first request's query parameters (the links carry them afterwards).
        """
        page = self.get(path, params)
        yield page
        while next_link := page.get("@odata.nextLink"):
            page = self.get_next(next_link)
            yield page

    # -- machinery --------------------------------------------------------------------------------

    def _url(self, path_or_url: str) -> str:
        if "://" not in path_or_url:
            return f"{self.base_url}/{path_or_url.lstrip('/')}"
        if _origin(path_or_url) != self._origin:
            scheme, host, port = _origin(path_or_url)
            raise ForeignNextLinkError(
                f"refusing to send the Graph token to {scheme}://{host}:{port}; "
                f"only {self._origin[0]}://{self._origin[1]}:{self._origin[2]} is trusted"
            )
        return path_or_url

    def _count(self, **deltas: float) -> None:
        with self._counter_lock:
            for name, delta in deltas.items():
                setattr(self.counters, name, getattr(self.counters, name) + delta)

    def _backoff_delay(self, attempt: int) -> float:
        ceiling = min(self._max_backoff, self._backoff * (2**attempt))
        # "Equal jitter": never less than half the ceiling, so retries stay spaced out.
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def _request(
        self,
        method: str,
        url: str,
        *,
        decode: Callable[[requests.Response], T],
        params: dict[str, Any] | None = None,
        json_body: dict[str, Any] | None = None,
    ) -> T:
        path = urlsplit(url).path
        attempt = 0
        refreshed = False
        while True:
            token = self._token_provider.get_token()
            headers = {
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "Prefer": "include-unknown-enum-members",
            }
            self._count(requests=1)
            retryable: GraphError
            wait: float | None = None
            try:
                response = self._session.request(
                    method,
                    url,
                    params=params,
                    json=json_body,
                    headers=headers,
                    timeout=self._timeout,
                    verify=self._verify,
                    allow_redirects=False,
                )
            except requests.exceptions.SSLError:
                raise GraphTLSError(
                    f"TLS handshake with {self._origin[1]} failed: its certificate is not trusted by "
                    f"'verify' ({self._verify!r})"
                ) from None
            except requests.exceptions.ConnectTimeout:
                retryable = GraphUnreachableError(f"connecting to {self._origin[1]} timed out")
            except requests.exceptions.ReadTimeout:
                if method not in _IDEMPOTENT:
                    raise GraphTimeoutError(f"{method} {path}: no answer within the read timeout") from None
                retryable = GraphTimeoutError(f"{method} {path}: no answer within the read timeout")
            except requests.exceptions.ConnectionError as err:
                if method not in _IDEMPOTENT and not _is_connect_failure(err):
                    raise GraphUnreachableError(f"{method} {path}: the connection broke") from None
                retryable = GraphUnreachableError(f"cannot reach {self._origin[1]}: {_reason(err)}")
            except (
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
            ) as err:
                # The answer broke off mid-body: as transient as a truncated JSON document.
                if method not in _IDEMPOTENT:
                    raise GraphInvalidResponseError(f"{method} {path}: the answer broke off") from None
                retryable = GraphInvalidResponseError(
                    f"{method} {path}: the answer broke off ({type(err).__name__})"
                )
            except requests.RequestException as err:
                raise GraphUnreachableError(f"{method} {path} failed: {type(err).__name__}") from None
            else:
                status = response.status_code
                log.debug(
                    "Graph %s %s -> %s (request-id %s)",
                    method,
                    path,
                    status,
                    response.headers.get("request-id"),
                )
                if 200 <= status < 300:
                    try:
                        return decode(response)
                    except GraphInvalidResponseError as err:
                        # Graph got the request; a broken body on a write is not retried blindly.
                        if method not in _IDEMPOTENT:
                            raise
                        retryable = err
                elif status == 401 and not refreshed:
                    # An expired or revoked token: evict it, take a fresh one, retry once.
                    refreshed = True
                    self._token_provider.invalidate()
                    self._count(token_refreshes=1)
                    log.info("Graph answered 401 on %s %s; acquiring a new token", method, path)
                    continue
                elif status == 401:
                    raise _as(
                        GraphUnauthorizedError, parse_graph_error(status, response.content, response.headers)
                    )
                elif status in _RETRY_AFTER_STATUSES:
                    retryable = parse_graph_error(status, response.content, response.headers)
                    if isinstance(retryable, GraphThrottledError):
                        self._count(throttled_429=1)
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                    if retry_after is not None:
                        wait = min(retry_after, self._max_retry_after)
                        if isinstance(retryable, GraphThrottledError):
                            retryable.retry_after = retry_after
                elif status >= 500 and (method in _IDEMPOTENT):
                    retryable = parse_graph_error(status, response.content, response.headers)
                else:
                    raise parse_graph_error(status, response.content, response.headers)

            if attempt >= self._max_retries:
                raise retryable
            # Graph asking us to wait is routine; anything else deserves a warning.
            level = logging.INFO
            if wait is not None:
                self._count(throttled_waits=1, throttled_seconds=wait)
            else:
                wait = self._backoff_delay(attempt)
                level = logging.WARNING
            self._count(retries=1)
            attempt += 1
            log.log(
                level,
                "Graph %s %s: %s; retry %d/%d in %.2fs",
                method,
                path,
                type(retryable).__name__,
                attempt,
                self._max_retries,
                wait,
            )
            self._sleep(wait)


def _as(cls: type[GraphError], err: GraphError) -> GraphError:
    if isinstance(err, cls):
        return err
    return cls(err.message, status=err.status, code=err.code, request_id=err.request_id)


def _is_connect_failure(err: requests.exceptions.ConnectionError) -> bool:
    # urllib3 wraps a refused/failed connect in NewConnectionError: the request never left.
    import urllib3.exceptions

    reason = err.args[0] if err.args else None
    inner = getattr(reason, "reason", reason)
    return isinstance(inner, urllib3.exceptions.NewConnectionError)


def _reason(err: requests.exceptions.ConnectionError) -> str:
    reason = err.args[0] if err.args else err
    inner = getattr(reason, "reason", reason)
    return type(inner).__name__


def _decode(response: requests.Response) -> dict[str, Any]:
    body = response.content
    if response.status_code == 204 or not body.strip():
        return {}
    try:
        payload = json.loads(body)
    except ValueError:
        raise _invalid_json(response) from None
    if not isinstance(payload, dict):
        raise GraphInvalidResponseError(
            f"Graph answered {response.status_code} with JSON that is not an object",
            status=response.status_code,
            request_id=response.headers.get("request-id"),
        )
    return payload


def _invalid_json(response: requests.Response) -> GraphInvalidResponseError:
    return GraphInvalidResponseError(
        f"Graph answered {response.status_code} with a body that is not valid JSON "
        f"({len(response.content)} bytes, truncated or not JSON)",
        status=response.status_code,
        request_id=response.headers.get("request-id"),
    )


def _decode_collection(response: requests.Response) -> CollectionPage:
    """A collection page, its items split out as raw JSON text without being decoded.

    msgspec reads only the page's frame; it does not decode the items (a body that is not JSON is
    still refused). A page it refuses, because the frame has an unexpected shape or holds what only
    Python's lenient parser reads (``NaN``, a lone surrogate escape), goes through :func:`_decode`,
    and its items are written back as JSON text, so that a page's items are always text.
    """
    if response.status_code != 204 and response.content.strip():
        try:
            body = _COLLECTION_DECODER.decode(response.content)
        except msgspec.DecodeError:
            pass
        else:
            return CollectionPage(
                items=None if body.value is None else [bytes(item) for item in body.value],
                next_link=body.next_link,
            )
    payload = _decode(response)
    items = payload.get("value")
    next_link = payload.get("@odata.nextLink")
    return CollectionPage(
        # ASCII escapes keep a lone surrogate encodable; NaN stays NaN for the same lenient reader.
        items=[json.dumps(item).encode() for item in items] if isinstance(items, list) else None,
        next_link=next_link if isinstance(next_link, str) else None,
    )
