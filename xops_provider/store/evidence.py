"""The evidence repository: network events (Cato, Zeek) kept for correlation, and their retention.

Each event is one row keyed by its ``fact_key``: a refetch or a second import of the same record
writes nothing. :meth:`EvidenceStore.network_events_for` is the set-based form of the network rule
of :mod:`xops_provider.correlation.matching`: one indexed query per chunk of values, the window in
the index range.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, and_, delete, or_, select, update

from xops_provider.correlation.facts import NetworkEvent
from xops_provider.models.normalize import normalize_address, normalize_domain, normalize_url
from xops_provider.models.timestamps import GraphTime
from xops_provider.store import tables as t
from xops_provider.store.base import Repository, chunks, column_text, utc_now
from xops_provider.sync.ports import QuarantineEntry

#: The quarantine's ``integration`` for network records: they belong to no Defender integration.
NETWORK_INTEGRATION = "network"
#: The quarantine's ``kind`` for a network record that does not parse.
NETWORK_EVENT_KIND = "network_event"
# A domain is two bound parameters (a range); stay as far under the limits as an IN list does.
_DOMAIN_CHUNK = 250


class FeedMarkerMoved(RuntimeError):
    """Another puller moved a feed's marker since this one read its page (two runs at once)."""


def reversed_domain(domain: str) -> str:
    """A domain's labels reversed and dot-terminated: ``a.evil.example`` -> ``example.evil.a.``.

    A domain and its subdomains then share one prefix, and a lookalike (``notevil.example``,
    ``evil.example.net``) does not.

    :param domain: a normalised domain.
    """
    return ".".join(reversed(domain.rstrip(".").split("."))) + "."


class EvidenceStore(Repository):
    """The ``network_events`` table, and the markers of the feeds pulled into it.

    :param engine: the store's engine.
    """

    def __init__(self, *, engine: Engine) -> None:
        super().__init__(engine=engine)
        ne = t.network_events
        # Built once: constructing an upsert costs more than running it for a batch.
        self._insert_events = (
            self._insert(ne).on_conflict_do_nothing(index_elements=["fact_key"]).returning(ne.c.fact_key)
        )

    def add_network_events(
        self,
        events: Iterable[NetworkEvent],
        *,
        quarantined: Sequence[QuarantineEntry] = (),
    ) -> tuple[int, int]:
        """Store a batch of events, and quarantine the batch's bad records, in one transaction.

        :param events: the events; one already stored (or repeated in the batch) adds nothing.
        :param quarantined: records that did not parse (kind :data:`NETWORK_EVENT_KIND`); one
            already quarantined adds no row.
        :returns: ``(added, duplicates)``.
        """
        now = utc_now()
        with self._write() as conn:
            return self._add_events(conn, events, quarantined, now)

    def _add_events(
        self,
        conn: Connection,
        events: Iterable[NetworkEvent],
        quarantined: Sequence[QuarantineEntry],
        now: str,
    ) -> tuple[int, int]:
        rows: dict[str, dict[str, Any]] = {}
        total = 0
        for event in events:
            total += 1
            rows.setdefault(event.fact_key, _row(event, received_at=now))
        added = len(conn.execute(self._insert_events, list(rows.values())).all()) if rows else 0
        self._insert_quarantine(conn, NETWORK_INTEGRATION, "", quarantined, now)
        return added, total - added

    def feed_marker(self, *, source: str, feed_id: str) -> str | None:
        """Where a pulled feed resumes; ``None`` before its first page.

        :param source: the feed's source, e.g. ``cato``.
        :param feed_id: which feed of that source (the connection and the account).
        """
        fm = t.feed_markers
        with self.engine.connect() as conn:
            return conn.execute(
                select(fm.c.marker).where(fm.c.source == source, fm.c.feed_id == feed_id)
            ).scalar_one_or_none()

    def add_feed_page(
        self,
        *,
        source: str,
        feed_id: str,
        previous_marker: str | None,
        marker: str,
        events: Iterable[NetworkEvent],
        quarantined: Sequence[QuarantineEntry] = (),
    ) -> tuple[int, int]:
        """Store one page of a feed and move its marker past it, in one transaction.

        A crash before the commit leaves neither (the page is read again); after it, both. The
        marker moves only from ``previous_marker``: a puller that read a page from a marker another
        one has since moved gets :class:`FeedMarkerMoved`, and its page is not stored.

        :param source: the feed's source, e.g. ``cato``.
        :param feed_id: which feed of that source.
        :param previous_marker: the marker the page was read from (``None`` for the first page).
        :param marker: where the next page starts.
        :param events: the page's events.
        :param quarantined: the page's records that did not parse.
        :returns: ``(added, duplicates)``.
        :raises FeedMarkerMoved: the stored marker is not ``previous_marker``.
        """
        fm = t.feed_markers
        events = list(events)
        now = utc_now()
        with self._write() as conn:
            if previous_marker is None:
                moved = conn.execute(
                    self._insert(fm)
                    .on_conflict_do_nothing(index_elements=["source", "feed_id"])
                    .values(
                        source=source,
                        feed_id=feed_id,
                        marker=marker,
                        pages=1,
                        events=len(events),
                        updated_at=now,
                    )
                    .returning(fm.c.feed_id)
                ).all()
            else:
                moved = conn.execute(
                    update(fm)
                    .where(fm.c.source == source, fm.c.feed_id == feed_id, fm.c.marker == previous_marker)
                    .values(
                        marker=marker,
                        pages=fm.c.pages + 1,
                        events=fm.c.events + len(events),
                        updated_at=now,
                    )
                    .returning(fm.c.feed_id)
                ).all()
            # RETURNING, not rowcount: the store's PostgreSQL cursors do not report one.
            if len(moved) != 1:
                # Raised inside the transaction: the page's events are rolled back with it.
                raise FeedMarkerMoved(f"{source} feed {feed_id!r}: the marker moved since this page was read")
            return self._add_events(conn, events, quarantined, now)

    def network_events_for(
        self,
        *,
        users: Iterable[str] = (),
        domains: Iterable[str] = (),
        ips: Iterable[str] = (),
        urls: Iterable[str] = (),
        since: GraphTime,
        until: GraphTime,
    ) -> list[NetworkEvent]:
        """The events within ``[since, until]`` that match any value, once each, by time then key.

        As in :func:`~xops_provider.correlation.matching.network_matched_on`: ``users`` match the
        event's user; ``domains`` its domain or a subdomain of one (never a lookalike); ``ips`` its
        destination IP; ``urls`` its URL. Values are normalised here as the facts are.

        :param users: user addresses.
        :param domains: domains.
        :param ips: destination IP addresses.
        :param urls: URLs.
        :param since: the window's start, included.
        :param until: the window's end, included.
        """
        ne = t.network_events
        window = ne.c.time_ticks.between(since.ticks, until.ticks)
        conditions: list[ColumnElement[bool]] = []
        for chunk in chunks(_unique(normalize_address(u) for u in users)):
            conditions.append(ne.c.user.in_(chunk))
        for chunk in chunks(_unique(_ip(i) for i in ips)):
            conditions.append(ne.c.dest_ip.in_(chunk))
        for chunk in chunks(_unique(normalize_url(u) for u in urls)):
            conditions.append(ne.c.url.in_(chunk))
        prefixes = _unique(reversed_domain(d) for d in map(normalize_domain, domains) if d)
        for chunk in chunks(prefixes, _DOMAIN_CHUNK):
            # [p, p with its final "." raised to "/"): exactly the texts that start with p.
            conditions.append(
                or_(*(and_(ne.c.domain_reversed >= p, ne.c.domain_reversed < p[:-1] + "/") for p in chunk))
            )
        found: dict[str, NetworkEvent] = {}
        with self.engine.connect() as conn:
            for condition in conditions:
                for row in conn.execute(select(ne).where(condition, window)):
                    found.setdefault(row.fact_key, network_event(row))
        return sorted(found.values(), key=lambda e: (e.time.ticks, e.fact_key))

    def network_sources(self) -> set[str]:
        """The sources that have any event stored (a feed pulled, or a log imported)."""
        ne = t.network_events
        with self.engine.connect() as conn:
            return {
                source
                for source in ("cato", "zeek_dns", "zeek_ssl")
                if conn.execute(select(ne.c.fact_key).where(ne.c.source == source).limit(1)).first()
            }

    def purge_network_events(self, *, older_than: GraphTime) -> int:
        """Delete the events that happened before ``older_than`` (the retention).

        :param older_than: the oldest event time kept.
        :returns: events deleted.
        """
        ne = t.network_events
        with self._write() as conn:
            return conn.execute(delete(ne).where(ne.c.time_ticks < older_than.ticks)).rowcount


def _unique(values: Iterable[str | None]) -> list[str]:
    return sorted({v for v in values if v})


def _ip(value: str) -> str | None:
    # The facts hold IPs in ipaddress's compressed form; any other text matches none.
    try:
        return ipaddress.ip_address(value.strip()).compressed
    except ValueError:
        return None


def _row(event: NetworkEvent, *, received_at: str) -> dict[str, Any]:
    """An event's row. Values are cut to their columns (PostgreSQL refuses longer text): an
    oversized value then joins nothing, which is all it could do anyway."""
    return {
        "fact_key": event.fact_key,
        "source": event.source,
        "time": event.time.isoformat(),
        "time_ticks": event.time.ticks,
        "user": column_text(event.user, 1000),
        "device": column_text(event.device, 1000),
        "device_id": column_text(event.device_id, 200),
        "src_ip": column_text(event.src_ip, 64),
        "dest_ip": column_text(event.dest_ip, 64),
        "dest_port": event.dest_port,
        "domain": column_text(event.domain, 1000),
        "domain_reversed": column_text(reversed_domain(event.domain), 1000) if event.domain else None,
        "url": column_text(event.url),
        "action": column_text(event.action, 200),
        "detail": column_text(event.detail),
        "raw": column_text(event.raw) or "",
        "received_at": received_at,
    }


def network_event(row: Any) -> NetworkEvent:
    """A ``network_events`` row as the fact it was stored from."""
    return NetworkEvent(
        fact_key=row.fact_key,
        source=row.source,
        time=GraphTime(row.time_ticks),
        user=row.user,
        src_ip=row.src_ip,
        dest_ip=row.dest_ip,
        dest_port=row.dest_port,
        domain=row.domain,
        url=row.url,
        action=row.action,
        device=row.device,
        device_id=row.device_id,
        detail=row.detail,
        raw=row.raw,
    )
