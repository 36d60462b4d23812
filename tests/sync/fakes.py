"""An in-memory Graph incident listing for the pure sync engine's tests.

It behaves like ``GET /security/incidents?$filter=lastUpdateDateTime ge X&$orderby=lastUpdateDateTime
asc&$top=50``: ties are listed in id order, nextLinks carry a ``$skip`` offset into the listing *as it
is when the link is followed* (so updates while paging shift it, as in Graph), and a ``$skip`` past
``skip_ceiling`` is refused. The probe's reads (newest first, ``$select=id,lastUpdateDateTime``,
``$count`` on a bounded window) are there too.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from xops_provider.models.timestamps import GraphTime
from xops_provider.store import Store
from xops_provider.store import tables as t
from xops_provider.sync import BrokenChain, Page, ProbeListing, SkipCeilingReached

BASE = GraphTime.parse("2026-03-01T00:00:00.0000001Z")
NOW = BASE.shift(seconds=86_400)
MDO = "microsoftDefenderForOffice365"


def incident(
    incident_id: str, last_update: GraphTime, *, revision: int = 0, alerts: int = 2
) -> dict[str, Any]:
    """A realistic incident with MDO alerts and evidence."""
    return {
        "id": incident_id,
        "tenantId": "tenant-a",
        "displayName": f"Email reported by user as malware or phish <b>{incident_id}</b>",
        "status": "active",
        "severity": "medium",
        "createdDateTime": BASE.isoformat(),
        "lastUpdateDateTime": last_update.isoformat(),
        "redirectIncidentId": None,
        "customTags": [],
        "revision": revision,
        "alerts": [
            {
                "id": f"fa{incident_id}-{n}",
                "serviceSource": MDO,
                "title": "A potentially malicious URL click was detected",
                "severity": "medium",
                "status": "new",
                "evidence": [
                    {
                        "@odata.type": "#microsoft.graph.security.urlEvidence",
                        "url": f"https://evil.example/{incident_id}/{n}",
                        "roles": [],
                        "verdict": "malicious",
                    },
                    {
                        "@odata.type": "#microsoft.graph.security.userEvidence",
                        "userAccount": {"userPrincipalName": f"user{n}@contoso.com"},
                        "roles": [],
                    },
                ],
            }
            for n in range(alerts)
        ],
    }


class FakeGraph:
    """The listing, with hooks to inject faults.

    :param top: page size.
    :param skip_ceiling: the deepest ``$skip`` accepted.
    """

    def __init__(self, *, top: int = 50, skip_ceiling: int | None = None) -> None:
        self.top = top
        self.skip_ceiling = skip_ceiling
        self.records: dict[str, tuple[GraphTime, Any]] = {}
        self.calls: list[tuple[str, GraphTime, int]] = []
        self.before_request: Callable[[FakeGraph], None] | None = None
        self.broken_links: set[str] = set()

    def put(self, incident_id: str, last_update: GraphTime, **kwargs: Any) -> None:
        """Add or update an incident (an update moves it to its new time in the listing)."""
        revision = kwargs.pop("revision", None)
        if revision is None:
            revision = (self.records[incident_id][1]["revision"] + 1) if incident_id in self.records else 0
        self.records[incident_id] = (
            last_update,
            incident(incident_id, last_update, revision=revision, **kwargs),
        )

    def put_raw(self, key: str, sort_at: GraphTime, record: Any) -> None:
        """Add a record as is (malformed ones too), listed at ``sort_at``."""
        self.records[key] = (sort_at, record)

    def latest(self) -> dict[str, GraphTime]:
        """Each well-formed incident's current ``lastUpdateDateTime``."""
        return {
            key: when
            for key, (when, record) in self.records.items()
            if isinstance(record, dict) and record.get("id") == key and record.get("lastUpdateDateTime")
        }

    def _listing(self, since: GraphTime) -> list[Any]:
        rows = sorted(((when, key), record) for key, (when, record) in self.records.items() if when >= since)
        return [record for _, record in rows]

    def _page(self, since: GraphTime, skip: int) -> Page:
        listing = self._listing(since)
        items = listing[skip : skip + self.top]
        more = skip + self.top < len(listing)
        link = f"https://graph.test/incidents?since={since.ticks}&skip={skip + self.top}" if more else None
        # Graph serialises every page: each record's JSON text, as the hook hands it over.
        return Page(incidents=[json.dumps(item).encode() for item in items], next_link=link)

    def query(self, *, since: GraphTime) -> Page:
        if self.before_request:
            self.before_request(self)
        self.calls.append(("query", since, 0))
        return self._page(since, 0)

    def follow(self, next_link: str) -> Page:
        params = parse_qs(urlsplit(next_link).query)
        since, skip = GraphTime(int(params["since"][0])), int(params["skip"][0])
        if next_link in self.broken_links:
            self.broken_links.discard(next_link)
            raise BrokenChain(next_link)
        if self.skip_ceiling is not None and skip > self.skip_ceiling:
            raise SkipCeilingReached(f"$skip={skip}")
        if self.before_request:
            self.before_request(self)
        self.calls.append(("follow", since, skip))
        return self._page(since, skip)

    def newest_after(self, *, watermark: GraphTime, top: int) -> ProbeListing:
        self.calls.append(("newest_after", watermark, 0))
        return self._newest(lambda when: when > watermark, top=top, count=False)

    def newest_between(self, *, since: GraphTime, until: GraphTime | None, top: int) -> ProbeListing:
        self.calls.append(("newest_between", since, 0))
        return self._newest(
            lambda when: since <= when and (until is None or when <= until), top=top, count=until is not None
        )

    def _newest(self, keep: Callable[[GraphTime], bool], *, top: int, count: bool) -> ProbeListing:
        rows = sorted(
            (((when, key), record) for key, (when, record) in self.records.items() if keep(when)),
            reverse=True,
        )
        selected = [
            {name: record.get(name) for name in ("id", "lastUpdateDateTime")}
            if isinstance(record, dict)
            else record
            for _, record in rows[:top]
        ]
        return ProbeListing(records=selected, total=len(rows) if count else None)


def backlog(
    graph: FakeGraph,
    count: int,
    *,
    start: GraphTime = BASE,
    step_seconds: float = 1.0,
    seed: int = 7,
    first_id: int = 1000,
) -> None:
    """``count`` incidents at distinct, increasing times (ids shuffled against time)."""
    ids = list(range(first_id, first_id + count))
    random.Random(seed).shuffle(ids)
    for n, incident_id in enumerate(ids):
        graph.put(str(incident_id), start.shift(seconds=n * step_seconds))


def snapshot(store: Store) -> dict[str, Any]:
    """What must be equal after a crash and a rerun: everything but row ids and wall-clock times."""
    raw, inc, q, s = t.raw_incident_versions, t.incidents, t.quarantine, t.sync_state
    with store.engine.connect() as conn:
        versions = sorted(
            conn.execute(
                select(raw.c.tenant_id, raw.c.incident_id, raw.c.last_update, raw.c.payload, raw.c.produced)
            ).all()
        )
        heads = sorted(
            conn.execute(
                select(
                    inc.c.incident_id,
                    inc.c.last_update,
                    inc.c.status,
                    inc.c.redirect_incident_id,
                    inc.c.has_mdo_alert,
                )
            ).all()
        )
        quarantine = sorted(conn.execute(select(q.c.kind, q.c.record_id, q.c.reason, q.c.fingerprint)).all())
        state = conn.execute(select(s.c.integration, s.c.watermark, s.c.seen, s.c.lookback_start)).all()
    return {
        "versions": [tuple(row) for row in versions],
        "heads": [tuple(row) for row in heads],
        "quarantine": [tuple(row) for row in quarantine],
        "state": [tuple(row) for row in state],
    }


def stored_heads(store: Store, tenant_id: str = "tenant-a") -> dict[str, GraphTime]:
    """The store's head time per incident."""
    return {head.incident_id: head.last_update for head in store.sync.heads(tenant_id=tenant_id)}
