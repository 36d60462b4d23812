"""Correlation: hunting rows, endpoint alerts and each story's correlation inputs

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 15:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hunting_rows",
        sa.Column("fact_key", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.String(200), nullable=False),
        sa.Column("table_name", sa.String(64), nullable=False),
        sa.Column("time_ticks", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.String(200)),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("received_at", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("fact_key", name="pk_hunting_rows"),
    )
    op.create_index("ix_hunting_rows_tenant_id_message_id", "hunting_rows", ["tenant_id", "message_id"])
    op.create_index("ix_hunting_rows_time_ticks", "hunting_rows", ["time_ticks"])
    op.create_table(
        "endpoint_alerts",
        sa.Column("fact_key", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.String(200), nullable=False),
        sa.Column("alert_id", sa.String(200), nullable=False),
        sa.Column("time_ticks", sa.BigInteger(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("received_at", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("fact_key", name="pk_endpoint_alerts"),
    )
    op.create_index("ix_endpoint_alerts_time_ticks", "endpoint_alerts", ["time_ticks"])
    op.create_table(
        "story_correlation",
        sa.Column("story_id", sa.String(500), nullable=False),
        sa.Column("tenant_id", sa.String(200), nullable=False),
        sa.Column("incident_id", sa.String(200), nullable=False),
        sa.Column("campaign_id", sa.String(500)),
        sa.Column("inputs", sa.Text(), nullable=False),
        sa.Column("inputs_sha256", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("story_id", name="pk_story_correlation"),
    )
    op.create_index("ix_story_correlation_campaign_id", "story_correlation", ["campaign_id"])


def downgrade() -> None:
    op.drop_table("story_correlation")
    op.drop_table("endpoint_alerts")
    op.drop_table("hunting_rows")
