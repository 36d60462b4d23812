"""Where the tests find the repository and the project's shared material (``../shared`` in CI)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: ``XOPS_SHARED_DIR`` overrides it, for a checkout whose ``shared/`` is not beside it.
SHARED = Path(os.environ.get("XOPS_SHARED_DIR") or REPO.parent / "shared")
STORY_SCHEMA = SHARED / "schemas" / "story.schema.json"
REAL_FIXTURES = SHARED / "fixtures" / "real"
REAL_GRAPH = REAL_FIXTURES / "graph"
