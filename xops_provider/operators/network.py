"""Pull Cato's events feed into the story store, where correlation reads network events.

:func:`pull_cato_events` reads ``eventsFeed`` from the stored marker until Cato says it is caught up
(``fetchedCount`` 0). Each page's events, its bad records (quarantined, kind ``network_event``, with
their reasons) and the marker after it are written in one transaction: a run killed at any point
resumes from the last committed page, with no gap and no duplicate.

Errors: Cato's rate limit, 5xx answers and lost connections are retried by the client with backoff.
Anything else Cato refuses (a wrong key, an account the key does not reach, an invalid marker) and a
retry budget spent is logged as one clear line and fails the task, which Airflow retries; the pages
already committed stay, so the retry resumes after them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowNotFoundException, AirflowSkipException

from xops_provider.clients.cato import CatoClient, CatoError
from xops_provider.correlation.network_feeds import CATO, FeedError, parse_cato_feed_page
from xops_provider.hooks.cato import CatoEventsHook
from xops_provider.hooks.store import StoreHook
from xops_provider.store.evidence import NETWORK_EVENT_KIND
from xops_provider.sync.ports import QuarantineEntry

if TYPE_CHECKING:
    from airflow.sdk import Context

    from xops_provider.store import Store


class CatoFeedFailed(RuntimeError):
    """Cato refused the feed, or answered something that is not a feed page."""


@dataclass
class PullReport:
    """What one pull did: counts only (the XCom).

    :param pages: pages stored (the caught-up answer is not one).
    :param fetched: records Cato returned.
    :param added: events stored.
    :param duplicates: events already stored (none, unless the feed repeats a record).
    :param quarantined: records that did not parse, quarantined with their reasons.
    :param requests: HTTP requests sent, retries included.
    :param retries: requests repeated after a transient failure or the rate limit.
    """

    pages: int = 0
    fetched: int = 0
    added: int = 0
    duplicates: int = 0
    quarantined: int = 0
    requests: int = 0
    retries: int = 0


def pull_cato_events(
    client: CatoClient,
    store: Store,
    *,
    feed_id: str,
    max_pages: int | None = None,
    log: Any = None,
) -> PullReport:
    """Pull ``eventsFeed`` from the stored marker until caught up (or ``max_pages`` pages).

    :param client: the account's client.
    :param store: the story store.
    :param feed_id: what the marker is stored under (see :attr:`CatoEventsHook.feed_id`).
    :param max_pages: stop after this many pages; the next pull goes on from there.
    :param log: where to log (the task's logger).
    :raises CatoFeedFailed: Cato refused the call, or its answer is not a feed page.
    """
    report = PullReport()
    marker = store.evidence.feed_marker(source=CATO, feed_id=feed_id)
    try:
        while max_pages is None or report.pages < max_pages:
            try:
                page = parse_cato_feed_page(client.events_feed(marker=marker))
            except (CatoError, FeedError) as err:
                raise CatoFeedFailed(f"Cato eventsFeed failed for feed {feed_id!r}: {err}") from None
            if page.fetched_count == 0 and not page.rejected and not page.events:
                break
            if not page.marker or page.marker == marker:
                # Reading on from the same marker would loop on the same records for ever.
                raise CatoFeedFailed(f"Cato eventsFeed returned records without a new marker for {feed_id!r}")
            quarantined = [
                QuarantineEntry(
                    kind=NETWORK_EVENT_KIND, record_id=None, reason=f"cato: {reason}", payload=raw
                )
                for raw, reason in page.rejected
            ]
            added, duplicates = store.evidence.add_feed_page(
                source=CATO,
                feed_id=feed_id,
                previous_marker=marker,
                marker=page.marker,
                events=page.events,
                quarantined=quarantined,
            )
            marker = page.marker
            report.pages += 1
            report.fetched += page.fetched_count
            report.added += added
            report.duplicates += duplicates
            report.quarantined += len(quarantined)
            if quarantined and log is not None:
                log.warning(
                    "Cato page %d: %d record(s) quarantined with their reasons",
                    report.pages,
                    len(quarantined),
                )
    finally:
        report.requests = client.counters.requests
        report.retries = client.counters.retries
    return report


class CatoEventsOperator(BaseOperator):
    """Pull a Cato account's events feed into the story store until caught up.

    Skipped when the default ``cato`` connection is not defined, so a DAG can run it
    unconditionally and decide at run time; a named connection that does not exist is an error.
    The XCom holds counts only.

    :param cato_conn_id: the ``cato`` connection.
    :param xops_store_conn_id: the story store connection.
    :param max_pages: stop after this many pages; the next run goes on from there.
    """

    template_fields: Sequence[str] = ("cato_conn_id", "xops_store_conn_id")
    ui_color = "#e8f4fd"

    def __init__(
        self,
        *,
        cato_conn_id: str = CatoEventsHook.default_conn_name,
        xops_store_conn_id: str = StoreHook.default_conn_name,
        max_pages: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.cato_conn_id = cato_conn_id
        self.xops_store_conn_id = xops_store_conn_id
        self.max_pages = max_pages

    def execute(self, context: Context) -> dict[str, int]:
        hook = CatoEventsHook(cato_conn_id=self.cato_conn_id)
        try:
            # Resolved now: a missing default connection means "no Cato here", not a failure.
            config = hook.config
        except AirflowNotFoundException:
            if self.cato_conn_id != CatoEventsHook.default_conn_name:
                raise
            raise AirflowSkipException(
                f"no {self.cato_conn_id!r} connection: Cato is not configured"
            ) from None
        self.log.info("Pulling Cato account %s from %s", config.account_id, config.endpoint)
        try:
            with StoreHook(xops_store_conn_id=self.xops_store_conn_id).get_store() as store:
                report = pull_cato_events(
                    hook.get_conn(), store, feed_id=hook.feed_id, max_pages=self.max_pages, log=self.log
                )
        except CatoFeedFailed as err:
            self.log.error("%s", err)
            raise
        finally:
            hook.close()
        counts = asdict(report)
        self.log.info("Cato feed %s: %s", hook.feed_id, counts)
        return counts
