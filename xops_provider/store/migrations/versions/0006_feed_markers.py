"""Feed markers: where each pulled network feed (Cato's eventsFeed) resumes

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 16:00:00

One row per feed (``source``, ``feed_id``: the connection and the account). The puller writes a
page's events and the marker after them in one transaction.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feed_markers",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("feed_id", sa.String(length=500), nullable=False),
        sa.Column("marker", sa.Text(), nullable=False),
        sa.Column("pages", sa.BigInteger(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("source", "feed_id", name=op.f("pk_feed_markers")),
    )


def downgrade() -> None:
    op.drop_table("feed_markers")
