"""The story store's tables (SQLAlchemy Core).

Timestamps that identify or order Graph data are kept twice: as the canonical seven-digit text
(``GraphTime.isoformat()``, which sorts correctly as text) and, where the store compares or indexes
them, as a ``BIGINT`` count of 100 ns ticks. The story columns are projections of the story document,
so that the Workbench filters and sorts by index instead of scanning JSON.

``network_events`` (time, user, IP, domain) joins ``story_entities`` on ``(type, value)``, which is
why entity values are normalised and indexed that way.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

# Explicit constraint names keep migrations portable between SQLite (batch mode) and PostgreSQL.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

#: Keeps the store's Alembic history apart from Airflow's own ``alembic_version`` when both share
#: one database.
VERSION_TABLE = "xops_store_version"

raw_incident_versions = Table(
    "raw_incident_versions",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("integration", String(200), nullable=False),
    Column("tenant_id", String(200), nullable=False),
    Column("incident_id", String(200), nullable=False),
    Column("last_update", String(32), nullable=False),
    Column("last_update_ticks", BigInteger, nullable=False),
    Column("received_at", String(32), nullable=False),
    Column("payload", Text, nullable=False),
    Column("produced", Boolean, nullable=False, server_default=false()),
    # The dedup key: a reread of the same version is ignored by the insert itself.
    UniqueConstraint("tenant_id", "incident_id", "last_update_ticks"),
)
# The producer's queue: only unproduced rows are indexed, so the index stays small.
Index(
    "ix_raw_incident_versions_pending",
    raw_incident_versions.c.integration,
    raw_incident_versions.c.id,
    sqlite_where=raw_incident_versions.c.produced == false(),
    postgresql_where=raw_incident_versions.c.produced == false(),
)

incidents = Table(
    "incidents",
    metadata,
    Column("tenant_id", String(200), primary_key=True),
    Column("incident_id", String(200), primary_key=True),
    Column("integration", String(200), nullable=False),
    Column(
        "latest_version_id",
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("raw_incident_versions.id"),
        nullable=False,
    ),
    Column("last_update", String(32), nullable=False),
    Column("last_update_ticks", BigInteger, nullable=False),
    Column("status", String(64)),
    Column("redirect_incident_id", String(200)),
    Column("has_mdo_alert", Boolean, nullable=False, server_default=false()),
)
Index("ix_incidents_tenant_id_last_update_ticks", incidents.c.tenant_id, incidents.c.last_update_ticks)
Index("ix_incidents_tenant_id_redirect_incident_id", incidents.c.tenant_id, incidents.c.redirect_incident_id)

sync_state = Table(
    "sync_state",
    metadata,
    Column("integration", String(200), primary_key=True),
    Column("tenant_id", String(200), nullable=False),
    Column("watermark", String(32)),
    Column("watermark_ticks", BigInteger),
    Column("overlap_seconds", Integer, nullable=False),
    Column("lookback_start", String(32), nullable=False),
    # JSON list of "<incident id>@<ticks>" for versions within the overlap window below the watermark.
    Column("seen", Text, nullable=False, server_default="[]"),
    Column("runs", Integer, nullable=False, server_default="0"),
    Column("batches", BigInteger, nullable=False, server_default="0"),
    Column("versions_stored", BigInteger, nullable=False, server_default="0"),
    Column("quarantined", BigInteger, nullable=False, server_default="0"),
    Column("updated_at", String(32), nullable=False),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("integration", String(200), nullable=False),
    Column("tenant_id", String(200), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("record_id", String(200)),
    Column("reason", Text, nullable=False),
    Column("payload", Text, nullable=False),
    # sha256 of kind and payload: a reread of the same bad record adds no row.
    Column("fingerprint", String(64), nullable=False),
    Column("first_seen_at", String(32), nullable=False),
    UniqueConstraint("integration", "fingerprint"),
)

stories = Table(
    "stories",
    metadata,
    Column("story_id", String(500), primary_key=True),
    Column("integration", String(200), nullable=False),
    Column("tenant_id", String(200), nullable=False),
    Column("incident_id", String(200), nullable=False),
    Column("title", Text, nullable=False),
    Column("source_url", Text),
    Column("criticality", Integer, nullable=False),
    Column("severity", String(64)),
    Column("status", String(32), nullable=False),
    Column("vendor_status", String(64)),
    Column("verdict", String(32)),
    Column("predicted_verdict", String(32)),
    Column("indication", String(200)),
    Column("first_signal", String(32)),
    Column("last_signal", String(32)),
    Column("created_at", String(32)),
    Column("updated_at", String(32)),
    Column("merged_into", String(500)),
    Column("campaign_id", String(500)),
    Column("alert_count", Integer, nullable=False, server_default="0"),
    Column("is_open", Boolean, nullable=False),
    Column("document", Text, nullable=False),
    Column("document_sha256", String(64), nullable=False),
)
Index("ix_stories_status_criticality", stories.c.status, stories.c.criticality)
# The Workbench's default list: most critical first, then oldest signal (open ones, or all).
Index(
    "ix_stories_is_open_criticality",
    stories.c.is_open,
    stories.c.criticality.desc(),
    stories.c.first_signal,
    stories.c.story_id,
)
Index(
    "ix_stories_criticality_first_signal",
    stories.c.criticality.desc(),
    stories.c.first_signal,
    stories.c.story_id,
)
Index("ix_stories_updated_at", stories.c.updated_at)
Index("ix_stories_integration_updated_at", stories.c.integration, stories.c.updated_at)
Index("ix_stories_tenant_id_incident_id", stories.c.tenant_id, stories.c.incident_id)
Index("ix_stories_merged_into", stories.c.merged_into)
Index("ix_stories_campaign_id", stories.c.campaign_id)

story_entities = Table(
    "story_entities",
    metadata,
    Column(
        "story_id",
        String(500),
        ForeignKey("stories.story_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("type", String(32), primary_key=True),
    Column("value", String(1000), primary_key=True),
    Column("roles", Text, nullable=False, server_default="[]"),
    Column("verdict", String(32)),
)
Index("ix_story_entities_type_value", story_entities.c.type, story_entities.c.value)

network_events = Table(
    "network_events",
    metadata,
    # The fact's natural key: a refetch of the same record is ignored by the insert itself.
    Column("fact_key", String(64), primary_key=True),
    Column("source", String(64), nullable=False),
    Column("time", String(32), nullable=False),
    Column("time_ticks", BigInteger, nullable=False),
    Column("user", String(1000)),
    Column("device", String(1000)),
    Column("device_id", String(200)),
    Column("src_ip", String(64)),
    Column("dest_ip", String(64)),
    Column("dest_port", Integer),
    Column("domain", String(1000)),
    # The domain's labels reversed and dot-terminated (``example.evil.a.``): a domain and its
    # subdomains are then one prefix, one index range. Byte order on PostgreSQL, whatever the
    # database's collation, so that the range holds exactly that prefix.
    Column("domain_reversed", String(1000).with_variant(String(1000, collation="C"), "postgresql")),
    Column("url", Text),
    Column("action", String(200)),
    Column("detail", Text),
    Column("raw", Text, nullable=False),
    Column("received_at", String(32), nullable=False),
)
# One per way a story joins an event, each with the time so the window is part of the index range.
Index("ix_network_events_user_time_ticks", network_events.c.user, network_events.c.time_ticks)
Index("ix_network_events_src_ip_time_ticks", network_events.c.src_ip, network_events.c.time_ticks)
Index("ix_network_events_dest_ip_time_ticks", network_events.c.dest_ip, network_events.c.time_ticks)
Index(
    "ix_network_events_domain_reversed_time_ticks",
    network_events.c.domain_reversed,
    network_events.c.time_ticks,
)
# URLs are matched within the window (a URL is too long to index well); retention purges by time.
Index("ix_network_events_time_ticks", network_events.c.time_ticks)
