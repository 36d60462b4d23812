"""What the sync needs from outside, owned by the sync: pages in, batches out.

The Graph hook implements :class:`PageSource`; the store implements :class:`SyncRepository`. The
engine imports neither: it knows these protocols and the plain records below.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from xops_provider.models.timestamps import GraphTime


@dataclass(frozen=True)
class Page:
    """One page of Graph's incident listing.

    :param incidents: each record's JSON text exactly as Graph sent it (the one page-item type: the
        store keeps these bytes as they are).
    :param next_link: the ``@odata.nextLink``, ``None`` on the last page.
    """

    incidents: list[bytes]
    next_link: str | None = None


class PageSource(Protocol):
    """Where pages come from (the Defender hook in production)."""

    def query(self, *, since: GraphTime) -> Page:
        """The first page of ``lastUpdateDateTime ge since``, ordered ascending, with alerts."""
        ...

    def follow(self, next_link: str) -> Page:
        """The page a nextLink names."""
        ...


class SkipCeilingReached(Exception):
    """Graph refused a deeper ``$skip``."""


class BrokenChain(Exception):
    """A nextLink cannot be followed any more."""


class TransientStoreError(Exception):
    """The store is unreachable or busy for now; the same call may succeed later."""


@dataclass(frozen=True, slots=True)
class NewVersion:
    """A validated incident version, ready to store.

    :param incident_id: Defender's incident id.
    :param last_update: the version's ``lastUpdateDateTime``.
    :param payload: the incident as received, as JSON text.
    :param status: the normalised incident status.
    :param redirect_incident_id: the survivor a redirected incident names.
    :param has_mdo_alert: whether this version holds a Defender for Office 365 alert.
    """

    incident_id: str
    last_update: GraphTime
    payload: str
    status: str | None
    redirect_incident_id: str | None
    has_mdo_alert: bool

    @property
    def key(self) -> str:
        """The dedup key within a tenant: ``<incident id>@<ticks>``."""
        return f"{self.incident_id}@{self.last_update.ticks}"


@dataclass(frozen=True, slots=True)
class QuarantineEntry:
    """A record that could not be accepted.

    :param kind: what it was, for example ``incident``.
    :param record_id: its id, when it had a readable one.
    :param reason: why it was refused, for a human.
    :param payload: the record as received, as text.
    """

    kind: str
    record_id: str | None
    reason: str
    payload: str

    @property
    def fingerprint(self) -> str:
        """Identity of the bad record: the same bytes reread add no row."""
        return hashlib.sha256(f"{self.kind}\n{self.payload}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SyncState:
    """Where an integration's sync stands.

    :param integration: the integration.
    :param tenant_id: its tenant.
    :param watermark: the latest ``lastUpdateDateTime`` stored, ``None`` before any.
    :param overlap_seconds: the overlap the last run reread.
    :param lookback_start: where the first run started.
    :param seen: dedup keys (``<incident id>@<ticks>``) stored within the overlap window.
    :param runs: completed runs.
    :param batches: committed batches.
    :param versions_stored: new versions stored, all runs.
    :param quarantined: records quarantined, all runs.
    """

    integration: str
    tenant_id: str
    watermark: GraphTime | None
    overlap_seconds: int
    lookback_start: GraphTime
    seen: frozenset[str]
    runs: int = 0
    batches: int = 0
    versions_stored: int = 0
    quarantined: int = 0


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What one committed batch changed.

    :param stored: versions newly stored.
    :param duplicates: versions that were already stored.
    :param quarantined: records newly quarantined.
    """

    stored: int
    duplicates: int
    quarantined: int


class SyncLock(Protocol):
    """A held per-integration lock."""

    def verify(self) -> None:
        """Make sure the lock is still held (re-take it if the database dropped it)."""
        ...


class SyncRepository(Protocol):
    """The sync's view of the store."""

    def sync_lock(
        self, integration: str, *, timeout: float | None = None
    ) -> contextlib.AbstractContextManager[SyncLock]:
        """The lock that keeps two runs of one integration from overlapping."""
        ...

    def sync_state(self, integration: str) -> SyncState | None:
        """The integration's state, ``None`` before its first batch."""
        ...

    def commit_batch(
        self,
        *,
        integration: str,
        tenant_id: str,
        versions: Sequence[NewVersion],
        quarantined: Sequence[QuarantineEntry],
        watermark: GraphTime | None,
        seen: Collection[str],
        overlap_seconds: int,
        lookback_start: GraphTime,
    ) -> BatchOutcome:
        """Store one batch and the state that covers it, in one transaction."""
        ...

    def finish_run(self, integration: str) -> None:
        """Count a completed run."""
        ...
