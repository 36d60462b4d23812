"""Integrations: one per tenant and product, and each one's health

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 16:10:00

``integrations`` holds the integrations added with ``xops integrations add`` (the implicit
``default`` one has no row until it is changed); ``integration_health`` the status and counters
each run records, for any integration, implicit or not.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "integrations",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("product", sa.String(200), nullable=False),
        sa.Column("conn_id", sa.String(250), nullable=False),
        sa.Column("tenant_id", sa.String(200), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("options", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_integrations"),
        sa.UniqueConstraint("tenant_id", "product", name="uq_integrations_tenant_id_product"),
    )
    op.create_table(
        "integration_health",
        sa.Column("integration", sa.String(200), nullable=False),
        sa.Column("status", sa.String(300), nullable=False),
        sa.Column("last_run_at", sa.String(32), nullable=False),
        sa.Column("last_good_sync", sa.String(32)),
        sa.Column("last_error", sa.String(300)),
        sa.Column("last_error_at", sa.String(32)),
        sa.Column("throttled_429", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("quarantined", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("failed_runs", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("runs", sa.BigInteger(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("integration", name="pk_integration_health"),
    )


def downgrade() -> None:
    op.drop_table("integration_health")
    op.drop_table("integrations")
