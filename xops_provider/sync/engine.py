"""The incident sync: reads Graph's incident listing through a :class:`PageSource` into the store.

Pure: no Airflow, no HTTP, no database. The caller hands over a :class:`~xops_provider.sync.ports.PageSource`
(the Defender hook in production, an in-memory listing in tests) and a
:class:`~xops_provider.sync.ports.SyncRepository` (the store's sync repository).

Paging (decided). Graph pages ``$orderby=lastUpdateDateTime asc`` listings with ``$skip``-based
``@odata.nextLink``\\ s. An incident updated while we page jumps to the end of the listing, so an
unchanged one can slide under an offset already read and be missed. So after each page whose last
``lastUpdateDateTime`` is later than the query's lower bound, a new query starts at that time
(``ge``: keyset paging; dedup absorbs the one-incident overlap). The nextLink is followed only when
the whole page shares the lower bound's timestamp: a tie group larger than a page, which no time
filter can split because ``id`` is not filterable. When Graph refuses a deeper ``$skip``
(:class:`SkipCeilingReached`) or a nextLink cannot be followed (:class:`BrokenChain`), a new query
starts from the last time seen. A tie group larger than the skip ceiling cannot be read whole by any
query: the run records that instant in :attr:`SyncReport.stalled_at`, steps one tick past it and
goes on, instead of looping forever. Within a tie group, an incident updated while the group is paged
leaves it and shifts the offsets under the rest; the run notices (it later reads that incident at a
newer time) and reads the group once more, page by page, at the end.

Throughput. The next request depends only on the page's last timestamp, so it is sent (on one
worker thread) while the current page is validated and committed; Graph's latency and the local
work overlap instead of adding up. The source still sees one call at a time.

Guarantees. Each page is committed with the watermark that covers it in one transaction, and the
dedup key ``(tenant, incident id, lastUpdateDateTime ticks)`` makes rereads free, so a crash at any
point followed by a rerun leaves the same store as an uninterrupted run. Malformed records are
quarantined with their reason in the same transaction; the rest of the page proceeds. Runs of one
integration are serialised by a lock the OS or the database server releases if the holder dies.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from xops_provider.models.timestamps import GraphTime
from xops_provider.sync.ports import (
    BatchOutcome,
    BrokenChain,
    Page,
    PageSource,
    SkipCeilingReached,
    SyncLock,
    SyncRepository,
    SyncState,
    TransientStoreError,
)
from xops_provider.sync.records import page_end, parse_page, read_records, version_of

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_LOOKBACK = dt.timedelta(days=7)
DEFAULT_OVERLAP = dt.timedelta(minutes=5)
DEFAULT_RETRY_DELAYS: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)
_REWALKS = 3


@dataclass
class SyncReport:
    """What one run did. Only counts and the watermark leave the worker (see :meth:`to_xcom`).

    :param integration: the integration.
    :param tenant_id: its tenant.
    :param since: where the run's first query started.
    :param pages: pages read and committed.
    :param requests: calls made to the page source.
    :param queries: new queries (the first, keyset steps and restarts).
    :param restarts: queries started after a refused ``$skip`` or a broken chain.
    :param incidents_seen: records received, malformed ones included.
    :param versions_stored: versions new to the store.
    :param duplicates: valid versions that were already stored.
    :param quarantined: records refused this run (whether or not quarantined before).
    :param newly_quarantined: quarantine rows added.
    :param retries: batch commits retried after a transient database failure.
    :param rewalks: tie groups read again because an incident left one while it was paged.
    :param watermark: the latest ``lastUpdateDateTime`` stored, seven-digit text.
    :param stalled_at: instants whose tie group exceeded the skip ceiling and could not be read whole.
    """

    integration: str
    tenant_id: str
    since: str
    pages: int = 0
    requests: int = 0
    queries: int = 0
    restarts: int = 0
    incidents_seen: int = 0
    versions_stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    newly_quarantined: int = 0
    retries: int = 0
    rewalks: int = 0
    watermark: str | None = None
    stalled_at: list[str] = field(default_factory=list)

    def to_xcom(self) -> dict[str, Any]:
        """Counts and the watermark: small, and free of anything a record said."""
        return asdict(self)


def _seen_after(keys: Iterable[str], floor: int) -> set[str]:
    return {key for key in keys if int(key.rsplit("@", 1)[1]) >= floor}


def sync_incidents(
    *,
    source: PageSource,
    repository: SyncRepository,
    integration: str,
    tenant_id: str,
    now: GraphTime,
    lookback: dt.timedelta = DEFAULT_LOOKBACK,
    overlap: dt.timedelta = DEFAULT_OVERLAP,
    lock_timeout: float | None = None,
    retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
    sleep: Callable[[float], None] = time.sleep,
) -> SyncReport:
    """Bring the store up to date with the incidents Graph lists for one integration.

    :param source: the page source.
    :param repository: the store's sync repository.
    :param integration: the integration (its watermark and lock are its own).
    :param tenant_id: the tenant it reads.
    :param now: the current time; the first run reads from ``now - lookback``.
    :param lookback: how far back the first run reads.
    :param overlap: how far below the watermark later runs reread.
    :param lock_timeout: seconds to wait for a concurrent run of the same integration; ``None`` waits.
    :param retry_delays: the backoff, in seconds, between retries of a batch after a transient
        database failure; when they are spent the error propagates (a rerun resumes safely).
    :param sleep: how to wait between retries.
    """
    with repository.sync_lock(integration, timeout=lock_timeout) as lock:
        state = _retry(lambda: repository.sync_state(integration), retry_delays, sleep, None)
        since = window_start(state, now=now, lookback=lookback, overlap=overlap)
        if state is not None:
            lookback_start, watermark, seen = state.lookback_start, state.watermark, set(state.seen)
        else:
            lookback_start, watermark, seen = since, None, set()
        report = SyncReport(
            integration=integration,
            tenant_id=tenant_id,
            since=since.isoformat(),
            watermark=None if watermark is None else watermark.isoformat(),
        )
        sync = _Sync(
            source=source,
            repository=repository,
            lock=lock,
            report=report,
            overlap_seconds=int(overlap.total_seconds()),
            lookback_start=lookback_start,
            watermark=watermark,
            seen=seen,
            retry_delays=retry_delays,
            sleep=sleep,
        )
        sync.run(since)
        # Rare: an incident left a tie group while that group was paged with $skip, which can slide
        # another member under an offset already read. Read those groups once more.
        for _ in range(_REWALKS):
            if not sync.shifted:
                break
            for tie in sorted(sync.shifted):
                sync.shifted.discard(tie)
                sync.rewalk(tie)
        _retry(lambda: repository.finish_run(integration), retry_delays, sleep, report)
    log.info(
        "Integration %s: %d pages, %d requests, %d incidents seen, %d new versions, %d duplicates, "
        "%d quarantined; watermark %s",
        integration,
        report.pages,
        report.requests,
        report.incidents_seen,
        report.versions_stored,
        report.duplicates,
        report.quarantined,
        report.watermark,
    )
    return report


def window_start(
    state: SyncState | None,
    *,
    now: GraphTime,
    lookback: dt.timedelta = DEFAULT_LOOKBACK,
    overlap: dt.timedelta = DEFAULT_OVERLAP,
) -> GraphTime:
    """Where the next read of an integration starts: the one window rule, for the sync and its probe.

    The overlap below the watermark rereads Graph's late arrivals (an incident whose
    ``lastUpdateDateTime`` is older than one already listed); before the first batch, the window
    starts where the first run started, or ``lookback`` before ``now``.

    :param state: the integration's sync state, ``None`` before its first batch.
    :param now: the clock.
    :param lookback: how far back a first run reads.
    :param overlap: how far below the watermark every later run rereads.
    """
    if state is None:
        return now.shift(seconds=-lookback.total_seconds())
    if state.watermark is None:
        return state.lookback_start
    return state.watermark.shift(seconds=-overlap.total_seconds())


def _restart_bound(
    cause: Exception,
    *,
    lower: GraphTime,
    furthest: GraphTime | None,
    failed_at: GraphTime | None,
    report: SyncReport,
) -> tuple[GraphTime, GraphTime | None]:
    """Where to restart after a refused ``$skip`` or a broken chain, and the bound that failed.

    From the furthest time stored, when that is progress. Without progress, a broken chain gets one
    more try; a refused ``$skip`` never will (the tie group is larger than the ceiling), so that
    instant is recorded and the query steps one tick past it.
    """
    if furthest is not None and furthest > lower:
        return furthest, None
    if isinstance(cause, BrokenChain) and failed_at != lower:
        return lower, lower
    log.warning(
        "Integration %s: more incidents share lastUpdateDateTime %s than Graph lists with $skip; "
        "the rest of that group cannot be listed and is skipped",
        report.integration,
        lower.isoformat(),
    )
    report.stalled_at.append(lower.isoformat())
    return GraphTime(lower.ticks + 1), None


@dataclass(frozen=True)
class _ReadPage:
    """A page whose records :func:`read_records` has read, with the texts to store."""

    incidents: list[Any]
    payloads: list[str]
    next_link: str | None = None


def _read_page(page: Page) -> _ReadPage:
    # Read where the page arrives (the fetch thread), so that paging decisions see plain records.
    records, payloads = read_records(page.incidents)
    return _ReadPage(incidents=records, payloads=payloads, next_link=page.next_link)


class _Sync:
    """One run's moving parts: the source, the batch commits and what the run has seen so far."""

    def __init__(
        self,
        *,
        source: PageSource,
        repository: SyncRepository,
        lock: SyncLock,
        report: SyncReport,
        overlap_seconds: int,
        lookback_start: GraphTime,
        watermark: GraphTime | None,
        seen: set[str],
        retry_delays: Sequence[float],
        sleep: Callable[[float], None],
    ) -> None:
        self.source = source
        self.repository = repository
        self.lock = lock
        self.report = report
        self.overlap_seconds = overlap_seconds
        self.lookback_start = lookback_start
        self.watermark = watermark
        self.seen = seen
        self.retry_delays = retry_delays
        self.sleep = sleep
        self.furthest: GraphTime | None = None
        # Members of tie groups paged with $skip (id -> the group's time), and the groups one of
        # them left while being paged.
        self.tie_members: dict[str, GraphTime] = {}
        self.shifted: set[GraphTime] = set()

    # -- requests (counted; only ever one at a time) -------------------------------------------

    def query(self, since: GraphTime, *, restart: bool = False) -> _ReadPage:
        self.report.requests += 1
        self.report.queries += 1
        self.report.restarts += int(restart)
        return _read_page(self.source.query(since=since))

    def follow(self, next_link: str) -> _ReadPage:
        self.report.requests += 1
        return _read_page(self.source.follow(next_link))

    # -- the main walk ---------------------------------------------------------------------------

    def run(self, since: GraphTime) -> None:
        """Keyset paging from ``since`` to the end of the listing (see the module's docstring)."""
        lower = since
        failed_at: GraphTime | None = None
        via_follow = False
        # One request is always in flight while the previous page is validated and committed: the
        # next request depends only on the page's last timestamp, read before validation.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="xops-sync") as fetcher:
            pending: Future[_ReadPage] | None = fetcher.submit(self.query, lower)
            while pending is not None:
                try:
                    page = pending.result()
                except (SkipCeilingReached, BrokenChain) as cause:
                    lower, failed_at = _restart_bound(
                        cause, lower=lower, furthest=self.furthest, failed_at=failed_at, report=self.report
                    )
                    pending, via_follow = fetcher.submit(self.query, lower, restart=True), False
                    continue
                page_lower, pending, following = lower, None, False
                if page.next_link:
                    end = page_end(page.incidents)
                    if end is not None and end > lower:
                        lower = end
                        pending = fetcher.submit(self.query, lower)
                    else:
                        following = True
                        pending = fetcher.submit(self.follow, page.next_link)
                self.watch_ties(page, tie=page_lower if following or via_follow else None)
                self.commit(page)
                via_follow = following

    def rewalk(self, tie: GraphTime) -> None:
        """Read the tie group at ``tie`` again, page by page, and stop where it ends.

        :param tie: the group's ``lastUpdateDateTime``.
        """
        self.report.rewalks += 1
        page = self.query(tie, restart=True)
        while True:
            end = page_end(page.incidents)
            following = bool(page.next_link) and (end is None or end <= tie)
            self.watch_ties(page, tie=tie)
            self.commit(page)
            if not following or page.next_link is None:
                return
            try:
                page = self.follow(page.next_link)
            except SkipCeilingReached:
                self.report.stalled_at.append(tie.isoformat())
                return
            except BrokenChain:
                return

    def watch_ties(self, page: _ReadPage, *, tie: GraphTime | None) -> None:
        """Remember the members of a tie group paged with ``$skip``, and notice when one leaves it.

        :param page: the page just read.
        :param tie: the group's time when this page belongs to such a walk.
        """
        if tie is None and not self.tie_members:
            return
        for record in page.incidents:
            version = version_of(record)
            if version is None:
                continue
            incident_id, last_update = version
            if tie is not None and last_update == tie:
                self.tie_members[incident_id] = tie
            elif incident_id in self.tie_members and last_update > self.tie_members[incident_id]:
                self.shifted.add(self.tie_members.pop(incident_id))

    # -- one batch -------------------------------------------------------------------------------

    def commit(self, page: _ReadPage) -> None:
        """Validate a page and commit it with the watermark that covers it, retrying transient failures.

        :param page: the page.
        """
        report = self.report
        batch = parse_page(page.incidents, known=self.seen, payloads=page.payloads)
        watermark, seen = self.watermark, self.seen
        if batch.latest is not None:
            watermark = batch.latest if watermark is None or batch.latest > watermark else watermark
            self.furthest = (
                batch.latest if self.furthest is None or batch.latest > self.furthest else self.furthest
            )
        if watermark is not None:
            floor = watermark.ticks - self.overlap_seconds * 10_000_000
            seen = _seen_after(seen | {v.key for v in batch.versions}, floor)

        def verified_commit() -> BatchOutcome:
            # A terminated PostgreSQL session takes its advisory lock with it: re-take it first.
            self.lock.verify()
            return self.repository.commit_batch(
                integration=report.integration,
                tenant_id=report.tenant_id,
                versions=batch.versions,
                quarantined=batch.quarantined,
                watermark=watermark,
                seen=seen,
                overlap_seconds=self.overlap_seconds,
                lookback_start=self.lookback_start,
            )

        outcome = _retry(verified_commit, self.retry_delays, self.sleep, report)
        # Only what was committed moves the run's state on.
        self.watermark, self.seen = watermark, seen
        report.pages += 1
        report.incidents_seen += batch.rereads + len(batch.versions) + len(batch.quarantined)
        report.versions_stored += outcome.stored
        report.duplicates += batch.rereads + len(batch.versions) - outcome.stored
        report.quarantined += len(batch.quarantined)
        report.newly_quarantined += outcome.quarantined
        report.watermark = None if watermark is None else watermark.isoformat()


def _retry(
    call: Callable[[], T], delays: Sequence[float], sleep: Callable[[float], None], report: SyncReport | None
) -> T:
    for delay in (*delays, None):
        try:
            return call()
        except TransientStoreError as err:
            if delay is None:
                raise
            log.warning("Store unavailable (%s); retrying in %.1f s", err, delay)
            if report is not None:
                report.retries += 1
            sleep(delay)
    raise AssertionError("unreachable")
