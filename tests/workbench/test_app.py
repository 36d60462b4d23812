"""The Workbench app in-process: Airflow authentication on every route, escaping, CSP, links, the API."""

from __future__ import annotations

import re

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from tests.workbench.conftest import (
    CAMPAIGN_ID,
    CLICK_ANSWER,
    HOSTILE_TITLE,
    HOSTILE_URL,
    JAVASCRIPT_URL,
)
from xops_provider.simulator.scenarios import company_xyz as xyz
from xops_provider.workbench.app import create_app
from xops_provider.workbench.integrations import environment_connections
from xops_provider.workbench.security import CSRF_HEADER, requires_story_edit

SECRET = "s3cr3t-never-shown"
TENANT_CONN = (
    '{"conn_type": "ms_tenant", "login": "app-id", "password": "' + SECRET + '", '
    '"extra": {"tenant_id": "tenant-1", "cloud": "usgov"}}'
)
# Inline code the CSP would block: a <script> without src, a <style> element, style or on* attributes.
INLINE = re.compile(
    r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|<[a-z][^<>]*\s(?:on[a-z]+|style)\s*=", re.IGNORECASE
)


@pytest.fixture(scope="module")
def app(seeded_reads, auth_manager) -> FastAPI:
    # A write route as analyst actions will add them, to prove the guard.
    actions = APIRouter()

    @actions.post("/api/test-write", dependencies=requires_story_edit())
    def write() -> dict[str, bool]:
        return {"written": True}

    return create_app(
        reads_factory=lambda: seeded_reads,
        connections=lambda: environment_connections({"AIRFLOW_CONN_MS_TENANT_ONE": TENANT_CONN}),
        routers=[actions],
    )


@pytest.fixture(scope="module")
def client(app) -> TestClient:
    return TestClient(app, base_url="https://airflow.example")


@pytest.fixture(scope="module")
def as_viewer(tokens) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['viewer']}"}


def _story_path(seeded_store, incident_id: str) -> str:
    return f"/story/{seeded_store.story_id(incident_id)}"


ROUTES = [
    "/",
    "/?group=source",
    "/story/mdo:x:1",
    "/campaign/c",
    "/integrations",
    "/api/stories",
    "/api/stories/mdo:x:1",
    "/api/campaigns/c",
    "/api/facets",
    "/api/integrations",
    "/openapi.json",
    "/docs",
    "/redoc",
    "/static/workbench.js",
    "/no/such/page",
]


class TestAuthentication:
    @pytest.mark.parametrize("path", ROUTES, ids=str)
    def test_every_route_refuses_anonymous_callers_without_data(self, client, path):
        response = client.get(path)
        assert response.status_code == 401
        assert response.json() == {"detail": "Not authenticated"}

    def test_refuses_a_forged_token(self, client):
        assert client.get("/api/stories", headers={"Authorization": "Bearer not.a.jwt"}).status_code == 403

    def test_accepts_the_ui_cookie(self, client, tokens):
        assert client.get("/api/stories", cookies={"_token": tokens["viewer"]}).status_code == 200

    def test_docs_are_served_behind_the_login(self, client, as_viewer):
        spec = client.get("/openapi.json", headers=as_viewer).json()
        assert {"/api/stories", "/api/stories/{story_id}", "/api/campaigns/{campaign_id}"} <= set(
            spec["paths"]
        )
        page = client.get("/docs", headers=as_viewer)
        assert page.status_code == 200
        assert not INLINE.search(page.text)


class TestWriteGuard:
    @pytest.mark.parametrize(
        ("role", "headers", "status"),
        [
            pytest.param("viewer", {CSRF_HEADER: "1"}, 403, id="viewer-lacks-edit-rights"),
            pytest.param("user", {}, 403, id="cookie-without-csrf-header"),
            pytest.param(
                "user", {CSRF_HEADER: "1", "Origin": "https://evil.example"}, 403, id="foreign-origin"
            ),
            pytest.param("user", {CSRF_HEADER: "1", "Origin": "https://airflow.example"}, 200, id="own-page"),
        ],
    )
    def test_cookie_writes(self, client, tokens, role, headers, status):
        response = client.post("/api/test-write", cookies={"_token": tokens[role]}, headers=headers)
        assert response.status_code == status

    def test_bearer_writes_need_no_csrf_header(self, client, tokens):
        headers = {"Authorization": f"Bearer {tokens['user']}"}
        assert client.post("/api/test-write", headers=headers).status_code == 200

    def test_anonymous_write_is_401(self, client):
        assert client.post("/api/test-write", headers={CSRF_HEADER: "1"}).status_code == 401


class TestPages:
    @pytest.mark.parametrize(
        "path", ["/", "/?group=indication", "/integrations", f"/campaign/{CAMPAIGN_ID}"], ids=str
    )
    def test_pages_have_no_inline_code_and_a_strict_csp(self, client, as_viewer, path):
        response = client.get(path, headers=as_viewer)
        assert response.status_code == 200
        assert not INLINE.search(response.text)
        policy = response.headers["content-security-policy"]
        assert "script-src 'self';" in policy
        assert "style-src 'self';" in policy
        assert "unsafe-inline" not in policy
        assert response.headers["cache-control"] == "no-store"

    def test_hostile_story_renders_as_text(self, client, as_viewer, seeded_store):
        response = client.get(_story_path(seeded_store, seeded_store.hostile_incident_id), headers=as_viewer)
        assert response.status_code == 200
        assert not INLINE.search(response.text)
        assert "<script>window" not in response.text
        assert "&lt;script&gt;window.__xss=&#34;title&#34;&lt;/script&gt;" in response.text
        # Indicators are defanged and never links.
        assert "hxxps://evil[.]example/a?b=" in response.text
        hrefs = re.findall(r'href="([^"]*)"', response.text)
        assert not [href for href in hrefs if "evil" in href or "javascript" in href.lower()]
        assert HOSTILE_URL not in response.text
        assert JAVASCRIPT_URL not in response.text

    def test_story_page_has_the_widgets_answers_and_links(self, client, as_viewer, seeded_store):
        text = client.get(_story_path(seeded_store, xyz.MAIN_INCIDENT_ID), headers=as_viewer).text
        for widget in ("summary", "details", "timeline", "entities", "evidence", "raw"):
            assert f'id="widget-{widget}"' in text
        assert CLICK_ANSWER in text
        assert "Not known yet" in text  # the two answers correlation has not given
        assert "hxxps://payroll-docs-review[.]com/auth/login" in text  # the click's URL
        assert f'href="/campaign/{CAMPAIGN_ID.replace(":", "%3A")}"' in text
        assert f'href="/story/{seeded_store.story_id(xyz.WAVE2_INCIDENT_ID).replace(":", "%3A")}"' in text
        assert 'id="defender-link" href="https://security.microsoft.com/incidents/30411?tid=' in text

    def test_links_follow_the_root_path(self, app, as_viewer):
        mounted = TestClient(app, root_path="/airflow/stories")
        text = mounted.get("/", headers=as_viewer).text
        assert 'href="/airflow/stories/static/workbench.css?v=1"' in text
        assert re.search(r'href="/airflow/stories/story/mdo%3A', text)
        assert not re.search(r'href="/(?!airflow/stories/)', text)

    def test_campaign_page(self, client, as_viewer):
        text = client.get(f"/campaign/{CAMPAIGN_ID}", headers=as_viewer).text
        assert "from the correlation" in text
        assert "payroll-docs-review[.]com" in text
        assert xyz.CLICKER in text

    def test_unknown_story_page_is_a_404_page(self, client, as_viewer):
        response = client.get("/story/mdo:nope:1", headers={**as_viewer, "Accept": "text/html"})
        assert response.status_code == 404
        assert "no such story" in response.text

    def test_integrations_page_hides_connections_from_viewers(self, client, as_viewer, tokens):
        hidden = client.get("/integrations", headers=as_viewer).text
        assert "needs Airflow's connection access" in hidden
        shown = client.get("/integrations", headers={"Authorization": f"Bearer {tokens['op']}"}).text
        assert "ms_tenant_one" in shown
        assert "tenant-1" in shown
        assert "client secret" in shown
        assert SECRET not in shown


class TestApi:
    def test_list_pages_by_cursor(self, client, as_viewer):
        first = client.get("/api/stories", params={"limit": 2, "sort": "created"}, headers=as_viewer).json()
        assert len(first["stories"]) == 2
        second = client.get("/api/stories", params=first["next"], headers=as_viewer).json()
        ids = [s["story_id"] for s in first["stories"] + second["stories"]]
        # Company XYZ's two waves and the hostile story (the click incident was merged into wave 1).
        assert len(ids) == len(set(ids)) == 3

    def test_duration_is_resolved_for_the_next_page(self, client, as_viewer):
        body = client.get("/api/stories", params={"limit": 1, "since": "3650d"}, headers=as_viewer).json()
        assert body["next"]["since"].endswith("Z")
        assert client.get("/api/stories", params=body["next"], headers=as_viewer).status_code == 200

    @pytest.mark.parametrize(
        ("params", "detail"),
        [
            pytest.param({"cursor": "forged"}, "does not belong", id="cursor"),
            pytest.param({"min_criticality": "11"}, "1 to 10", id="criticality"),
            pytest.param({"since": "yesterday"}, "ISO 8601", id="since"),
            pytest.param({"sort": "title"}, "unknown sort", id="sort"),
        ],
    )
    def test_bad_parameters_are_400(self, client, as_viewer, params, detail):
        response = client.get("/api/stories", params=params, headers=as_viewer)
        assert response.status_code == 400
        assert detail in response.json()["detail"]

    def test_search_and_groups(self, client, as_viewer):
        found = client.get("/api/stories", params={"q": xyz.CLICKER}, headers=as_viewer).json()["stories"]
        assert {s["source_url"].split("/")[-1].split("?")[0] for s in found} == {xyz.MAIN_INCIDENT_ID}
        groups = client.get("/api/stories", params={"group": "indication"}, headers=as_viewer).json()[
            "groups"
        ]
        assert sum(group["total"] for group in groups) == 3

    def test_story_mirrors_the_page(self, client, as_viewer, seeded_store):
        body = client.get(
            f"/api/stories/{seeded_store.story_id(xyz.MAIN_INCIDENT_ID)}", headers=as_viewer
        ).json()
        assert body["story"]["title"]
        assert body["answers"][0]["answer"] == CLICK_ANSWER
        assert body["related_stories"][0]["summary"]["story_id"] == seeded_store.story_id(
            xyz.WAVE2_INCIDENT_ID
        )
        assert body["campaign_id"] == CAMPAIGN_ID

    def test_hostile_text_is_data_in_json(self, client, as_viewer, seeded_store):
        story_id = seeded_store.story_id(seeded_store.hostile_incident_id)
        assert (
            client.get(f"/api/stories/{story_id}", headers=as_viewer).json()["story"]["title"]
            == HOSTILE_TITLE
        )

    def test_unknown_is_404(self, client, as_viewer):
        assert client.get("/api/stories/mdo:nope:1", headers=as_viewer).status_code == 404
        assert client.get("/api/campaigns/none", headers=as_viewer).status_code == 404
