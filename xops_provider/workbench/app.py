"""The Stories Workbench's web app: a read-only story list and JSON API, mounted on the API server.

Airflow does not protect plugin apps, so every route requires an authenticated Airflow user (the UI's
``_token`` cookie, or a bearer token from ``POST /auth/token``). Stories come from the story store,
never from Airflow's metadata DB. Attacker-controlled text is escaped by Jinja2's autoescape.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

if TYPE_CHECKING:
    from xops_provider.store import Store

_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(default=True, default_for_string=True),
)


def _default_authentication() -> Callable[..., Any]:
    from airflow.api_fastapi.core_api.security import requires_authenticated

    return requires_authenticated()


def _default_store() -> Store:
    from xops_provider.cli.store import DEFAULT_STORE_CONN_ID, open_store

    return open_store(DEFAULT_STORE_CONN_ID, migrate=False)


def create_app(
    *,
    authentication: Callable[..., Any] | None = None,
    store_factory: Callable[[], Store] = _default_store,
) -> FastAPI:
    """Build the Workbench app.

    :param authentication: the dependency every route requires; Airflow's ``requires_authenticated()``
        when omitted.
    :param store_factory: opens the story store, once, on the first request.
    """
    lock = threading.Lock()
    opened: list[Store] = []

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        for opened_store in opened:
            opened_store.close()

    app = FastAPI(
        title="Stories Workbench",
        dependencies=[Depends(authentication or _default_authentication())],
        lifespan=lifespan,
    )

    def store() -> Store:
        with lock:
            if not opened:
                opened.append(store_factory())
            return opened[0]

    @app.get("/api/stories")
    def list_stories(
        integration: str | None = None,
        open_only: bool = Query(False, alias="open"),
        limit: int = Query(100, ge=1, le=1000),
        offset: int = Query(0, ge=0),
    ) -> dict[str, Any]:
        rows = store().reads.list_stories(
            integration=integration, open_only=open_only, limit=limit, offset=offset
        )
        return {"stories": rows, "count": len(rows), "offset": offset}

    @app.get("/api/stories/{story_id}")
    def get_story(story_id: str) -> dict[str, Any]:
        story = store().reads.get_story(story_id)
        if story is None:
            raise HTTPException(status_code=404, detail="no such story")
        return story

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request, integration: str | None = None) -> HTMLResponse:
        rows = store().reads.list_stories(integration=integration, limit=500)
        counts = store().reads.criticality_counts(integration=integration)
        page = _TEMPLATES.get_template("index.html").render(stories=rows, counts=counts.items())
        return HTMLResponse(
            page, headers={"Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'"}
        )

    return app
