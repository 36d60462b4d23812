"""Fixtures of the story domain tests: the export schema, golden files and an in-memory store."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from tests.paths import REAL_FIXTURES, STORY_SCHEMA
from tests.stories.memory import InMemoryStoryRepository

SCHEMA_PATH = STORY_SCHEMA
GOLDEN = Path(__file__).parent / "golden"
UPDATE_GOLDEN = os.environ.get("XOPS_UPDATE_GOLDEN") == "1"


@pytest.fixture(scope="session")
def story_validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


@pytest.fixture(scope="session")
def assert_valid_story(story_validator: Draft202012Validator) -> Callable[[dict[str, Any]], None]:
    def check(story: dict[str, Any]) -> None:
        errors = sorted(story_validator.iter_errors(story), key=lambda e: list(e.path))
        assert not errors, "; ".join(f"{list(e.path)}: {e.message[:200]}" for e in errors)
        # The export is JSON lines: the document must round-trip unchanged.
        assert json.loads(json.dumps(story)) == story

    return check


@pytest.fixture
def repo(assert_valid_story: Callable[[dict[str, Any]], None]) -> InMemoryStoryRepository:
    return InMemoryStoryRepository(validate=assert_valid_story)


@pytest.fixture(scope="session")
def assert_golden() -> Callable[[str, Any], None]:
    """Compare with ``golden/<name>.json``; ``XOPS_UPDATE_GOLDEN=1`` rewrites the file instead."""

    def check(name: str, actual: Any) -> None:
        path = GOLDEN / f"{name}.json"
        text = json.dumps(actual, indent=2, ensure_ascii=False) + "\n"
        if UPDATE_GOLDEN or not path.exists():
            if not UPDATE_GOLDEN:
                pytest.fail(f"golden file {path.name} is missing; run with XOPS_UPDATE_GOLDEN=1")
            path.write_text(text, encoding="utf-8")
        assert json.loads(path.read_text(encoding="utf-8")) == json.loads(text), f"differs from {path.name}"

    return check


@pytest.fixture(scope="session")
def real_fixture() -> Callable[[str], Any]:
    def load(relative: str) -> Any:
        return json.loads((REAL_FIXTURES / relative).read_text(encoding="utf-8"))

    return load
