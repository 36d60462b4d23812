"""The Workbench in headless Chromium against a real ``airflow api-server`` under a sub-path.

One api-server and one browser for the module. An analyst logs in through Airflow's own login page,
finds the Workbench in the UI's navigation, filters the list, opens stories and a campaign; a story
whose every attacker-controlled field is a script injection renders as text, runs nothing and
trips no Content-Security-Policy. Screenshots go to ``XOPS_TEST_ARTIFACTS`` (a temporary folder,
printed, when unset); ``XOPS_UPDATE_DOC_IMAGES=1`` also refreshes ``docs/img/workbench-list.png``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.workbench.conftest import CAMPAIGN_ID, CLICK_ANSWER, HOSTILE_TITLE
from tests.workbench.server import ApiServer, api_server
from xops_provider.simulator.scenarios import company_xyz as xyz

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
# Records every CSP violation and script error in the page, before any of the page's scripts run.
WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(e.violatedDirective + " " + e.blockedURI);
});
"""
WIDGETS = ("summary", "details", "timeline", "entities", "evidence", "raw")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def artifacts() -> Path:
    folder = Path(os.environ.get("XOPS_TEST_ARTIFACTS") or tempfile.mkdtemp(prefix="xops-workbench-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nworkbench screenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def server(airflow_cli, seeded_store, tmp_path_factory) -> Iterator[ApiServer]:
    with api_server(
        home=tmp_path_factory.mktemp("api-server"), env=airflow_cli.env, store_url=seeded_store.url
    ) as up:
        yield up


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def analyst(browser, server):
    """A page logged in as the read-only analyst through Airflow's login page, with watchers on."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.add_init_script(WATCH)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on(
        "console",
        lambda message: (
            page.errors.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.goto(f"{server.root}/")
    page.get_by_label("Username").fill("analyst")
    page.get_by_label("Password").fill(server.passwords["analyst"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)
    yield page
    context.close()


def _clean(page) -> None:
    assert page.evaluate("window.__violations") == []
    assert page.errors == []
    assert page.evaluate("window.__xss") is None


class TestWorkbenchInChromium:
    def test_nav_opens_the_workbench_in_the_ui(self, analyst, server, artifacts):
        analyst.goto(f"{server.root}/plugin/stories")
        frame = analyst.frame_locator("iframe")
        frame.locator("table#stories").wait_for()
        assert frame.locator("table#stories tbody tr").count() == 3
        analyst.screenshot(path=str(artifacts / "workbench-in-airflow.png"))

    def test_list_filters_and_search(self, analyst, server, artifacts):
        analyst.goto(f"{server.workbench}/")
        rows = analyst.locator("table#stories tbody tr")
        assert rows.count() == 3
        analyst.screenshot(path=str(artifacts / "workbench-list.png"), full_page=True)
        if os.environ.get("XOPS_UPDATE_DOC_IMAGES") == "1":
            (REPO / "docs" / "img").mkdir(parents=True, exist_ok=True)
            shutil.copy(artifacts / "workbench-list.png", REPO / "docs" / "img" / "workbench-list.png")

        analyst.locator("select[name=indication]").select_option("Campaign")
        analyst.get_by_role("button", name="Apply").click()
        analyst.wait_for_url(lambda url: "indication=Campaign" in url)
        assert rows.count() == 1
        assert "30420" in rows.first.get_attribute("data-story-id")

        analyst.goto(f"{server.workbench}/")
        analyst.locator("input[name=q]").fill(xyz.CLICKER)
        analyst.get_by_role("button", name="Apply").click()
        analyst.wait_for_url(lambda url: "q=" in url)
        assert rows.count() == 1
        assert rows.first.get_attribute("data-story-id").endswith(xyz.MAIN_INCIDENT_ID)

        analyst.goto(f"{server.workbench}/?group=source")
        assert analyst.locator("table#groups tbody tr").count() == 3
        _clean(analyst)

    def test_story_page_widgets(self, analyst, server, seeded_store, artifacts):
        analyst.goto(f"{server.workbench}/")
        analyst.get_by_role("link", name=seeded_store.story_id(xyz.MAIN_INCIDENT_ID)).click()
        analyst.locator("#widget-summary").wait_for()
        for widget in WIDGETS:
            assert analyst.locator(f"#widget-{widget}").is_visible()
        assert analyst.locator('[data-answer="clicked"]').inner_text().endswith(CLICK_ANSWER)
        assert "Not known yet" in analyst.locator('[data-answer="broader_attack"]').inner_text()

        analyst.get_by_role("button", name="Collapse all").click()
        assert analyst.locator("details.widget[open]").count() == 0
        analyst.locator("#widget-raw summary").click()
        analyst.locator("#raw-search").fill("lastUpdateDateTime")
        assert "matching line" in analyst.locator("#raw-count").inner_text()
        assert all(
            "lastupdatedatetime" in line.lower()
            for line in analyst.locator("#raw-json").inner_text().splitlines()
        )
        analyst.get_by_role("button", name="Expand all").click()
        analyst.screenshot(path=str(artifacts / "workbench-story.png"), full_page=True)
        _clean(analyst)

    def test_hostile_story_renders_as_text_and_runs_nothing(self, analyst, server, seeded_store, artifacts):
        analyst.goto(f"{server.workbench}/story/{seeded_store.story_id(seeded_store.hostile_incident_id)}")
        assert analyst.locator("#story-title").inner_text() == HOSTILE_TITLE
        assert analyst.locator("#widget-entities").get_by_text("hxxps://evil[.]example").count() >= 1
        assert analyst.locator("a[href*=evil], a[href^=javascript]").count() == 0
        analyst.locator("#widget-raw summary").click()
        analyst.locator("#raw-search").fill("__xss")
        assert "matching line" in analyst.locator("#raw-count").inner_text()
        analyst.screenshot(path=str(artifacts / "workbench-hostile-story.png"), full_page=True)
        _clean(analyst)

    def test_campaign_page(self, analyst, server, artifacts):
        analyst.goto(f"{server.workbench}/")
        analyst.get_by_role("link", name=CAMPAIGN_ID).first.click()
        analyst.locator("#campaign-stories").wait_for()
        assert analyst.locator("#campaign-stories tbody tr").count() == 2
        assert xyz.CLICKER in analyst.locator("#campaign-users").inner_text()
        assert "payroll-docs-review[.]com" in analyst.locator("#campaign-indicators").inner_text()
        analyst.screenshot(path=str(artifacts / "workbench-campaign.png"), full_page=True)
        _clean(analyst)


class TestWithoutCredentials:
    @pytest.mark.parametrize(
        "path",
        [
            "/",
            "/story/x",
            "/campaign/x",
            "/integrations",
            "/api/stories",
            "/api/integrations",
            "/openapi.json",
            "/docs",
            "/redoc",
        ],
        ids=str,
    )
    def test_401_and_no_data(self, server, path):
        response = requests.get(f"{server.workbench}{path}", timeout=30)
        assert response.status_code == 401
        assert response.json() == {"detail": "Not authenticated"}

    def test_bearer_token_reads_the_api_and_its_description(self, server):
        headers = {"Authorization": f"Bearer {server.token('analyst')}"}
        assert (
            len(
                requests.get(f"{server.workbench}/api/stories", headers=headers, timeout=30).json()["stories"]
            )
            == 3
        )
        assert (
            "/api/stories"
            in requests.get(f"{server.workbench}/openapi.json", headers=headers, timeout=30).json()["paths"]
        )
        assert requests.get(f"{server.workbench}/docs", headers=headers, timeout=30).status_code == 200
