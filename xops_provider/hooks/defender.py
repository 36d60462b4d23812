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

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from xops_provider.clients.errors import (
    ForeignNextLinkError,
    GraphBadRequestError,
    GraphInvalidResponseError,
    GraphNotFoundError,
    GraphServerError,
)
from xops_provider.clients.graph import INCIDENTS_PATH, MAX_PAGE_SIZE
from xops_provider.hooks.ms_tenant import MsTenantHook
from xops_provider.models.timestamps import GraphTime
from xops_provider.sync.ports import BrokenChain, Page, SkipCeilingReached
from xops_provider.sync.probe import PROBE_SELECT, ProbeListing
from xops_provider.sync.records import page_end, version_of

if TYPE_CHECKING:
    from xops_provider.clients.graph import CollectionPage, GraphClient

_UNAVAILABLE = frozenset({503, 504})


def window_params(since: GraphTime, *, top: int) -> dict[str, str]:
    """The query parameters of a window read, oldest first: the sync's and the listing's.

    :param since: the window's start.
    :param top: the page size.
    """
    return {"$filter": incidents_filter(since), "$orderby": "lastUpdateDateTime asc", "$top": str(top)}


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


class DefenderIncidentsHook(MsTenantHook):
    """Read and update Defender incidents through Microsoft Graph, on an ``ms_tenant`` connection:
    list, get, update, comment and probe.

    The hook is the sync's :class:`~xops_provider.sync.ports.PageSource`; it gives pages, and the
    operator hands them to the engine. Once ``$expand=alerts``
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
        page_size: int = MAX_PAGE_SIZE,
        **kwargs: Any,
    ) -> None:
        super().__init__(ms_tenant_conn_id=ms_tenant_conn_id, **kwargs)
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
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
        params = window_params(since, top=self.page_size)
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
    def _records(body: dict[str, Any]) -> tuple[list[Any], str | None]:
        value = body.get("value")
        if not isinstance(value, list):
            raise GraphInvalidResponseError("an incidents page without a 'value' list")
        return value, body.get("@odata.nextLink")

    def _page_with_alerts(self, body: dict[str, Any]) -> Page:
        records, next_link = self._records(body)
        self.fallback_pages += 1
        for incident in records:
            # A record without a usable id is left as it is: the engine quarantines it.
            if isinstance(incident, dict) and isinstance(incident.get("id"), str | int):
                incident["alerts"] = list(self.iter_alerts(str(incident["id"])))
        # Written back as text: every page the sync reads holds JSON text, whichever path it took.
        return Page(incidents=[json.dumps(record).encode() for record in records], next_link=next_link)

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
        params = window_params(since, top=self.page_size)
        body = self.client.get(INCIDENTS_PATH, params=params)
        while True:
            records, next_link = self._records(body)
            yield from records
            if not next_link:
                return
            try:
                body = self.client.get_next(next_link)
            except (GraphBadRequestError, ForeignNextLinkError, GraphNotFoundError) as err:
                last = page_end(records)
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
            if (version := version_of(incident)) is not None:
                yield version

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

    # -- probe -----------------------------------------------------------------------------------

    def newest_after(self, *, watermark: GraphTime, top: int) -> ProbeListing:
        """The newest incidents updated after the watermark, ids and times only: the probe's first read
        (:func:`xops_provider.sync.probe.find_unseen`).

        :param watermark: the integration's watermark.
        :param top: the page size, at most 50.
        """
        return self._probe_read(f"lastUpdateDateTime gt {watermark.isoformat()}", top=top, count=False)

    def newest_between(self, *, since: GraphTime, until: GraphTime | None, top: int) -> ProbeListing:
        """The newest incidents of a window, ids and times only, with the window's ``@odata.count``
        when it is bounded above: the probe's overlap read.

        :param since: the window's start, included.
        :param until: its end, included; ``None`` for no end (and no count).
        :param top: the page size, at most 50.
        """
        text = incidents_filter(since)
        if until is not None:
            text += f" and lastUpdateDateTime le {until.isoformat()}"
        return self._probe_read(text, top=top, count=until is not None)

    def _probe_read(self, filter_text: str, *, top: int, count: bool) -> ProbeListing:
        params = {
            "$filter": filter_text,
            "$orderby": "lastUpdateDateTime desc",
            "$top": str(min(max(top, 1), MAX_PAGE_SIZE)),
            "$select": ",".join(PROBE_SELECT),
        }
        if count:
            params["$count"] = "true"
        body = self.client.get(INCIDENTS_PATH, params=params)
        # The nextLink is left alone: a check costs a bounded number of requests.
        records, _ = self._records(body)
        total = body.get("@odata.count")
        return ProbeListing(
            records=records, total=total if isinstance(total, int) and not isinstance(total, bool) else None
        )


def _segment(incident_id: str) -> str:
    """An incident id as a path segment; ids are numeric, anything else is refused."""
    text = str(incident_id).strip()
    if not text or not text.replace("-", "").isalnum():
        raise ValueError(f"not an incident id: {text[:40]!r}")
    return text
