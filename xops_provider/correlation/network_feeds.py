"""Network records -> :class:`~xops_provider.correlation.facts.NetworkEvent`: the Cato events feed
and Zeek's ``dns.log`` and ``ssl.log`` (JSON lines).

A Cato record is ``{"time": ..., "fieldsMap": {...}}`` as the eventsFeed returns it, or the flat
``fieldsMap`` alone (as exported). Its user is an address (``vpn_user_email`` and the like): a
display name such as ``John DOE`` joins nothing and is left out. A path-only ``url`` (Cato writes
one for some IPS events) is not a URL; the event keeps its ``domain_name``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from xops_provider.correlation.facts import (
    FactError,
    NetworkEvent,
    epoch_time,
    fact_key,
    ip_field,
    port_field,
    record_of,
    text_field,
)
from xops_provider.models.normalize import normalize_address, normalize_domain, normalize_url, url_domain
from xops_provider.models.timestamps import GraphTime, InvalidTimestamp

CATO = "cato"
ZEEK_DNS = "zeek_dns"
ZEEK_SSL = "zeek_ssl"
# Where a Cato record names its user's address, most specific first.
_CATO_USER_FIELDS = ("vpn_user_email", "user_email", "src_user_email", "user_name", "src_user_name")
# Where it names its time; ``time`` is epoch milliseconds in the feed's fieldsMap.
_CATO_TIME_FIELDS = ("time", "time_str", "event_timestamp", "event_time")
_CATO_ID_FIELDS = ("internalId", "internal_id", "event_id")


class FeedError(ValueError):
    """A feed page that carries an error or has no records list (a source failure, not a fact's)."""


@dataclass(frozen=True, slots=True)
class CatoPage:
    """One eventsFeed answer, read.

    :param marker: where the next call resumes.
    :param fetched_count: records Cato says it returned; 0 means caught up.
    :param events: the records that parse, in the feed's order.
    :param rejected: ``(raw text, reason)`` of each record that does not.
    """

    marker: str
    fetched_count: int
    events: tuple[NetworkEvent, ...]
    rejected: tuple[tuple[str, str], ...]


def _cato_time(record: Mapping[str, Any], fields: Mapping[str, Any]) -> GraphTime:
    candidates = [("time", record.get("time"))] if fields is not record else []
    candidates += [(name, fields.get(name)) for name in _CATO_TIME_FIELDS]
    for name, value in candidates:
        if value is None or value == "":
            continue
        if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
            return epoch_time(value, scale=1000, what=CATO, name=name)
        if not isinstance(value, str):
            raise FactError(f"{CATO}: {name} is not a time")
        try:
            return GraphTime.parse(value)
        except (InvalidTimestamp, OverflowError):
            raise FactError(f"{CATO}: {name} is not an ISO 8601 time: {value[:40]!r}") from None
    raise FactError(f"{CATO}: no event time (time, time_str, event_timestamp or event_time)")


def _cato_user(fields: Mapping[str, Any]) -> str | None:
    for name in _CATO_USER_FIELDS:
        text = text_field(fields, name, what=CATO)
        if text and "@" in text:
            return normalize_address(text)
    return None


def _cato_detail(fields: Mapping[str, Any]) -> str | None:
    kinds = [t for name in ("event_type", "event_sub_type") if (t := text_field(fields, name, what=CATO))]
    threat = text_field(fields, "threat_name", what=CATO)
    detail = " / ".join(kinds)
    if threat and threat.lower() != "clean":
        detail = f"{detail}: {threat}" if detail else threat
    return detail or None


def parse_cato_record(value: Any) -> NetworkEvent:
    """A Cato eventsFeed record: ``{"time", "fieldsMap"}``, or the flat ``fieldsMap``.

    :param value: the record (object or JSON text).
    :raises FactError: when it has no readable time or a field has the wrong type.
    """
    record, raw = record_of(value, what=CATO)
    fields = record.get("fieldsMap", record)
    if not isinstance(fields, Mapping):
        raise FactError(f"{CATO}: fieldsMap is not an object")
    time = _cato_time(record, fields)
    domain = normalize_domain(text_field(fields, "domain_name", what=CATO))
    url = None
    for name in ("full_path_url", "url"):
        text = text_field(fields, name, what=CATO)
        if text and "://" in text:
            url = normalize_url(text)
            break
    identity = next((i for name in _CATO_ID_FIELDS if (i := text_field(fields, name, what=CATO))), None)
    account = text_field(fields, "account_id", what=CATO)
    key = fact_key(CATO, account, identity, time) if identity else fact_key(CATO, time, dict(fields))
    return NetworkEvent(
        fact_key=key,
        source=CATO,
        time=time,
        user=_cato_user(fields),
        src_ip=ip_field(fields, "src_ip", what=CATO),
        dest_ip=ip_field(fields, "dest_ip", what=CATO),
        dest_port=port_field(fields, "dest_port", what=CATO),
        domain=domain or (url_domain(url) if url else None),
        url=url,
        action=text_field(fields, "action", what=CATO),
        device=normalize_domain(
            text_field(fields, "device_name", what=CATO)
            or text_field(fields, "configured_host_name", what=CATO)
        ),
        device_id=None,
        detail=_cato_detail(fields),
        raw=raw,
    )


def parse_cato_feed_page(payload: Any) -> CatoPage:
    """An eventsFeed answer: its marker, and every record read (or rejected with its reason).

    :param payload: the decoded GraphQL answer.
    :raises FeedError: when the answer carries ``errors`` or has no ``eventsFeed``.
    """
    if not isinstance(payload, Mapping):
        raise FeedError("eventsFeed answer is not a JSON object")
    errors = payload.get("errors")
    if errors:
        messages = [str(e.get("message")) for e in errors if isinstance(e, Mapping)] or [str(errors)]
        raise FeedError(f"eventsFeed error: {'; '.join(messages)[:300]}")
    feed = (payload.get("data") or {}).get("eventsFeed") if isinstance(payload.get("data"), Mapping) else None
    if not isinstance(feed, Mapping):
        raise FeedError("eventsFeed answer without data.eventsFeed")
    events, rejected = [], []
    for account in feed.get("accounts") or []:
        records = account.get("records") if isinstance(account, Mapping) else None
        for record in records if isinstance(records, list) else []:
            try:
                events.append(parse_cato_record(record))
            except FactError as err:
                rejected.append((record_text(record), err.reason))
    count = feed.get("fetchedCount")
    return CatoPage(
        marker=str(feed.get("marker") or ""),
        fetched_count=count if isinstance(count, int) and not isinstance(count, bool) else len(events),
        events=tuple(events),
        rejected=tuple(rejected),
    )


def record_text(record: Any) -> str:
    """A record's text for the quarantine, whatever it is.

    :param record: the record as received.
    """
    try:
        return record_of(record, what="record")[1]
    except FactError:
        return repr(record)[:2000]


def _zeek_field(record: Mapping[str, Any], name: str) -> Any:
    # Zeek writes ``id.orig_h`` flat by default, ``{"id": {"orig_h": ...}}`` when told to nest.
    if name in record:
        return record[name]
    head, _, tail = name.partition(".")
    nested = record.get(head)
    return nested.get(tail) if tail and isinstance(nested, Mapping) else None


def _zeek_record(value: Any, source: str) -> tuple[dict[str, Any], str, GraphTime]:
    record, raw = record_of(value, what=source)
    flat = {name: _zeek_field(record, name) for name in ("id.orig_h", "id.resp_h", "id.resp_p", "id.orig_p")}
    flat.update({k: v for k, v in record.items() if k not in flat})
    ts = flat.get("ts")
    if ts is None or ts == "":
        raise FactError(f"{source}: missing ts")
    if isinstance(ts, str) and not ts.strip().replace(".", "", 1).isdigit():
        try:
            return flat, raw, GraphTime.parse(ts)
        except (InvalidTimestamp, OverflowError):
            raise FactError(f"{source}: ts is not an epoch or ISO 8601 time: {ts[:40]!r}") from None
    return flat, raw, epoch_time(ts, scale=1, what=source, name="ts")


def parse_zeek_dns(value: Any) -> NetworkEvent:
    """A Zeek ``dns.log`` JSON line: a lookup of ``query`` by ``id.orig_h``.

    The destination IP is the resolver's; the answer's addresses are in ``detail``.

    :param value: the line (or its object).
    :raises FactError: when it has no ``ts`` or no ``query``.
    """
    record, raw, time = _zeek_record(value, ZEEK_DNS)
    query = normalize_domain(text_field(record, "query", what=ZEEK_DNS, required=True))
    answers = record.get("answers")
    answers = [str(a) for a in answers if isinstance(a, str | int)] if isinstance(answers, list) else []
    qtype = text_field(record, "qtype_name", what=ZEEK_DNS)
    detail = " ".join(part for part in (qtype, "->" if answers else None, ", ".join(answers[:5])) if part)
    uid = text_field(record, "uid", what=ZEEK_DNS)
    return NetworkEvent(
        fact_key=fact_key(ZEEK_DNS, uid, time, query, record.get("trans_id"), qtype),
        source=ZEEK_DNS,
        time=time,
        user=None,
        src_ip=ip_field(record, "id.orig_h", what=ZEEK_DNS),
        dest_ip=ip_field(record, "id.resp_h", what=ZEEK_DNS),
        dest_port=port_field(record, "id.resp_p", what=ZEEK_DNS),
        domain=query,
        url=None,
        action=text_field(record, "rcode_name", what=ZEEK_DNS) or "query",
        device=None,
        device_id=None,
        detail=detail or None,
        raw=raw,
    )


def parse_zeek_ssl(value: Any) -> NetworkEvent:
    """A Zeek ``ssl.log`` JSON line: a TLS session to ``server_name`` (SNI) at ``id.resp_h``.

    :param value: the line (or its object).
    :raises FactError: when it has no ``ts``, or neither ``server_name`` nor ``id.resp_h``.
    """
    record, raw, time = _zeek_record(value, ZEEK_SSL)
    server = normalize_domain(text_field(record, "server_name", what=ZEEK_SSL))
    dest_ip = ip_field(record, "id.resp_h", what=ZEEK_SSL)
    if server is None and dest_ip is None:
        raise FactError(f"{ZEEK_SSL}: missing server_name and id.resp_h")
    established = record.get("established")
    action = None
    if isinstance(established, bool):
        action = "established" if established else "not established"
    uid = text_field(record, "uid", what=ZEEK_SSL)
    return NetworkEvent(
        fact_key=fact_key(ZEEK_SSL, uid, time, server, dest_ip),
        source=ZEEK_SSL,
        time=time,
        user=None,
        src_ip=ip_field(record, "id.orig_h", what=ZEEK_SSL),
        dest_ip=dest_ip,
        dest_port=port_field(record, "id.resp_p", what=ZEEK_SSL),
        domain=server,
        url=None,
        action=action,
        device=None,
        device_id=None,
        detail=text_field(record, "version", what=ZEEK_SSL),
        raw=raw,
    )


NETWORK_PARSERS: Mapping[str, Callable[[Any], NetworkEvent]] = {
    CATO: parse_cato_record,
    ZEEK_DNS: parse_zeek_dns,
    ZEEK_SSL: parse_zeek_ssl,
}


def parse_network_line(source: str, value: Any) -> NetworkEvent:
    """A record of a network source in :data:`NETWORK_PARSERS` (``cato``, ``zeek_dns``, ``zeek_ssl``).

    :param source: the source.
    :param value: the line or object.
    :raises FactError: when the record is malformed.
    :raises ValueError: for an unknown source.
    """
    try:
        parser = NETWORK_PARSERS[source]
    except KeyError:
        raise ValueError(f"no parser for the network source {source!r}") from None
    return parser(value)
