"""Fixtures of the correlation tests: the campaign's real story documents, facts and the schema."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from tests.paths import REAL_FIXTURES, STORY_SCHEMA
from tests.stories.campaign import INTEGRATION, TENANT, campaign_payloads, received_at
from tests.stories.memory import InMemoryStoryRepository
from xops_provider.stories.produce import produce

CATO_FIXTURE = REAL_FIXTURES / "network" / "cato_events_feed" / "records_sekoia.ndjson"
HUNTING_FIXTURE = REAL_FIXTURES / "hunting" / "email_tables_linked_elastic.ndjson"


def _produce_campaign() -> dict[str, dict[str, Any]]:
    repo = InMemoryStoryRepository()
    for payload in campaign_payloads():
        repo.ingest(payload, tenant_id=TENANT, received_at=received_at(payload))
    report = produce(repo, integration=INTEGRATION, batch_size=10)
    assert report.failures == []
    return repo.stories


@pytest.fixture(scope="session")
def _campaign_documents() -> str:
    # Produced once, handed out as fresh copies: tests may change their documents.
    return json.dumps(_produce_campaign())


@pytest.fixture
def campaign_stories(_campaign_documents: str) -> dict[str, dict[str, Any]]:
    """The producer's documents of the "Company XYZ" campaign, by story id (101, 102 merged, 103)."""
    return json.loads(_campaign_documents)


@pytest.fixture(scope="session")
def assert_valid_story() -> Callable[[dict[str, Any]], None]:
    schema = json.loads(STORY_SCHEMA.read_text())
    validator = Draft202012Validator(schema, format_checker=FormatChecker())

    def check(story: dict[str, Any]) -> None:
        errors = sorted(validator.iter_errors(story), key=lambda e: list(e.path))
        assert not errors, "; ".join(f"{list(e.path)}: {e.message[:200]}" for e in errors)
        assert json.loads(json.dumps(story)) == story

    return check


@pytest.fixture(scope="session")
def cato_lines() -> list[str]:
    return CATO_FIXTURE.read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="session")
def hunting_lines() -> dict[str, str]:
    """The streaming-API rows of the real fixture, by table."""
    rows = {}
    for line in HUNTING_FIXTURE.read_text(encoding="utf-8").splitlines():
        rows[json.loads(line)["category"].removeprefix("AdvancedHunting-")] = line
    return rows


@pytest.fixture(scope="session")
def real_fixture_json() -> Callable[[str], Any]:
    def load(relative: str) -> Any:
        return json.loads((REAL_FIXTURES / relative).read_text(encoding="utf-8"))

    return load
