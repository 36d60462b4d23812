"""Typed errors of the identity and Graph clients.

Every error carries what an operator needs to act (HTTP status, Graph or AADSTS code, Microsoft's
message, the request id to quote to support) and nothing else: no token, no secret, no request
headers. Microsoft's messages are clipped, because a proxy or an attacker-controlled endpoint can
answer with anything.
"""

from __future__ import annotations

import json
import re
from typing import Any

_MAX_MESSAGE = 500
# Bearer tokens are JWTs; a defensive scrub in case a server ever echoes one back in its message.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*\.?[A-Za-z0-9_-]*")
_AADSTS = re.compile(r"AADSTS(\d+)")


def _clip(text: str | None) -> str:
    if not text:
        return ""
    text = _JWT.sub("[redacted token]", str(text))
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


class GraphError(Exception):
    """A call to Microsoft Graph (or to Microsoft identity on its behalf) failed.

    :param message: what went wrong, in Microsoft's words when it said something.
    :param status: the HTTP status, when there was an answer.
    :param code: Graph's ``error.code`` (or the OAuth ``error`` of a token answer).
    :param request_id: Graph's ``request-id`` (or the token answer's correlation id).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.message = _clip(message)
        self.status = status
        self.code = code or None
        self.request_id = request_id or None
        super().__init__(self.message)

    def __str__(self) -> str:
        parts = [self.message or type(self).__name__]
        details = []
        if self.status is not None:
            details.append(f"status={self.status}")
        if self.code:
            details.append(f"code={self.code}")
        if self.request_id:
            details.append(f"request_id={self.request_id}")
        if details:
            parts.append(f"({', '.join(details)})")
        return " ".join(parts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={self.status!r}, code={self.code!r})"


class GraphBadRequestError(GraphError):
    """Graph refused the request as malformed (400), e.g. ``$top`` above 50."""


class GraphUnauthorizedError(GraphError):
    """Graph refused the token (401), even after a fresh one was acquired."""


class GraphForbiddenError(GraphError):
    """The app lacks an application permission (403)."""


class GraphNotFoundError(GraphError):
    """The resource does not exist (404)."""


class GraphServerError(GraphError):
    """Graph kept answering 5xx after every retry."""


class GraphThrottledError(GraphError):
    """Graph kept answering 429 after every retry.

    :param retry_after: the last ``Retry-After`` Graph asked for, in seconds.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class GraphUnreachableError(GraphError):
    """No answer: DNS, refused connection, reset, or a connect timeout."""


class GraphTimeoutError(GraphUnreachableError):
    """The server accepted the connection but did not answer within the read timeout."""


class GraphTLSError(GraphError):
    """The TLS handshake failed: the server's certificate is not trusted by ``verify``."""


class GraphInvalidResponseError(GraphError):
    """A 2xx answer whose body is not a JSON object (truncated, HTML from a proxy, ...)."""


class ForeignNextLinkError(GraphError):
    """An ``@odata.nextLink`` points outside the configured Graph endpoint; it is never followed.

    The bearer token would be sent to whatever host the link names, so the link is refused.
    """


class CredentialError(GraphError):
    """Microsoft identity refused to issue a token (wrong secret, unconsented app, ...).

    :param aadsts: the ``AADSTS`` number from the answer, e.g. ``7000215`` for a wrong secret.
    """

    def __init__(self, message: str, *, aadsts: int | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.aadsts = aadsts


class TenantNotFoundError(CredentialError):
    """The authority does not know the tenant (OIDC discovery failed)."""


def aadsts_code(text: str | None) -> int | None:
    """The first ``AADSTS`` number in an identity error text.

    :param text: an ``error_description`` or any message.
    """
    match = _AADSTS.search(text or "")
    return int(match.group(1)) if match else None


_STATUS_ERRORS: dict[int, type[GraphError]] = {
    400: GraphBadRequestError,
    401: GraphUnauthorizedError,
    403: GraphForbiddenError,
    404: GraphNotFoundError,
    429: GraphThrottledError,
}


def parse_graph_error(
    status: int,
    body: str | bytes | dict[str, Any] | None,
    headers: Any = None,
) -> GraphError:
    """The typed error for a Graph error answer.

    Graph writes ``{"error": {"code", "message", "innerError": {"request-id", ...}}}``; the code may
    be empty (the ``$top`` limit answer), and proxies answer with HTML. All of it is accepted.

    :param status: the HTTP status.
    :param body: the answer's body, raw or already decoded.
    :param headers: the answer's headers (any mapping), for ``request-id``.
    """
    payload: Any = body
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if isinstance(body, str):
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
    error = payload.get("error") if isinstance(payload, dict) else None
    code = message = request_id = None
    if isinstance(error, dict):
        code = error.get("code") or None
        message = error.get("message")
        inner = error.get("innerError") or error.get("innererror")
        if isinstance(inner, dict):
            request_id = inner.get("request-id") or inner.get("client-request-id")
    elif payload is None and isinstance(body, str) and body.strip():
        message = f"non-JSON error body: {body.strip()[:200]}"
    if headers is not None:
        request_id = headers.get("request-id") or headers.get("client-request-id") or request_id
    cls = _STATUS_ERRORS.get(status) or (GraphServerError if status >= 500 else GraphError)
    return cls(message or f"HTTP {status}", status=status, code=code, request_id=request_id)
