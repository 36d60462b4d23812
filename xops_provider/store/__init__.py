"""The story store: SQLAlchemy 2 tables, Alembic migrations, and one repository per concern.

``database`` opens engines, holds locks and migrates; ``tables`` is the schema; ``base`` is what the
repositories share; ``sync``, ``stories``, ``reads`` and ``evidence`` are the repositories; ``store``
opens them together. Storage encodings (JSON text, digests, dialect upserts) stay in this package. No Airflow.
"""

from __future__ import annotations

from xops_provider.store.database import (
    HeldLock,
    LockLost,
    LockTimeout,
    SchemaNotMigrated,
    StoreConfigurationError,
    create_store_engine,
    default_sqlite_path,
    sqlite_url,
    upgrade_schema,
    url_from_connection,
)
from xops_provider.store.store import Store
from xops_provider.store.sync import QuarantinedRecord
from xops_provider.sync.ports import TransientStoreError

__all__ = [
    "HeldLock",
    "LockLost",
    "LockTimeout",
    "QuarantinedRecord",
    "SchemaNotMigrated",
    "Store",
    "StoreConfigurationError",
    "TransientStoreError",
    "create_store_engine",
    "default_sqlite_path",
    "sqlite_url",
    "upgrade_schema",
    "url_from_connection",
]
