"""Defender incidents over Microsoft Graph: the sync's page source, reads and write-back.

:class:`DefenderIncidentsHook` is the :class:`~xops_provider.sync.PageSource` the sync engine pages
through. What it adds to a plain ``GET`` is how it fails:

* Graph refusing a deeper ``$skip`` (a 400 on a ``nextLink``) becomes
  :class:`~xops_provider.sync.SkipCeilingReached`; any other ``nextLink`` that cannot be followed
  becomes :class:`~xops_provider.sync.BrokenChain`. The engine answers both with a new query from the
  last ``lastUpdateDateTime`` it saw, and dedup absorbs the overlap.
* ``$expand=alerts`` answering 5xx after the client's retries (large tenants do this) switches the
  hook to reading the page without expansion and each incident's alerts on their own, so the cursor
  never sticks on one page.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from xops_provider.clients.errors import (
    ForeignNextLinkError,
    GraphBadRequestError,
    GraphInvalidResponseError,
    GraphNotFoundError,
    GraphServerError,
)
from xops_provider.clients.graph import INCIDENTS_PATH
from xops_provider.hooks.ms_tenant import MsTenantHook
from xops_provider.models.timestamps import GraphTime
from xops_provider.sync import BrokenChain, Page, SkipCeilingReached
from xops_provider.sync.engine import DEFAULT_LOOKBACK, DEFAULT_OVERLAP

if TYPE_CHECKING:
    from xops_provider.clients.graph import CollectionPage, GraphClient
    from xops_provider.store import Store
    from xops_provider.sync import SyncReport

#: Graph's maximum page size for incidents; a larger ``$top`` is a 400.
PAGE_SIZE = 50
_UNAVAILABLE = frozenset({503, 504})
#: The new-incident probe reads small pages: when idle, the window holds only the overlap.
PROBE_PAGE_SIZE = 10


def incidents_filter(since: GraphTime) -> str:
    """The ``$filter`` of a window query; Graph takes the datetime literal unquoted.

    :param since: the window's start, written with all seven fractional digits so that no tie at
        the watermark is lost to truncation.
    """
    return f"lastUpdateDateTime ge {since.isoformat()}"


def _without_expand(url: str) -> str:
    """A ``nextLink`` with ``$expand`` removed, keeping every other parameter (the cursor) as is."""
    parts = urlsplit(url)
    # Edit the raw query text: re-encoding it could alter an opaque skip token.
    kept = [item for item in parts.query.split("&") if unquote(item.split("=", 1)[0]).lower() != "$expand"]
    return urlunsplit(parts._replace(query="&".join(kept)))


def _has_skip(url: str) -> bool:
    return any(k.lower() == "$skip" for k, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True))


@dataclass(frozen=True)
class UnseenProbe:
    """What :meth:`DefenderIncidentsHook.find_unseen` found.

    :param since: the window's start that was read.
    :param watermark: the integration's watermark, ``None`` before its first sync.
    :param checked: incidents read.
    :param unseen: dedup keys (``<id>@<ticks>``) of the versions not stored yet, on the first page
        that had any.
    """

    since: GraphTime
    watermark: GraphTime | None
    checked: int
    unseen: tuple[str, ...]

    def summary(self) -> dict[str, Any]:
        """Counts and the watermark only: what may travel in a trigger event or XCom."""
        return {
            "unseen": len(self.unseen),
            "checked": self.checked,
            "watermark": self.watermark.isoformat() if self.watermark else None,
        }


class DefenderIncidentsHook(MsTenantHook):
    """Read and update Defender incidents through Microsoft Graph, on an ``ms_tenant`` connection.

    The hook is also the sync's :class:`~xops_provider.sync.PageSource`. Once ``$expand=alerts``
    fails with 5xx after the client's retries, the hook stays in the per-incident alert fallback for
    the rest of its life (one task run): a tenant that fails expansion once tends to keep failing,
    and each probe would cost a full retry cycle. The next run probes again.

    :param ms_tenant_conn_id: the ``ms_tenant`` connection to use.
    :param page_size: ``$top`` of the window queries, at most 50.
    :param kwargs: passed to :class:`~xops_provider.hooks.ms_tenant.MsTenantHook` (``connection``,
        ``timeout``, ``max_retries``, ``backoff``).
    """

    hook_name = "Microsoft Defender incidents"

    def __init__(
        self,
        *,
        ms_tenant_conn_id: str = MsTenantHook.default_conn_name,
        page_size: int = PAGE_SIZE,
        **kwargs: Any,
    ) -> None:
        super().__init__(ms_tenant_conn_id=ms_tenant_conn_id, **kwargs)
        if not 1 <= page_size <= PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {PAGE_SIZE}, got {page_size}")
        self.page_size = page_size
        #: True once ``$expand=alerts`` has failed with 5xx; alerts are then read per incident.
        self.expand_fallback = False
        #: How many pages were read in the fallback, for the run's report.
        self.fallback_pages = 0

    @property
    def client(self) -> GraphClient:
        """The Graph client, built once per hook."""
        return self.get_graph_client()

    @property
    def tenant_id(self) -> str:
        """The tenant the connection names: part of every dedup key."""
        return self.tenant_config.tenant_id

    # -- PageSource ------------------------------------------------------------------------------

    def query(self, *, since: GraphTime) -> Page:
        """The first page of incidents with ``lastUpdateDateTime ge since``, oldest first.

        :param since: the window's start.
        """
        params = self._window(since)
        if not self.expand_fallback:
            try:
                return self._listing_page(
                    self.client.get_collection(INCIDENTS_PATH, params={**params, "$expand": "alerts"})
                )
            except GraphServerError as err:
                self._enter_fallback(err)
        return self._page_with_alerts(self.client.get(INCIDENTS_PATH, params=params))

    def follow(self, next_link: str) -> Page:
        """The page an ``@odata.nextLink`` names.

        :param next_link: the link exactly as Graph returned it.
        :raises SkipCeilingReached: Graph refuses the link's ``$skip`` as too deep.
        :raises BrokenChain: the link cannot be followed for any other lasting reason.
        """
        try:
            if self.expand_fallback:
                return self._page_with_alerts(self.client.get_next(_without_expand(next_link)))
            try:
                return self._listing_page(self.client.get_collection(next_link))
            except GraphServerError as err:
                self._enter_fallback(err)
                return self._page_with_alerts(self.client.get_next(_without_expand(next_link)))
        except GraphBadRequestError as err:
            if _has_skip(next_link):
                raise SkipCeilingReached(str(err)) from err
            raise BrokenChain(str(err)) from err
        except (
            ForeignNextLinkError,
            GraphNotFoundError,
            GraphServerError,
            GraphInvalidResponseError,
        ) as err:
            raise BrokenChain(str(err)) from err

    def _window(self, since: GraphTime) -> dict[str, str]:
        return {
            "$filter": incidents_filter(since),
            "$orderby": "lastUpdateDateTime asc",
            "$top": str(self.page_size),
        }

    def close(self) -> None:
        """Close the Graph client."""
        self.get_graph_client().close()

    def _enter_fallback(self, err: GraphServerError) -> None:
        # 503/504 say the service as a whole is unavailable, not that expansion is too heavy: the
        # client has already waited out their Retry-After, and reading alerts one by one would only
        # add load, so those are raised.
        if err.status in _UNAVAILABLE:
            raise err
        if not self.expand_fallback:
            self.log.warning(
                "$expand=alerts keeps failing (%s); reading alerts per incident for the rest of this run",
                err,
            )
        self.expand_fallback = True

    @staticmethod
    def _listing_page(collection: CollectionPage) -> Page:
        # The records stay the JSON text Graph sent: the engine stores it as is (see _decode_collection).
        if collection.items is None:
            raise GraphInvalidResponseError("an incidents page without a 'value' list")
        return Page(incidents=collection.items, next_link=collection.next_link)

    @staticmethod
    def _page(body: dict[str, Any]) -> Page:
        value = body.get("value")
        if not isinstance(value, list):
            raise GraphInvalidResponseError("an incidents page without a 'value' list")
        return Page(incidents=value, next_link=body.get("@odata.nextLink"))

    def _page_with_alerts(self, body: dict[str, Any]) -> Page:
        page = self._page(body)
        self.fallback_pages += 1
        for incident in page.incidents:
            # A record without a usable id is left as it is: the engine quarantines it.
            if isinstance(incident, dict) and isinstance(incident.get("id"), str | int):
                incident["alerts"] = list(self.iter_alerts(str(incident["id"])))
        return page

    # -- reads and write-back --------------------------------------------------------------------

    def iter_alerts(self, incident_id: str) -> Iterator[dict[str, Any]]:
        """Every alert of one incident, following ``nextLink`` to the end.

        :param incident_id: the incident's id.
        """
        body = self.client.get(f"{INCIDENTS_PATH}/{_segment(incident_id)}/alerts")
        while True:
            yield from body.get("value") or []
            link = body.get("@odata.nextLink")
            if not link:
                return
            body = self.client.get_next(link)

    def iter_incidents(self, *, since: GraphTime) -> Iterator[dict[str, Any]]:
        """Every incident with ``lastUpdateDateTime ge since``, without alerts, following every page.

        A listing, not a sync: used by the audit, it restarts from the last time seen when the chain
        breaks, and may yield an incident twice when it moved during the listing.

        :param since: the window's start.
        """
        params = {
            "$filter": incidents_filter(since),
            "$orderby": "lastUpdateDateTime asc",
            "$top": str(self.page_size),
        }
        body = self.client.get(INCIDENTS_PATH, params=params)
        while True:
            page = self._page(body)
            yield from page.incidents
            if not page.next_link:
                return
            try:
                body = self.client.get_next(page.next_link)
            except (GraphBadRequestError, ForeignNextLinkError, GraphNotFoundError) as err:
                last = _last_time(page.incidents)
                if last is None or last == since:
                    raise
                self.log.info("Listing restarts at %s: %s", last, err)
                since = last
                body = self.client.get(INCIDENTS_PATH, params={**params, "$filter": incidents_filter(since)})

    def iter_versions(self, *, since: GraphTime) -> Iterator[tuple[str, GraphTime]]:
        """``(id, lastUpdateDateTime)`` of every incident :meth:`iter_incidents` lists; records
        without a readable id or time (the sync quarantines them) are left out.

        :param since: the window's start.
        """
        for incident in self.iter_incidents(since=since):
            yield from _versions([incident])

    def get_incident(self, incident_id: str, *, expand_alerts: bool = True) -> dict[str, Any]:
        """One incident as Graph returns it.

        :param incident_id: the incident's id.
        :param expand_alerts: include its alerts.
        """
        path = f"{INCIDENTS_PATH}/{_segment(incident_id)}"
        if not expand_alerts:
            return self.client.get(path)
        try:
            return self.client.get(path, params={"$expand": "alerts"})
        except GraphServerError:
            incident = self.client.get(path)
            incident["alerts"] = list(self.iter_alerts(incident_id))
            return incident

    def update_incident(
        self,
        incident_id: str,
        *,
        status: str | None = None,
        classification: str | None = None,
        determination: str | None = None,
        assigned_to: str | None = None,
        custom_tags: list[str] | None = None,
        resolving_comment: str | None = None,
    ) -> dict[str, Any]:
        """Update an incident; only the arguments given are sent.

        :param incident_id: the incident's id.
        :param status: ``active``, ``inProgress``, ``resolved``, ``awaitingAction``.
        :param classification: ``falsePositive``, ``truePositive``, ``informationalExpectedActivity``, ...
        :param determination: for example ``phishing``, ``malware``, ``clean``.
        :param assigned_to: the owner's user principal name; ``""`` unassigns.
        :param custom_tags: the full new list of custom tags.
        :param resolving_comment: the comment recorded with a resolution.
        """
        fields = {
            "status": status,
            "classification": classification,
            "determination": determination,
            "assignedTo": assigned_to,
            "customTags": custom_tags,
            "resolvingComment": resolving_comment,
        }
        body = {key: value for key, value in fields.items() if value is not None}
        if not body:
            raise ValueError("update_incident needs at least one field to change")
        return self.client.patch(f"{INCIDENTS_PATH}/{_segment(incident_id)}", json=body)

    def add_comment(self, incident_id: str, text: str) -> dict[str, Any]:
        """Add a comment to an incident.

        :param incident_id: the incident's id.
        :param text: the comment.
        """
        if not text or not text.strip():
            raise ValueError("a comment cannot be empty")
        body = {"@odata.type": "microsoft.graph.security.alertComment", "comment": text}
        return self.client.post(f"{INCIDENTS_PATH}/{_segment(incident_id)}/comments", json=body)

    # -- new-incident probe (sensor and triggers) --------------------------------------------------

    def find_unseen(
        self,
        *,
        store: Store,
        integration: str = "default",
        lookback: dt.timedelta = DEFAULT_LOOKBACK,
        overlap: dt.timedelta = DEFAULT_OVERLAP,
        top: int = PROBE_PAGE_SIZE,
        ignore: Collection[str] = (),
        now: GraphTime | None = None,
    ) -> UnseenProbe:
        """Whether Graph holds an incident version the store has not stored yet.

        Reads the window the next sync would read (``watermark - overlap``, or the lookback start
        before the first sync), ``$top`` small and without alerts, and stops at the first page
        holding an unseen version. A version is seen when the store's head of that incident is at
        least as recent, so the newest incident, once stored, no longer counts; ties at the
        watermark and late arrivals below it still do.

        :param store: the story store.
        :param integration: the integration whose watermark is read.
        :param lookback: the window's start before the first sync, back from ``now``.
        :param overlap: how far below the watermark to look, unless the store recorded its own.
        :param top: the probe's page size.
        :param ignore: dedup keys (``<id>@<ticks>``) already announced; not counted again.
        :param now: the clock; the current time when omitted.
        """
        state = store.sync_state(integration)
        watermark = state.watermark if state else None
        if watermark is not None:
            overlap_seconds = (
                state.overlap_seconds if state and state.overlap_seconds else overlap.total_seconds()
            )
            since = watermark.shift(seconds=-overlap_seconds)
        elif state is not None:
            since = state.lookback_start
        else:
            since = (now or _now()).shift(seconds=-lookback.total_seconds())
        params = {
            "$filter": incidents_filter(since),
            "$orderby": "lastUpdateDateTime asc",
            "$top": str(min(max(top, 1), PAGE_SIZE)),
        }
        body = self.client.get(INCIDENTS_PATH, params=params)
        checked = 0
        while True:
            page = self._page(body)
            versions = _versions(page.incidents)
            checked += len(page.incidents)
            heads = store.incident_heads(
                tenant_id=self.tenant_id, incident_ids=list(dict.fromkeys(i for i, _ in versions))
            )
            unseen = tuple(
                f"{incident_id}@{last_update.ticks}"
                for incident_id, last_update in versions
                if (incident_id not in heads or heads[incident_id].last_update < last_update)
                and f"{incident_id}@{last_update.ticks}" not in ignore
            )
            if unseen or not page.next_link:
                return UnseenProbe(since=since, watermark=watermark, checked=checked, unseen=unseen)
            body = self.client.get_next(page.next_link)

    # -- sync ------------------------------------------------------------------------------------

    def sync(
        self,
        *,
        store: Store,
        integration: str = "default",
        lookback: dt.timedelta = DEFAULT_LOOKBACK,
        overlap: dt.timedelta = DEFAULT_OVERLAP,
        now: GraphTime | None = None,
        lock_timeout: float | None = None,
        retry_delays: Sequence[float] | None = None,
    ) -> SyncReport:
        """Pull every incident changed since the integration's watermark into the store.

        :param store: the story store (``StoreHook().get_store()``).
        :param integration: the integration whose watermark and lock are used.
        :param lookback: how far back the first run of an integration starts.
        :param overlap: how far below the watermark each run re-reads.
        :param now: the run's clock; the current time when omitted.
        :param lock_timeout: seconds to wait for a concurrent run of the integration; ``None`` waits.
        :param retry_delays: the engine's backoff between retries of a batch after a transient store
            failure; the engine's default when omitted.
        """
        from xops_provider.sync import sync_incidents

        extra: dict[str, Any] = {} if retry_delays is None else {"retry_delays": retry_delays}
        return sync_incidents(
            lock_timeout=lock_timeout,
            **extra,
            source=self,
            store=store,
            integration=integration,
            tenant_id=self.tenant_id,
            now=now or _now(),
            lookback=lookback,
            overlap=overlap,
        )


@contextlib.contextmanager
def defender_and_store(
    *, ms_tenant_conn_id: str, xops_store_conn_id: str
) -> Iterator[tuple[DefenderIncidentsHook, Store]]:
    """A Defender hook and the opened story store, both closed when the block ends.

    :param ms_tenant_conn_id: the ``ms_tenant`` connection.
    :param xops_store_conn_id: the story store connection (the embedded store when the default one is
        not defined).
    """
    from xops_provider.hooks.store import StoreHook

    hook = DefenderIncidentsHook(ms_tenant_conn_id=ms_tenant_conn_id)
    store = StoreHook(xops_store_conn_id=xops_store_conn_id).get_store()
    try:
        yield hook, store
    finally:
        store.close()
        hook.close()


def _segment(incident_id: str) -> str:
    """An incident id as a path segment; ids are numeric, anything else is refused."""
    text = str(incident_id).strip()
    if not text or not text.replace("-", "").isalnum():
        raise ValueError(f"not an incident id: {text[:40]!r}")
    return text


def _now() -> GraphTime:
    return GraphTime.from_datetime(dt.datetime.now(dt.UTC))


def _versions(incidents: list[Any]) -> list[tuple[str, GraphTime]]:
    """``(id, lastUpdateDateTime)`` of each readable incident; unreadable ones are the sync's to
    quarantine, and would otherwise look new forever."""
    result = []
    for incident in incidents:
        if not isinstance(incident, dict):
            continue
        incident_id, last_update = incident.get("id"), incident.get("lastUpdateDateTime")
        if (
            isinstance(incident_id, bool)
            or not isinstance(incident_id, str | int)
            or not str(incident_id).strip()
        ):
            continue
        try:
            result.append((str(incident_id).strip(), GraphTime.parse(last_update)))
        except ValueError:
            continue
    return result


def _last_time(incidents: list[Any]) -> GraphTime | None:
    for incident in reversed(incidents):
        if isinstance(incident, dict):
            try:
                return GraphTime.parse(incident.get("lastUpdateDateTime"))
            except ValueError:
                continue
    return None
