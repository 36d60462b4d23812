"""The Stories Workbench's web app, mounted on the API server at ``/stories``.

Pages (HTML) and their JSON API mirror each other: ``/`` and ``/api/stories`` (the list, or its
groups), ``/story/{id}`` and ``/api/stories/{id}``, ``/campaign/{id}`` and ``/api/campaigns/{id}``,
``/integrations`` and ``/api/integrations``. Every route, the OpenAPI description
(``/openapi.json``) and its pages (``/docs``, ``/redoc``) included, requires an authenticated
Airflow user (:mod:`xops_provider.workbench.security`). Stories come from the story store through
:class:`~xops_provider.store.reads.StoryReads`, never from Airflow's metadata DB. Links are built from
the request's ``root_path``, so the app works under ``[api] base_url`` with a sub-path.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from xops_provider.store.reads import StoryReads
from xops_provider.workbench.integrations import ms_tenant_connections
from xops_provider.workbench.render import make_environment
from xops_provider.workbench.security import SecurityHeaders, default_authentication
from xops_provider.workbench.views import (
    STATUSES,
    TIME_FRAMES,
    VERDICTS,
    ListParams,
    campaign_view,
    list_view,
    story_view,
)

_HERE = Path(__file__).parent
_TEMPLATES = make_environment(_HERE / "templates")
_STATIC = {path.name: path for path in (_HERE / "static").iterdir() if path.suffix in (".css", ".js")}
_MEDIA = {".css": "text/css", ".js": "text/javascript"}
_FACETS_TTL = 30.0
VERSION = "1"


def _default_reads() -> StoryReads:
    """The reads repository over the store the ``xops_store`` connection names (the embedded SQLite
    store when it is not defined)."""
    from xops_provider.cli.store import DEFAULT_STORE_CONN_ID, open_store

    # Read only: the first writing task or ``xops store migrate`` creates the schema.
    return open_store(DEFAULT_STORE_CONN_ID, migrate=False).reads


def _default_connection_access() -> Callable[..., bool]:
    """Whether the caller may read connections (Airflow's rule for *Admin -> Connections*)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.core_api.security import get_user

    # Not annotated: Airflow's types are imported here, out of reach of FastAPI's annotation lookup.
    def may_read(user=Depends(get_user)) -> bool:
        return get_auth_manager().is_authorized_connection(method="GET", user=user)

    return may_read


def create_app(
    *,
    authentication: Callable[..., Any] | None = None,
    reads_factory: Callable[[], StoryReads] = _default_reads,
    connections: Callable[[], list[dict[str, Any]]] = ms_tenant_connections,
    connection_access: Callable[..., bool] | None = None,
    routers: Sequence[APIRouter] = (),
) -> FastAPI:
    """Build the Workbench app.

    :param authentication: the dependency every route requires; Airflow's ``requires_authenticated()``
        when omitted.
    :param reads_factory: opens the story store for reading, once, on the first request that needs it.
    :param connections: lists the ``ms_tenant`` connections for the Integrations page.
    :param connection_access: a dependency answering whether the caller may read connections;
        Airflow's auth manager when omitted.
    :param routers: more routes (analyst actions), included before the catch-all; their write
        routes take ``dependencies=requires_story_edit()``.
    """
    lock = threading.Lock()
    opened: list[StoryReads] = []
    facets_cache: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        for reads in opened:
            reads.close()

    app = FastAPI(
        title="Stories Workbench",
        version=VERSION,
        description="XOps investigation stories from Microsoft Defender for Office 365 incidents.",
        dependencies=[Depends(authentication or default_authentication())],
        lifespan=lifespan,
        # FastAPI's own docs routes would answer without the dependency: served below instead.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.add_middleware(SecurityHeaders)
    may_read_connections = connection_access or _default_connection_access()

    def reads() -> StoryReads:
        with lock:
            if not opened:
                opened.append(reads_factory())
            return opened[0]

    def facets() -> dict[str, Any]:
        with lock:
            if facets_cache.get("at", 0.0) + _FACETS_TTL < time.monotonic():
                facets_cache.update(values=None, at=time.monotonic())
        if facets_cache.get("values") is None:
            facets_cache["values"] = reads().facets()
        return facets_cache["values"]

    def render(request: Request, template: str, **context: Any) -> HTMLResponse:
        base = request.scope.get("root_path", "").rstrip("/")
        page = _TEMPLATES.get_template(template).render(base=base, version=VERSION, **context)
        return HTMLResponse(page)

    # -- JSON API -------------------------------------------------------------------------------

    @app.get("/api/stories", tags=["stories"], summary="The story list (or its groups), one keyset page")
    def api_list(params: ListParams = Depends()) -> dict[str, Any]:
        return list_view(reads(), params)

    @app.get("/api/stories/{story_id:path}", tags=["stories"], summary="One story with its links")
    def api_story(story_id: str) -> dict[str, Any]:
        return story_view(reads(), story_id)

    @app.get("/api/campaigns/{campaign_id:path}", tags=["campaigns"], summary="A campaign")
    def api_campaign(campaign_id: str) -> dict[str, Any]:
        return campaign_view(reads(), campaign_id)

    @app.get("/api/facets", tags=["stories"], summary="The values the list's filters offer")
    def api_facets() -> dict[str, Any]:
        return {**facets(), "status": list(STATUSES), "verdict": list(VERDICTS), "time_frames": TIME_FRAMES}

    @app.get("/api/integrations", tags=["integrations"], summary="Connections and sync state")
    def api_integrations(may_read: bool = Depends(may_read_connections)) -> dict[str, Any]:
        return _integrations(reads(), connections, may_read=may_read)

    # -- pages ----------------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def list_page(request: Request, params: ListParams = Depends()) -> HTMLResponse:
        view = list_view(reads(), params)
        return render(
            request,
            "list.html",
            view=view,
            facets=facets(),
            statuses=STATUSES,
            verdicts=VERDICTS,
            time_frames=TIME_FRAMES,
        )

    @app.get("/story/{story_id:path}", response_class=HTMLResponse, include_in_schema=False)
    def story_page(request: Request, story_id: str) -> HTMLResponse:
        return render(request, "story.html", view=story_view(reads(), story_id))

    @app.get("/campaign/{campaign_id:path}", response_class=HTMLResponse, include_in_schema=False)
    def campaign_page(request: Request, campaign_id: str) -> HTMLResponse:
        return render(request, "campaign.html", view=campaign_view(reads(), campaign_id))

    @app.get("/integrations", response_class=HTMLResponse, include_in_schema=False)
    def integrations_page(request: Request, may_read: bool = Depends(may_read_connections)) -> HTMLResponse:
        return render(
            request, "integrations.html", view=_integrations(reads(), connections, may_read=may_read)
        )

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> FileResponse:
        path = _STATIC.get(name)
        if path is None:
            raise HTTPException(404, "no such file")
        return FileResponse(path, media_type=_MEDIA[path.suffix])

    # -- the API's description, behind the same authentication -----------------------------------

    @app.get("/openapi.json", include_in_schema=False)
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        return render(request, "docs.html", title=app.title)

    @app.get("/redoc", response_class=HTMLResponse, include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        return render(request, "redoc.html", title=app.title)

    for router in routers:
        app.include_router(router)

    @app.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    def not_found(rest: str) -> Response:
        # After authentication, like every route: an anonymous caller learns nothing, not even a 404.
        raise HTTPException(404, "not found")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        path = request.scope.get("path", "")[len(request.scope.get("root_path", "")) :]
        wants_page = error.status_code < 500 and not path.startswith("/api/") and path != "/openapi.json"
        if (
            wants_page
            and error.status_code in (400, 404)
            and "text/html" in request.headers.get("accept", "")
        ):
            page = render(request, "error.html", status=error.status_code, detail=str(error.detail))
            return HTMLResponse(page.body, status_code=error.status_code)
        return JSONResponse({"detail": error.detail}, status_code=error.status_code, headers=error.headers)

    return app


def _integrations(
    reads: StoryReads, connections: Callable[[], list[dict[str, Any]]], *, may_read: bool
) -> dict[str, Any]:
    return {
        "connections": connections() if may_read else None,
        "connections_hidden": not may_read,
        "integrations": reads.integrations(),
    }
