"""The incident sync: reads Graph's incident listing through a :class:`PageSource` into the store.

Pure: no Airflow, no HTTP. The caller hands over a page source (the Graph client in production,
an in-memory list in tests) and a :class:`~xops_provider.store.Store`.

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

import contextlib
import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, TypeVar

import msgspec
import pydantic_core
from pydantic import ValidationError

from xops_provider.models.incident import ID_MAX_LENGTH, Incident
from xops_provider.models.timestamps import GraphTime, InvalidTimestamp
from xops_provider.store.database import HeldLock, TransientStoreError
from xops_provider.store.repository import BatchOutcome, NewVersion, QuarantineEntry, Store

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_LOOKBACK = dt.timedelta(days=7)
DEFAULT_OVERLAP = dt.timedelta(minutes=5)
DEFAULT_RETRY_DELAYS: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)
_REASON_MAX = 1000
_REWALKS = 3
# Column sizes of the store's incident keys (the model refuses longer ids) and status.
_ID_MAX = ID_MAX_LENGTH
_STATUS_MAX = 64


class _AlertEnvelope(msgspec.Struct):
    id: Any = msgspec.UNSET
    serviceSource: Any = msgspec.UNSET


class _IncidentEnvelope(msgspec.Struct):
    """The fields the sync reads, and so validates (see ``_envelope``), read from a record's JSON
    text without decoding the rest."""

    id: Any = msgspec.UNSET
    lastUpdateDateTime: Any = msgspec.UNSET
    status: Any = msgspec.UNSET
    redirectIncidentId: Any = msgspec.UNSET
    alerts: list[_AlertEnvelope] | msgspec.UnsetType | None = msgspec.UNSET


_ENVELOPE_DECODER = msgspec.json.Decoder(_IncidentEnvelope)
_ENVELOPE_KEYS = _IncidentEnvelope.__struct_fields__
_ENVELOPE_ALERT_KEYS = _AlertEnvelope.__struct_fields__


@dataclass(frozen=True)
class Page:
    """One page of Graph's incident listing.

    :param incidents: the records as received: each one's JSON text (``bytes``, stored as is) or its
        decoded value (normally a dict; anything else is quarantined).
    :param next_link: the ``@odata.nextLink``, ``None`` on the last page.
    """

    incidents: list[Any]
    next_link: str | None = None


@dataclass(frozen=True)
class _ReadPage(Page):
    """A page whose records :func:`read_records` has read, with the texts to store."""

    payloads: list[str | None] = field(default_factory=list)


class PageSource(Protocol):
    """Where pages come from (the Graph client in production)."""

    def query(self, *, since: GraphTime) -> Page:
        """The first page of ``lastUpdateDateTime ge since``, ordered ascending, ``$top=50``,
        ``$expand=alerts``."""
        ...

    def follow(self, next_link: str) -> Page:
        """The page a nextLink names."""
        ...


class SkipCeilingReached(Exception):
    """Graph refused a deeper ``$skip``."""


class BrokenChain(Exception):
    """A nextLink cannot be followed any more."""


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


@dataclass
class _Batch:
    versions: list[NewVersion]
    quarantined: list[QuarantineEntry]
    latest: GraphTime | None
    rereads: int = 0


def parse_page(
    records: Iterable[Any],
    *,
    known: Collection[str] = frozenset(),
    payloads: Sequence[str | None] | None = None,
) -> _Batch:
    """Validate a page's records once each; the bad ones become quarantine entries.

    :param records: the page's records as received (see :attr:`Page.incidents`).
    :param known: dedup keys (``<id>@<ticks>``) already stored: such records are rereads of valid
        versions and are counted without being validated again (a steady-state run rereads its whole
        overlap window).
    :param payloads: when ``records`` have already been read by :func:`read_records`, the texts it
        gave with them.
    """
    if payloads is None:
        records, payloads = read_records(records)
    versions: list[NewVersion] = []
    refused: list[QuarantineEntry] = []
    latest: GraphTime | None = None
    rereads = 0
    for record, payload in zip(records, payloads, strict=True):
        key = _dedup_key(record) if known else None
        if key is not None and key[0] in known:
            rereads += 1
            if latest is None or key[1] > latest:
                latest = key[1]
            continue
        outcome = _parse_record(record, payload)
        if isinstance(outcome, QuarantineEntry):
            refused.append(outcome)
            continue
        versions.append(outcome)
        if latest is None or outcome.last_update > latest:
            latest = outcome.last_update
    return _Batch(versions=versions, quarantined=refused, latest=latest, rereads=rereads)


def read_records(records: Iterable[Any]) -> tuple[list[Any], list[str | None]]:
    """Each record as the sync reads it, and the text to store for it.

    A record received as JSON text becomes its envelope (the fields the sync validates) and keeps its
    text; a decoded record stays as it is, with ``None`` for a text to be encoded from it.

    :param records: the page's records as received.
    """
    read: list[Any] = []
    texts: list[str | None] = []
    for received in records:
        record, text = _read_raw(received) if isinstance(received, bytes) else (received, None)
        read.append(record)
        texts.append(text)
    return read, texts


def _dedup_key(record: Any) -> tuple[str, GraphTime] | None:
    """The dedup key of a raw record, read the way :class:`Incident` reads id and time, or ``None``."""
    if not isinstance(record, dict):
        return None
    raw_id = record.get("id")
    if isinstance(raw_id, bool) or not isinstance(raw_id, str | int):
        return None
    try:
        last_update = GraphTime.parse(record.get("lastUpdateDateTime"))
    except InvalidTimestamp:
        return None
    return f"{str(raw_id).strip()}@{last_update.ticks}", last_update


class _Invalid:
    """A record whose JSON text cannot be read, with why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _read_raw(raw: bytes) -> tuple[Any, str | None]:
    """The envelope of a record received as JSON text, and the text to store.

    The evidence under ``alerts`` is most of a record's bytes; reading only the envelope, and storing
    the text Graph sent instead of re-encoding a decoded copy, is what keeps the sync near the speed
    of a loop that only pages. A record of any other shape (``alerts`` as an object, not an object at
    all) is decoded whole and goes the way of a decoded record.
    """
    try:
        text = raw.decode()
    except UnicodeDecodeError as err:
        return _Invalid(f"not valid UTF-8 at byte {err.start}"), raw.decode(errors="replace")
    try:
        envelope = _ENVELOPE_DECODER.decode(raw)
    except msgspec.DecodeError:
        try:
            return json.loads(text), text
        except ValueError as err:
            return _Invalid(f"not valid JSON: {err}"), text
    record = _present(envelope, _ENVELOPE_KEYS)
    if "alerts" in record:
        record["alerts"] = (
            None
            if envelope.alerts is None
            else [_present(alert, _ENVELOPE_ALERT_KEYS) for alert in envelope.alerts]
        )
    return record, text


def _present(struct: msgspec.Struct, keys: Sequence[str]) -> dict[str, Any]:
    # UNSET marks a key the record did not have, which the model reads differently from null.
    return {key: value for key in keys if (value := getattr(struct, key)) is not msgspec.UNSET}


def _parse_record(record: Any, payload: str | None = None) -> NewVersion | QuarantineEntry:
    """Validate one record.

    :param record: the decoded record, or its envelope when ``payload`` is given.
    :param payload: the record's JSON text as received; ``None`` encodes ``record``.
    """
    if isinstance(record, _Invalid):
        return QuarantineEntry(kind="incident", record_id=None, reason=record.reason, payload=payload or "")
    if not isinstance(record, dict):
        return QuarantineEntry(
            kind="incident",
            record_id=None,
            reason=f"not a JSON object: got {_json_type(record)}",
            payload=json.dumps(record, ensure_ascii=False, default=repr),
        )
    if payload is None:
        payload = _json_text(record)
    try:
        incident = Incident.model_validate(_envelope(record))
    except ValidationError as err:
        raw_id = record.get("id")
        return QuarantineEntry(
            kind="incident",
            record_id=_printable(str(raw_id))[:_ID_MAX]
            if isinstance(raw_id, str | int) and str(raw_id).strip()
            else None,
            reason=_reason(err),
            payload=payload,
        )
    return NewVersion(
        incident_id=incident.id,
        last_update=incident.last_update,
        payload=payload,
        status=None if incident.status is None else _printable(incident.status)[:_STATUS_MAX],
        redirect_incident_id=incident.redirect_incident_id,
        has_mdo_alert=incident.has_mdo_alert,
    )


def _printable(text: str) -> str:
    """``text`` without control characters (PostgreSQL refuses NUL in text)."""
    return "".join(char for char in text if char.isprintable()) if not text.isprintable() else text


def _envelope(record: dict[str, Any]) -> dict[str, Any]:
    """What the sync validates of a record: the fields it reads, under the model's own rules.

    Every other field is read leniently by the model (an unreadable value becomes ``None`` or is
    skipped, never fatal), so validating it would change no decision, yet it costs four fifths of
    the time. ``TestEnvelope`` pins that equivalence against the full model; the producer reads the
    rest, and the stored payload is always the whole record.
    """
    envelope = {key: record[key] for key in _ENVELOPE_KEYS if key in record}
    alerts = envelope.get("alerts")
    if isinstance(alerts, dict):
        alerts = [alerts]
    if isinstance(alerts, list):
        envelope["alerts"] = [
            {key: alert[key] for key in _ENVELOPE_ALERT_KEYS if key in alert}
            if isinstance(alert, dict)
            else alert
            for alert in alerts
        ]
    return envelope


def _json_text(record: dict[str, Any]) -> str:
    """The record as compact JSON text; pydantic-core's encoder is several times faster than ``json``."""
    try:
        return pydantic_core.to_json(record).decode()
    except pydantic_core.PydanticSerializationError:
        return json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=repr)


def _json_type(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _reason(err: ValidationError) -> str:
    parts = []
    for error in err.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in error["loc"]) or "record"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)[:_REASON_MAX]


def _seen_after(keys: Iterable[str], floor: int) -> set[str]:
    return {key for key in keys if int(key.rsplit("@", 1)[1]) >= floor}


def sync_incidents(
    *,
    source: PageSource,
    store: Store,
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
    :param store: the store.
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
    with store.sync_lock(integration, timeout=lock_timeout) as lock:
        state = _retry(lambda: store.sync_state(integration), retry_delays, sleep, None)
        if state is not None:
            lookback_start, watermark, seen = state.lookback_start, state.watermark, set(state.seen)
        else:
            lookback_start, watermark, seen = now.shift(seconds=-lookback.total_seconds()), None, set()
        since = lookback_start if watermark is None else watermark.shift(seconds=-overlap.total_seconds())
        report = SyncReport(
            integration=integration,
            tenant_id=tenant_id,
            since=since.isoformat(),
            watermark=None if watermark is None else watermark.isoformat(),
        )
        sync = _Sync(
            source=source,
            store=store,
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
        _retry(lambda: store.finish_run(integration), retry_delays, sleep, report)
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


def page_end(records: Sequence[Any]) -> GraphTime | None:
    """The last readable ``lastUpdateDateTime`` of a page, which decides the next request.

    :param records: the page's records as received.
    """
    for record in reversed(records):
        if isinstance(record, dict):
            with contextlib.suppress(InvalidTimestamp, TypeError):
                return GraphTime.parse(record.get("lastUpdateDateTime"))
    return None


def _read_page(page: Page) -> _ReadPage:
    # Read where the page arrives (the fetch thread), so that paging decisions see plain records.
    records, payloads = read_records(page.incidents)
    return _ReadPage(incidents=records, next_link=page.next_link, payloads=payloads)


class _Sync:
    """One run's moving parts: the source, the batch commits and what the run has seen so far."""

    def __init__(
        self,
        *,
        source: PageSource,
        store: Store,
        lock: HeldLock,
        report: SyncReport,
        overlap_seconds: int,
        lookback_start: GraphTime,
        watermark: GraphTime | None,
        seen: set[str],
        retry_delays: Sequence[float],
        sleep: Callable[[float], None],
    ) -> None:
        self.source = source
        self.store = store
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

    def watch_ties(self, page: Page, *, tie: GraphTime | None) -> None:
        """Remember the members of a tie group paged with ``$skip``, and notice when one leaves it.

        :param page: the page just read.
        :param tie: the group's time when this page belongs to such a walk.
        """
        if tie is None and not self.tie_members:
            return
        for record in page.incidents:
            key = _dedup_key(record)
            if key is None:
                continue
            incident_id = key[0].rsplit("@", 1)[0]
            if tie is not None and key[1] == tie:
                self.tie_members[incident_id] = tie
            elif incident_id in self.tie_members and key[1] > self.tie_members[incident_id]:
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
            return self.store.commit_batch(
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
