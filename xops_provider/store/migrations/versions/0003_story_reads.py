"""Story reads: source and producer columns, keyset, filter and search indexes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 10:00:00

The Workbench lists 50,000 stories by keyset pages, filters, groups and searches them, each through
an index (store/reads/):
- ``source`` (the primary recipient) and ``producer``, projections of the document that the list
  shows and groups by, filled here from the stored documents;
- ``(column, story_id)`` for each sort, so that a page continues from its cursor in one index range;
- ``(indication|verdict|source, criticality)`` for the filters and the grouped counts;
- ``merged_into`` of merged stories only (partial), for the story page's merged incidents;
- subject search on ``title``: pg_trgm trigrams on PostgreSQL (a trusted extension since
  PostgreSQL 13: the store's owner may create it), a plain index on SQLite;
- value-prefix search over the entity index (``text_pattern_ops`` on PostgreSQL, for any collation).
"""

from __future__ import annotations

from typing import Any

import msgspec
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_BATCH = 500
_INDEXES = (
    ("ix_stories_criticality_story_id", ["criticality", "story_id"]),
    ("ix_stories_created_at_story_id", ["created_at", "story_id"]),
    ("ix_stories_updated_at_story_id", ["updated_at", "story_id"]),
    ("ix_stories_indication_criticality", ["indication", "criticality"]),
    ("ix_stories_verdict_criticality", ["verdict", "criticality"]),
    ("ix_stories_source_criticality", ["source", "criticality"]),
)


class _Projection(msgspec.Struct):
    source: Any = None
    producer: Any = None
    summary: Any = None


def _text(value: Any, size: int) -> str | None:
    if value is None or isinstance(value, dict | list) or value == "":
        return None
    return str(value).replace("\x00", "")[:size] or None


def _projection(document: str) -> tuple[str | None, str | None]:
    # Frozen copy of tables.document_projection as of this revision.
    try:
        decoded = msgspec.json.decode(document, type=_Projection)
    except (msgspec.DecodeError, TypeError):
        return None, None
    source = decoded.source
    if source in (None, "") and isinstance(decoded.summary, dict):
        source = decoded.summary.get("source")
    return _text(source, 500), _text(decoded.producer, 200)


def _backfill() -> None:
    """Project every stored document into the new columns, in keyset batches (flat memory)."""
    bind = op.get_bind()
    stories = sa.table(
        "stories", sa.column("story_id"), sa.column("document"), sa.column("source"), sa.column("producer")
    )
    after = ""
    while True:
        rows = bind.execute(
            sa.select(stories.c.story_id, stories.c.document)
            .where(stories.c.story_id > after)
            .order_by(stories.c.story_id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        updates = []
        for story_id, document in rows:
            source, producer = _projection(document)
            updates.append({"key": story_id, "source": source, "producer": producer})
        bind.execute(
            sa.update(stories)
            .where(stories.c.story_id == sa.bindparam("key"))
            .values(source=sa.bindparam("source"), producer=sa.bindparam("producer")),
            updates,
        )
        after = rows[-1].story_id


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.add_column("stories", sa.Column("source", sa.String(length=500), nullable=True))
    op.add_column("stories", sa.Column("producer", sa.String(length=200), nullable=True))
    _backfill()
    for name, columns in _INDEXES:
        op.create_index(name, "stories", columns, unique=False)
    merged = sa.column("merged_into").is_not(None)
    op.create_index(
        "ix_stories_merged_into_set",
        "stories",
        ["merged_into"],
        unique=False,
        sqlite_where=merged,
        postgresql_where=merged,
    )
    if postgres:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_index(
        "ix_stories_title_search",
        "stories",
        ["title"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"title": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_story_entities_value_prefix",
        "story_entities",
        ["value", "type", "story_id"],
        unique=False,
        postgresql_ops={"value": "text_pattern_ops"},
    )


def downgrade() -> None:
    op.drop_index("ix_story_entities_value_prefix", table_name="story_entities")
    op.drop_index("ix_stories_title_search", table_name="stories")
    op.drop_index("ix_stories_merged_into_set", table_name="stories")
    for name, _ in reversed(_INDEXES):
        op.drop_index(name, table_name="stories")
    with op.batch_alter_table("stories") as batch:
        batch.drop_column("producer")
        batch.drop_column("source")
