"""The story store's tables (SQLAlchemy Core).

Timestamps that identify or order Graph data are kept twice: as the canonical seven-digit text
(``GraphTime.isoformat()``, which sorts correctly as text) and, where the store compares or indexes
them, as a ``BIGINT`` count of 100 ns ticks. The story columns are projections of the story document,
so that the Workbench filters and sorts by index instead of scanning JSON.

``network_events`` (time, user, IP, domain) joins ``story_entities`` on ``(type, value)``, which is
why entity values are normalised and indexed that way.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import msgspec
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

# -- Story reads (``store/reads/``, the Workbench and the CLI) -----------------------------------------
# Two more projections of the document, so that the list shows and groups by them: ``source`` (the
# primary recipient) and ``producer``. A writer that does not pass them gets them computed from the
# row's own ``document`` (:func:`document_projection`), so they can never disagree with it.


class _DocumentProjection(msgspec.Struct):
    source: Any = None
    producer: Any = None
    summary: Any = None


_PROJECTION_DECODER = msgspec.json.Decoder(_DocumentProjection)
#: The projected columns' sizes; longer values are cut (the document keeps them whole).
PROJECTION_SIZES = {"source": 500, "producer": 200}


@functools.lru_cache(maxsize=16)
def document_projection(document: str) -> tuple[str | None, str | None]:
    """``(source, producer)`` of a story document's JSON text, cut to their columns' sizes.

    Decodes only those keys (msgspec skips the rest), once per document for both columns.

    :param document: the document as stored.
    """
    try:
        decoded = _PROJECTION_DECODER.decode(document)
    except (msgspec.DecodeError, TypeError):
        return None, None
    source = decoded.source
    if source in (None, "") and isinstance(decoded.summary, dict):
        source = decoded.summary.get("source")
    return (
        _projected(source, PROJECTION_SIZES["source"]),
        _projected(decoded.producer, PROJECTION_SIZES["producer"]),
    )


def _projected(value: Any, size: int) -> str | None:
    if value is None or isinstance(value, dict | list) or value == "":
        return None
    return str(value).replace("\x00", "")[:size] or None


def _from_document(index: int) -> Callable[[Any], str | None]:
    def default(context: Any) -> str | None:
        document = context.get_current_parameters().get("document")
        return document_projection(document)[index] if isinstance(document, str) else None

    return default


stories.append_column(Column("source", String(500), default=_from_document(0)))
stories.append_column(Column("producer", String(200), default=_from_document(1)))

# Keyset pagination: each sort is (column, story_id), so a page continues from a key in one index range.
Index("ix_stories_criticality_story_id", stories.c.criticality, stories.c.story_id)
Index("ix_stories_created_at_story_id", stories.c.created_at, stories.c.story_id)
Index("ix_stories_updated_at_story_id", stories.c.updated_at, stories.c.story_id)
# Filters and groupings that count by criticality read these without touching the rows.
Index("ix_stories_indication_criticality", stories.c.indication, stories.c.criticality)
Index("ix_stories_verdict_criticality", stories.c.verdict, stories.c.criticality)
Index("ix_stories_source_criticality", stories.c.source, stories.c.criticality)
# Merged stories only: almost every merged_into is NULL, which makes SQLite's statistics call the full
# index useless, so the story page's "merged incidents" scanned every story.
_MERGED = stories.c.merged_into.is_not(None)
Index("ix_stories_merged_into_set", stories.c.merged_into, sqlite_where=_MERGED, postgresql_where=_MERGED)
# Subject search: trigrams (pg_trgm) for ILIKE '%term%' on PostgreSQL; on SQLite a narrow index the
# LIKE scan reads instead of the rows and their documents.
Index(
    "ix_stories_title_search",
    stories.c.title,
    postgresql_using="gin",
    postgresql_ops={"title": "gin_trgm_ops"},
)
# Free-text search by value prefix over every entity type at once (text_pattern_ops: LIKE 'term%'
# uses it whatever the database's collation).
Index(
    "ix_story_entities_value_prefix",
    story_entities.c.value,
    story_entities.c.type,
    story_entities.c.story_id,
    postgresql_ops={"value": "text_pattern_ops"},
)

# -- correlation: facts as received, and what each story's rebuild reads ---------------------------

# Hunting rows (EmailEvents, EmailUrlInfo, EmailPostDeliveryEvents, UrlClickEvents,
# DeviceNetworkEvents) exactly as runHuntingQuery returned them; a refetch writes nothing twice.
hunting_rows = Table(
    "hunting_rows",
    metadata,
    Column("fact_key", String(64), primary_key=True),
    Column("tenant_id", String(200), nullable=False),
    Column("table_name", String(64), nullable=False),
    Column("time_ticks", BigInteger, nullable=False),
    Column("message_id", String(200)),
    Column("raw", Text, nullable=False),
    Column("received_at", String(32), nullable=False),
    Index(None, "tenant_id", "message_id"),
    Index(None, "time_ticks"),
)

# alerts_v2 alerts of other products (Defender for Endpoint, Identity, Cloud Apps); a newer copy of
# an alert replaces the stored one.
endpoint_alerts = Table(
    "endpoint_alerts",
    metadata,
    Column("fact_key", String(64), primary_key=True),
    Column("tenant_id", String(200), nullable=False),
    Column("alert_id", String(200), nullable=False),
    Column("time_ticks", BigInteger, nullable=False),
    Column("raw", Text, nullable=False),
    Column("received_at", String(32), nullable=False),
    Index(None, "time_ticks"),
)

# Each story's correlation inputs: the keys of the facts matched to it, its related stories, its
# campaign and the sources' states. The producer rebuilds the story from its incident versions and
# this row, so an incident update never erases a finding; a changed row requeues the story.
story_correlation = Table(
    "story_correlation",
    metadata,
    Column("story_id", String(500), primary_key=True),
    Column("tenant_id", String(200), nullable=False),
    Column("incident_id", String(200), nullable=False),
    Column("campaign_id", String(500)),
    Column("inputs", Text, nullable=False),
    Column("inputs_sha256", String(64), nullable=False),
    Column("updated_at", String(32), nullable=False),
    Index(None, "campaign_id"),
)
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

# Where each pulled feed resumes: Cato's eventsFeed marker per connection and account. A page's
# events and the marker after them are written in one transaction, so a crash never skips or
# repeats a page.
feed_markers = Table(
    "feed_markers",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("feed_id", String(500), primary_key=True),
    Column("marker", Text, nullable=False),
    Column("pages", BigInteger, nullable=False),
    Column("events", BigInteger, nullable=False),
    Column("updated_at", String(32), nullable=False),
)

# -- integrations: one per tenant and product, and each one's health ------------------------------

integrations = Table(
    "integrations",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("product", String(200), nullable=False),
    Column("conn_id", String(250), nullable=False),
    Column("tenant_id", String(200), nullable=False),
    Column("description", Text),
    Column("enabled", Boolean, nullable=False),
    # JSON object of per-integration settings (lookback, schedule, ...).
    Column("options", Text, nullable=False, server_default="{}"),
    Column("created_at", String(32), nullable=False),
    UniqueConstraint("tenant_id", "product"),
)

# Kept apart from ``integrations`` so that the implicit ``default`` integration, which has no row
# there, still has its health recorded.
integration_health = Table(
    "integration_health",
    metadata,
    Column("integration", String(200), primary_key=True),
    Column("status", String(300), nullable=False),
    Column("last_run_at", String(32), nullable=False),
    Column("last_good_sync", String(32)),
    Column("last_error", String(300)),
    Column("last_error_at", String(32)),
    Column("throttled_429", BigInteger, nullable=False, server_default="0"),
    Column("quarantined", BigInteger, nullable=False, server_default="0"),
    Column("failed_runs", BigInteger, nullable=False, server_default="0"),
    Column("runs", BigInteger, nullable=False, server_default="0"),
)
