"""The Workbench app: Airflow authentication on every route, hostile text escaped, stories from the store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from xops_provider.store import Store
from xops_provider.store.database import sqlite_url
from xops_provider.workbench.app import create_app

GOLDEN = Path(__file__).resolve().parents[1] / "stories" / "golden" / "story_101.json"
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    story = json.loads(GOLDEN.read_text())
    story["title"] = HOSTILE
    opened = Store.open(sqlite_url(tmp_path_factory.mktemp("workbench") / "stories.db"))
    opened.stories.save_stories(integration="default", stories=[story], produced_version_ids=[])
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def auth_manager(airflow_cli):
    """Airflow's configured auth manager; tokens are checked against the migrated metadata DB."""
    from airflow.api_fastapi.app import create_auth_manager

    manager = create_auth_manager()
    manager.init()
    return manager


@pytest.fixture(scope="module")
def client(store, auth_manager):
    return TestClient(create_app(store_factory=lambda: store))


@pytest.fixture(scope="module")
def token(auth_manager):
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return auth_manager.generate_jwt(SimpleAuthManagerUser(username="analyst", role="viewer"))


class TestWorkbenchAuthentication:
    @pytest.mark.parametrize("path", ["/", "/api/stories", "/api/stories/mdo:xyz-tenant:101"], ids=str)
    def test_every_route_refuses_anonymous_callers(self, client, path):
        assert client.get(path).status_code == 401

    def test_refuses_a_forged_token(self, client):
        response = client.get("/api/stories", headers={"Authorization": "Bearer not.a.jwt"})
        assert response.status_code == 403

    def test_accepts_the_ui_cookie(self, client, token):
        response = client.get("/api/stories", cookies={"_token": token})
        assert response.status_code == 200


class TestWorkbenchContent:
    def test_lists_stories_as_json(self, client, token):
        body = client.get("/api/stories", headers={"Authorization": f"Bearer {token}"}).json()
        assert body["count"] == 1
        assert body["stories"][0]["story_id"] == "mdo:xyz-tenant:101"
        assert body["stories"][0]["title"] == HOSTILE  # JSON carries data as data

    def test_page_escapes_attacker_text(self, client, token):
        response = client.get("/", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
        assert "<script>" not in response.text
        assert "<img src=x" not in response.text
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in response.text
        assert "default-src 'self'" in response.headers["content-security-policy"]

    def test_unknown_story_is_404(self, client, token):
        response = client.get("/api/stories/mdo:nope:1", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 404
