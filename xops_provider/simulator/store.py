"""The simulated tenant's incidents, in memory, kept in Graph's order.

Alerts are held as their serialised JSON text: a 20,000-incident tenant stays small, and a page is
assembled by joining strings instead of re-encoding thousands of evidence dicts per request.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from xops_provider.models.timestamps import GraphTime, InvalidTimestamp

_INCIDENT_WEB_URL = "https://security.microsoft.com/incidents/{id}?tid={tenant}"


def dumps(value: Any) -> str:
    """Compact JSON as Graph sends it (non-ASCII kept as UTF-8).

    :param value: what to encode.
    """
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class Clock:
    """Graph's "now" for changes: wall time, but unique and strictly increasing at tick resolution,
    so every update is ordered after everything before it."""

    def __init__(self) -> None:
        self._last = 0

    def now(self) -> GraphTime:
        # The wall clock has microseconds, Graph has 100 ns ticks: fill the seventh digit, so that a
        # client which drops it cannot pass unnoticed.
        ticks = GraphTime.from_datetime(dt.datetime.now(dt.UTC)).ticks + 7
        self._last = max(ticks, self._last + 1)
        return GraphTime(self._last)

    def observe(self, value: GraphTime) -> None:
        """Never hand out a time at or before ``value`` (e.g. a scenario's latest update).

        :param value: a time already in use.
        """
        self._last = max(self._last, value.ticks)


class IncidentNotFound(KeyError):
    """No incident with that id."""


class AlertNotFound(KeyError):
    """No alert with that id."""


@dataclass(slots=True, kw_only=True)
class StoredAlert:
    """One alert, as the JSON Graph would send, compressed: evidence-heavy alerts are several
    kilobytes each, and a page needs only a hundred of them at a time. What ``alerts_v2`` filters
    and orders on is kept beside the blob, so a listing never decompresses what it skips.

    :param id: the alert id (``fa…`` for MDO, ``da…`` for MDE).
    :param incident_id: the incident it currently belongs to.
    :param blob: its UTF-8 JSON, zlib-compressed.
    :param fields: ``serviceSource``, ``severity`` and ``status`` as written.
    :param created: ``createdDateTime`` in ticks (``None`` when missing or unreadable).
    :param updated: ``lastUpdateDateTime`` in ticks (``None`` when missing or unreadable).
    """

    id: str
    incident_id: str
    blob: bytes
    fields: dict[str, Any] = field(default_factory=dict)
    created: int | None = None
    updated: int | None = None

    @classmethod
    def of(cls, data: dict[str, Any], *, incident_id: str) -> StoredAlert:
        """Store ``data`` for an incident.

        :param data: the alert, with its ``id``.
        :param incident_id: the incident it belongs to.
        """
        return cls(
            id=str(data["id"]),
            incident_id=incident_id,
            blob=zlib.compress(dumps(data).encode(), 1),
            fields={name: data.get(name) for name in ("serviceSource", "severity", "status")},
            created=_ticks(data.get("createdDateTime")),
            updated=_ticks(data.get("lastUpdateDateTime")),
        )

    def json(self) -> bytes:
        return zlib.decompress(self.blob)

    def as_dict(self) -> dict[str, Any]:
        return json.loads(self.json())


def _ticks(value: Any) -> int | None:
    try:
        return GraphTime.parse(value).ticks if isinstance(value, str) and value else None
    except InvalidTimestamp:
        return None


@dataclass(slots=True, kw_only=True)
class StoredIncident:
    """One incident: its own properties (without ``alerts``) and the ids of its alerts.

    :param id: numeric string id.
    :param body: the properties, with ``lastUpdateDateTime`` as Graph writes it.
    :param last_update: ``lastUpdateDateTime`` at full precision, for ordering.
    :param alert_ids: its alerts, in order.
    """

    id: str
    body: dict[str, Any]
    last_update: GraphTime
    alert_ids: list[str] = field(default_factory=list)
    _text: bytes | None = None

    @property
    def key(self) -> tuple[int, int, str]:
        # Numeric ids order as numbers when they are compared as (length, text).
        return (self.last_update.ticks, len(self.id), self.id)

    def text(self) -> bytes:
        """The properties as UTF-8 JSON, without the closing brace (``alerts`` may follow)."""
        if self._text is None:
            self._text = dumps(self.body).encode()[:-1]
        return self._text

    def touched(self) -> None:
        self._text = None


class IncidentStore:
    """The tenant's incidents and alerts, ordered by ``(lastUpdateDateTime, id)``.

    :param tenant_id: written into new incidents.
    :param clock: the source of ``lastUpdateDateTime`` for changes.
    """

    def __init__(self, *, tenant_id: str, clock: Clock) -> None:
        self.tenant_id = tenant_id
        self.clock = clock
        self.clear()

    def clear(self) -> None:
        self.incidents: dict[str, StoredIncident] = {}
        self.alerts: dict[str, StoredAlert] = {}
        self._order: list[tuple[int, int, str]] = []
        self._next_id = 1

    # -- reading ---------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.incidents)

    def get(self, incident_id: str) -> StoredIncident:
        """The incident, or :class:`IncidentNotFound`.

        :param incident_id: the incident.
        """
        try:
            return self.incidents[incident_id]
        except KeyError:
            raise IncidentNotFound(incident_id) from None

    def alert_json(self, incident: StoredIncident) -> list[bytes]:
        """The JSON of each of the incident's alerts.

        :param incident: the incident.
        """
        return [self.alerts[alert_id].json() for alert_id in incident.alert_ids]

    def incident_json(self, incident: StoredIncident, *, expand: bool, extra: bytes = b"") -> bytes:
        """The incident's UTF-8 JSON, with its alerts when ``expand``.

        :param incident: the incident.
        :param expand: include ``alerts``.
        :param extra: already encoded members to put first (``"@odata.context":"…"``), no comma.
        """
        head = incident.text()
        if extra:
            head = b"{" + extra + (b"," + head[1:] if len(head) > 1 else b"")
        if not expand:
            return head + b"}"
        return head + b',"alerts":[' + b",".join(self.alert_json(incident)) + b"]}"

    def incident_dict(self, incident: StoredIncident, *, expand: bool = True) -> dict[str, Any]:
        """A copy of the incident as a dict (slow path: admin answers, ``$select``).

        :param incident: the incident.
        :param expand: include ``alerts``.
        """
        data = dict(incident.body)
        if expand:
            data["alerts"] = [self.alerts[alert_id].as_dict() for alert_id in incident.alert_ids]
        return data

    def scan(
        self,
        *,
        lower: tuple[int, bool] | None = None,
        upper: tuple[int, bool] | None = None,
        descending: bool = False,
        predicate: Callable[[StoredIncident], bool] | None = None,
        skip: int = 0,
    ) -> Iterator[StoredIncident]:
        """Incidents in order, narrowed by ``lastUpdateDateTime`` bounds through the index.

        :param lower: ``(ticks, inclusive)`` lower bound on ``lastUpdateDateTime``.
        :param upper: ``(ticks, inclusive)`` upper bound.
        :param descending: newest first.
        :param predicate: the rest of the filter.
        :param skip: how many matches to pass over first.
        """
        order = self._order
        lo = 0 if lower is None else bisect.bisect_left(order, (lower[0] + (0 if lower[1] else 1),))
        hi = len(order) if upper is None else bisect.bisect_left(order, (upper[0] + (1 if upper[1] else 0),))
        # Without a residual predicate the index alone answers: skip by arithmetic, not iteration.
        if predicate is None and skip:
            lo, hi = (lo, max(lo, hi - skip)) if descending else (min(hi, lo + skip), hi)
        indexes: Iterable[int] = range(hi - 1, lo - 1, -1) if descending else range(lo, hi)
        incidents = self.incidents
        skipped = 0 if predicate is None else skip
        for index in indexes:
            incident = incidents[order[index][2]]
            if predicate is None or predicate(incident):
                if skipped:
                    skipped -= 1
                    continue
                yield incident

    # -- writing ---------------------------------------------------------------------------------

    def new_id(self) -> str:
        """The next incident id: above every id so far, as Defender numbers them."""
        self._next_id += 1
        return str(self._next_id - 1)

    def _index(self, incident: StoredIncident) -> None:
        bisect.insort(self._order, incident.key)

    def _unindex(self, incident: StoredIncident) -> None:
        index = bisect.bisect_left(self._order, incident.key)
        if index < len(self._order) and self._order[index] == incident.key:
            del self._order[index]

    def put(self, body: dict[str, Any], alerts: Iterable[dict[str, Any]] = ()) -> StoredIncident:
        """Add or replace an incident and its alerts, exactly as given.

        :param body: the incident properties; ``alerts`` in it is ignored in favour of ``alerts``.
        :param alerts: its alerts.
        """
        body = {k: v for k, v in body.items() if k != "alerts"}
        incident_id = str(body.get("id") or self.new_id())
        if not incident_id.isdigit():
            raise ValueError(f"incident ids are numeric strings, got {incident_id!r}")
        body["id"] = incident_id
        self._next_id = max(self._next_id, int(incident_id) + 1)
        body.setdefault("tenantId", self.tenant_id)
        body.setdefault("incidentWebUrl", _INCIDENT_WEB_URL.format(id=incident_id, tenant=self.tenant_id))
        if not body.get("lastUpdateDateTime"):
            body["lastUpdateDateTime"] = self.clock.now().isoformat()
        body.setdefault("createdDateTime", body["lastUpdateDateTime"])
        last_update = GraphTime.parse(body["lastUpdateDateTime"])
        self.clock.observe(last_update)
        if incident_id in self.incidents:
            self.delete(incident_id)
        incident = StoredIncident(id=incident_id, body=body, last_update=last_update)
        self.incidents[incident_id] = incident
        self._index(incident)
        for alert in alerts:
            self._attach(incident, alert)
        return incident

    def _attach(self, incident: StoredIncident, alert: dict[str, Any]) -> StoredAlert:
        alert_id = str(alert.get("id") or "")
        if not alert_id:
            raise ValueError("an alert needs an id")
        if alert_id in self.alerts:
            raise ValueError(
                f"alert {alert_id} already exists in incident {self.alerts[alert_id].incident_id}"
            )
        if not alert.get("incidentId"):
            alert = {**alert, "incidentId": incident.id}
        stored = StoredAlert.of(alert, incident_id=incident.id)
        self.alerts[alert_id] = stored
        incident.alert_ids.append(alert_id)
        return stored

    def attach(self, incident_id: str, alert: dict[str, Any]) -> StoredAlert:
        """Attach an alert as given, without touching the incident's ``lastUpdateDateTime``.

        :param incident_id: the incident.
        :param alert: the alert, with an ``id``; its ``incidentId`` is kept if set.
        """
        return self._attach(self.get(incident_id), alert)

    def delete(self, incident_id: str) -> None:
        """Forget an incident and its alerts.

        :param incident_id: the incident.
        """
        incident = self.get(incident_id)
        self._unindex(incident)
        for alert_id in incident.alert_ids:
            self.alerts.pop(alert_id, None)
        del self.incidents[incident_id]

    def update(
        self, incident_id: str, changes: dict[str, Any], *, at: GraphTime | None = None
    ) -> StoredIncident:
        """Change properties and bump ``lastUpdateDateTime`` (to ``at``, or now).

        :param incident_id: the incident.
        :param changes: the new values; ``id`` and ``alerts`` cannot change here.
        :param at: the new ``lastUpdateDateTime``; now when omitted.
        """
        incident = self.get(incident_id)
        forbidden = {"id", "alerts"} & changes.keys()
        if forbidden:
            raise ValueError(f"cannot change {', '.join(sorted(forbidden))} through an update")
        self._unindex(incident)
        incident.body.update(changes)
        if "lastUpdateDateTime" in changes:
            # Kept as written, so a test can plant Graph's shorter fractions.
            at = GraphTime.parse(changes["lastUpdateDateTime"])
        else:
            at = at or self.clock.now()
            incident.body["lastUpdateDateTime"] = at.isoformat()
        self.clock.observe(at)
        incident.last_update = at
        incident.touched()
        self._index(incident)
        return incident

    def add_alert(self, incident_id: str, alert: dict[str, Any]) -> StoredAlert:
        """Attach a new alert (its ``incidentId`` set to the incident) and bump the incident.

        :param incident_id: the incident.
        :param alert: the alert, with an ``id``.
        """
        incident = self.get(incident_id)
        stored = self._attach(incident, {**alert, "incidentId": incident_id})
        self.update(incident_id, {})
        return stored

    def remove_alert(self, alert_id: str) -> StoredIncident:
        """Detach and forget an alert; its incident is bumped and returned.

        :param alert_id: the alert.
        """
        stored = self.alerts.pop(alert_id, None)
        if stored is None:
            raise AlertNotFound(alert_id)
        incident = self.get(stored.incident_id)
        incident.alert_ids.remove(alert_id)
        return self.update(incident.id, {})

    def move_alerts(self, source_id: str, target_id: str) -> list[str]:
        """Move every alert of one incident to another (as a merge does).

        :param source_id: the absorbed incident.
        :param target_id: the surviving incident.
        """
        source, target = self.get(source_id), self.get(target_id)
        moved = list(source.alert_ids)
        for alert_id in moved:
            stored = self.alerts[alert_id]
            data = stored.as_dict()
            data["incidentId"] = target_id
            self.alerts[alert_id] = StoredAlert.of(data, incident_id=target_id)
            target.alert_ids.append(alert_id)
        source.alert_ids.clear()
        return moved

    def merge(self, source_id: str, target_id: str) -> tuple[StoredIncident, StoredIncident]:
        """Redirect ``source`` into ``target``: status ``redirected``, alerts moved, both bumped.

        :param source_id: the absorbed incident.
        :param target_id: the surviving incident.
        """
        if source_id == target_id:
            raise ValueError("an incident cannot be merged into itself")
        self.get(target_id)
        self.move_alerts(source_id, target_id)
        source = self.update(source_id, {"status": "redirected", "redirectIncidentId": target_id})
        target = self.update(target_id, {})
        return source, target
