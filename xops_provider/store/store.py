"""One opened store: an engine and the repositories that share it."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.engine import URL

from xops_provider.store.correlation import CorrelationStore
from xops_provider.store.database import (
    SchemaNotMigrated,
    create_store_engine,
    require_schema,
    upgrade_schema,
)
from xops_provider.store.evidence import EvidenceStore
from xops_provider.store.integrations import IntegrationStore
from xops_provider.store.reads import StoryReads
from xops_provider.store.stories import StoryQueue
from xops_provider.store.sync import SyncStore


class Store:
    """The story store, one repository per concern, over one engine.

    * :attr:`sync`: versions, heads, sync state, quarantine and the lock (the sync engine's port);
    * :attr:`stories`: the producer's queue and the story writes (the producer's port);
    * :attr:`reads`: the list, filter, count and show queries (the CLI and the Workbench);
    * :attr:`correlation`: hunting rows, endpoint alerts and each story's correlation inputs.
    * :attr:`evidence`: network events kept for correlation, their retention, and the feeds' markers.
    * :attr:`integrations`: the integrations, and each one's health.

    Use :meth:`open`. Only a writer migrates: readers (the triggerer, the Workbench) open with
    ``migrate=False`` and are told clearly when the schema is behind.

    :param engine: an engine from :func:`~xops_provider.store.database.create_store_engine`.
    """

    def __init__(self, *, engine: Engine) -> None:
        self.engine = engine
        self.sync = SyncStore(engine=engine)
        self.stories = StoryQueue(engine=engine)
        self.reads = StoryReads(engine=engine)
        self.correlation = CorrelationStore(engine=engine)
        self.evidence = EvidenceStore(engine=engine)
        self.integrations = IntegrationStore(engine=engine)

    @classmethod
    def open(cls, url: str | URL, *, migrate: bool = True) -> Store:
        """Open the store at ``url``.

        :param url: a SQLAlchemy URL (``sqlite:///…`` or ``postgresql://…``).
        :param migrate: upgrade the schema first (safe to run concurrently); otherwise check that it
            is current and raise :class:`~xops_provider.store.database.SchemaNotMigrated` if not.
        """
        engine = create_store_engine(url)
        try:
            if migrate:
                upgrade_schema(engine)
            else:
                require_schema(engine)
        except SchemaNotMigrated:
            engine.dispose()
            raise
        return cls(engine=engine)

    def close(self) -> None:
        """Release the store's connections."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.engine.url.render_as_string(hide_password=True)})"
