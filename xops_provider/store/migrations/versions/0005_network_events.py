"""Network events: Cato and Zeek records kept for correlation

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 15:40:00

One row per network fact (``fact_key``), with the values a story joins on, each indexed with the
time so that a story's window is part of the index range. ``domain_reversed`` makes a domain and
its subdomains one prefix; on PostgreSQL it compares bytewise (collation ``C``) so that the prefix
range is exact under any database collation.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TIME_INDEXED = ("user", "src_ip", "dest_ip", "domain_reversed")


def upgrade() -> None:
    op.create_table(
        "network_events",
        sa.Column("fact_key", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("time", sa.String(length=32), nullable=False),
        sa.Column("time_ticks", sa.BigInteger(), nullable=False),
        sa.Column("user", sa.String(length=1000), nullable=True),
        sa.Column("device", sa.String(length=1000), nullable=True),
        sa.Column("device_id", sa.String(length=200), nullable=True),
        sa.Column("src_ip", sa.String(length=64), nullable=True),
        sa.Column("dest_ip", sa.String(length=64), nullable=True),
        sa.Column("dest_port", sa.Integer(), nullable=True),
        sa.Column("domain", sa.String(length=1000), nullable=True),
        sa.Column(
            "domain_reversed",
            sa.String(length=1000).with_variant(sa.String(length=1000, collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("action", sa.String(length=200), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("received_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("fact_key", name=op.f("pk_network_events")),
    )
    for column in _TIME_INDEXED:
        op.create_index(f"ix_network_events_{column}_time_ticks", "network_events", [column, "time_ticks"])
    op.create_index("ix_network_events_time_ticks", "network_events", ["time_ticks"])


def downgrade() -> None:
    op.drop_table("network_events")
