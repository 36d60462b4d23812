"""Compress the large JSON columns with lz4 on PostgreSQL

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 19:30:00

Every raw incident version (about 11 kB) and story document (about 30 kB) is TOASTed. PostgreSQL's
default pglz costs the server more CPU than the rest of an ingest's transaction, while lz4 compresses
as well for this JSON at a fraction of the cost (benchmarks/RESULTS.md). lz4 exists on servers built
with it (PostgreSQL 14+, as Debian and the official images are); elsewhere the columns keep pglz.
It applies to values written from now on. SQLite has no such setting.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_COLUMNS = (("raw_incident_versions", "payload"), ("stories", "document"))


def _lz4_available() -> bool:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    row = bind.execute(
        sa.text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
    ).first()
    return row is not None and "lz4" in (row[0] or [])


def upgrade() -> None:
    if _lz4_available():
        for table, column in _COLUMNS:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION lz4")


def downgrade() -> None:
    if _lz4_available():
        for table, column in _COLUMNS:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION pglz")
