"""The story store: SQLAlchemy 2 tables, Alembic migrations and the repository (no Airflow here)."""

from __future__ import annotations

from xops_provider.store.database import (
    HeldLock,
    LockLost,
    LockTimeout,
    StoreConfigurationError,
    TransientStoreError,
    create_store_engine,
    default_sqlite_path,
    sqlite_url,
    upgrade_schema,
    url_from_connection,
)
from xops_provider.store.repository import (
    BatchOutcome,
    NewVersion,
    QuarantinedRecord,
    QuarantineEntry,
    Store,
    SyncState,
)

__all__ = [
    "BatchOutcome",
    "HeldLock",
    "LockLost",
    "LockTimeout",
    "NewVersion",
    "QuarantineEntry",
    "QuarantinedRecord",
    "Store",
    "StoreConfigurationError",
    "SyncState",
    "TransientStoreError",
    "create_store_engine",
    "default_sqlite_path",
    "sqlite_url",
    "upgrade_schema",
    "url_from_connection",
]
