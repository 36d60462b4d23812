"""Graph's error envelope and the request ids every answer carries."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from fastapi import Request
from fastapi.responses import Response

GRAPH_JSON = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
)


class GraphError(Exception):
    """An error answer in Graph's shape.

    :param status: HTTP status.
    :param code: ``error.code``.
    :param message: ``error.message``.
    :param headers: extra response headers (``Retry-After``, ``WWW-Authenticate``).
    :param details: ``error.details``, when Graph sends it (OData query errors).
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        details: list[Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.details = details


def request_ids(scope_state: dict[str, Any]) -> tuple[str, str]:
    """``(request-id, client-request-id)`` assigned to the request by the envelope middleware.

    :param scope_state: the ASGI scope's ``state``.
    """
    return scope_state.get("request_id", ""), scope_state.get("client_request_id", "")


def error_body(error: GraphError, *, request_id: str, client_request_id: str) -> bytes:
    """Graph's error JSON.

    :param error: the error.
    :param request_id: the ``request-id`` of the answer.
    :param client_request_id: the caller's ``client-request-id`` (or the request id).
    """
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.details is not None:
        body["details"] = error.details
    body["innerError"] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": request_id,
        "client-request-id": client_request_id,
    }
    return json.dumps({"error": body}, separators=(",", ":")).encode()


def error_response(error: GraphError, *, request_id: str, client_request_id: str) -> Response:
    """Graph's error answer, with its headers.

    :param error: the error.
    :param request_id: the ``request-id`` of the answer.
    :param client_request_id: the caller's ``client-request-id`` (or the request id).
    """
    return Response(
        content=error_body(error, request_id=request_id, client_request_id=client_request_id),
        status_code=error.status,
        media_type="application/json",
        headers=error.headers,
    )


async def graph_error_handler(request: Request, exc: Exception) -> Response:
    """FastAPI exception handler for :class:`GraphError`.

    :param request: the request.
    :param exc: the error.
    """
    assert isinstance(exc, GraphError)
    request_id, client_request_id = request_ids(request.scope.get("state", {}))
    return error_response(exc, request_id=request_id, client_request_id=client_request_id)
