"""The Workbench's protections: Airflow authentication, response headers, and the guard on write actions.

- **Authentication.** Airflow does not protect plugin apps: every route, the OpenAPI description and
  its documentation pages included, depends on Airflow's ``requires_authenticated()`` (the UI's
  ``_token`` cookie, or a bearer token from ``POST /auth/token``). No credentials: 401, no data.
- **Headers.** A Content-Security-Policy without ``'unsafe-inline'``: scripts and styles come only from
  the app's own static files, so a payload that slipped past escaping still could not run.
- **Write actions** need two things: edit rights on the integration's DAG, checked by Airflow's
  ``requires_access_dag("PUT", ...)``, and proof that the request comes from the Workbench's own
  pages (CSRF). The UI authenticates with a cookie a browser sends on any request to this site, so
  a cookie-authenticated write must carry the ``X-XOps-CSRF: 1`` header (a cross-site form cannot
  set a header, and a cross-site script cannot without a CORS preflight that Airflow refuses), and
  its ``Origin``, when sent, must be this server. Bearer-token calls are not exposed to CSRF, since
  a browser never adds that header by itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Depends, HTTPException, Request, status
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The header a cookie-authenticated write must carry.
CSRF_HEADER = "X-XOps-CSRF"
#: The DAG whose edit rights a write to its stories needs.
STORY_DAG_ID = "xops_email_security"

_PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'self'"
)
# The API documentation pages load Swagger UI and ReDoc from the CDN FastAPI uses by default (as
# Airflow's own /docs does); still no inline script or style.
DOCS_CDN = "https://cdn.jsdelivr.net"
_DOCS_POLICY = (
    f"default-src 'none'; script-src 'self' {DOCS_CDN}; style-src 'self' {DOCS_CDN}; "
    f"img-src 'self' data: {DOCS_CDN}; connect-src 'self'; worker-src blob:; font-src {DOCS_CDN}; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'self'"
)
_DOCS_PATHS = ("/docs", "/redoc")


def content_security_policy(path: str) -> str:
    """The policy for a path of the app.

    :param path: the path within the app.
    """
    return _DOCS_POLICY if path in _DOCS_PATHS else _PAGE_POLICY


class SecurityHeaders:
    """ASGI middleware: CSP, no sniffing, no framing by other sites, no caching of story data.

    :param app: the wrapped app.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = _app_path(scope)
        static = path.startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", content_security_policy(path).encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"SAMEORIGIN"),
                    (b"referrer-policy", b"same-origin"),
                    (b"cache-control", b"private, max-age=300" if static else b"no-store"),
                ]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def _app_path(scope: Scope) -> str:
    path: str = scope.get("path", "")
    root = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def default_authentication() -> Callable[..., Any]:
    """Airflow's ``requires_authenticated()`` dependency."""
    from airflow.api_fastapi.core_api.security import requires_authenticated

    return requires_authenticated()


def csrf_guard(request: Request) -> None:
    """Refuse a cookie-authenticated write that did not come from the Workbench's own pages.

    :param request: the request.
    """
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return
    if request.headers.get(CSRF_HEADER) != "1":
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"missing the {CSRF_HEADER} header")
    origin = request.headers.get("origin")
    if origin is not None and origin != _own_origin(request):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "cross-origin request refused")


def _own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def requires_story_edit(dag_id: str = STORY_DAG_ID) -> list[Any]:
    """The dependencies of a write action on stories: CSRF proof, then edit rights on their DAG.

    Use as ``@router.post(..., dependencies=requires_story_edit())``.

    :param dag_id: the DAG that produces the stories.
    """
    from airflow.api_fastapi.core_api.security import requires_access_dag

    return [Depends(csrf_guard), Depends(requires_access_dag("PUT", param_dag_id=dag_id))]
