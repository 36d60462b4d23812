"""The facts correlation matches to stories, and the helpers their parsers share.

A fact is a frozen record read from one source row: a hunting row, an alert, a network event. Each
keeps the text of the record as received (``raw``, for the Raw Data widget) and a natural key
(``fact_key``: the sha256 of its source and identifying fields, normalised) so that fetching the same
record again writes nothing new. Every value is normalised by :mod:`xops_provider.models.normalize`,
so a join never misses on case or spelling alone. Parsers raise :class:`FactError` with a reason on
malformed input; the caller quarantines that record and goes on with the batch.

The parsers live beside this module: :mod:`.hunting_rows`, :mod:`.network_feeds` and
:mod:`.endpoint_alerts`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from xops_provider.correlation.values import InvalidValue, check_ip
from xops_provider.models.normalize import scalar_text
from xops_provider.models.timestamps import TICKS_PER_SECOND, GraphTime, InvalidTimestamp

# 9999-12-31T23:59:59Z: later instants have no ISO 8601 text.
_LAST_SECOND = 253_402_300_799
_DUMPS = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_KEY_TEXT = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode


class FactError(ValueError):
    """A record that cannot be read as a fact.

    :param reason: what is wrong, for the quarantine.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class EmailDelivery:
    """An ``EmailEvents`` row: one message delivered (or not) to one recipient."""

    fact_key: str
    source: str
    time: GraphTime
    message_id: str
    recipient: str | None
    sender: str | None
    sender_domain: str | None
    sender_ip: str | None
    subject: str | None
    delivery_action: str | None
    delivery_location: str | None
    raw: str


@dataclass(frozen=True, slots=True)
class EmailUrl:
    """An ``EmailUrlInfo`` row: a URL found in a message."""

    fact_key: str
    source: str
    time: GraphTime
    message_id: str
    url: str
    domain: str | None
    raw: str


@dataclass(frozen=True, slots=True)
class Click:
    """A ``UrlClickEvents`` row: a Safe Links click."""

    fact_key: str
    source: str
    time: GraphTime
    user: str | None
    url: str
    domain: str | None
    action: str
    clicked_through: bool | None
    message_id: str | None
    ip: str | None
    workload: str | None
    raw: str


@dataclass(frozen=True, slots=True)
class PostDeliveryAction:
    """An ``EmailPostDeliveryEvents`` row: ZAP, a manual remediation, a move after delivery."""

    fact_key: str
    source: str
    time: GraphTime
    message_id: str
    recipient: str | None
    action: str | None
    action_type: str | None
    action_trigger: str | None
    action_result: str | None
    delivery_location: str | None
    raw: str


@dataclass(frozen=True, slots=True)
class NetworkEvent:
    """A connection, DNS lookup or web request, from any network source.

    ``source`` names it: ``DeviceNetworkEvents``, ``cato``, ``zeek_dns`` or ``zeek_ssl``.
    ``detail`` is a short description in the source's terms (event type, process, query type).
    """

    fact_key: str
    source: str
    time: GraphTime
    user: str | None
    src_ip: str | None
    dest_ip: str | None
    dest_port: int | None
    domain: str | None
    url: str | None
    action: str | None
    device: str | None
    device_id: str | None
    detail: str | None
    raw: str


@dataclass(frozen=True, slots=True)
class EndpointDetection:
    """An alert of Defender for Endpoint, Identity or Cloud Apps (alerts_v2), with what it concerns.

    ``time`` is when the activity began (``firstActivityDateTime``), else when it was raised.
    ``users`` are UPNs, or ``domain\\account`` for accounts without one.
    """

    fact_key: str
    source: str
    alert_id: str
    incident_id: str | None
    time: GraphTime
    title: str | None
    severity: str | None
    users: tuple[str, ...]
    devices: tuple[str, ...]
    device_ids: tuple[str, ...]
    ips: tuple[str, ...]
    raw: str


Fact = EmailDelivery | EmailUrl | Click | PostDeliveryAction | NetworkEvent | EndpointDetection


def fact_key(source: str, *fields: Any) -> str:
    """The natural key of a fact: sha256 of its source and identifying fields, as canonical JSON.

    :param source: the source name.
    :param fields: the identifying fields, normalised (times as :class:`GraphTime`).
    """
    plain = [f.isoformat() if isinstance(f, GraphTime) else f for f in fields]
    return hashlib.sha256(_KEY_TEXT([source, *plain]).encode()).hexdigest()


def record_of(value: Any, *, what: str) -> tuple[Mapping[str, Any], str]:
    """A record and its text as received: a JSON line is decoded, an object is encoded.

    :param value: a JSON object, or the text of one.
    :param what: the kind of record, for the error.
    :raises FactError: when it is not a JSON object.
    """
    if isinstance(value, bytes | bytearray):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError as err:
            raise FactError(f"{what}: not UTF-8 text ({err.reason})") from None
    if isinstance(value, str):
        text = value.rstrip("\r\n")
        try:
            record = json.loads(text)
        except json.JSONDecodeError as err:
            raise FactError(f"{what}: invalid JSON ({err.msg} at character {err.pos})") from None
        if not isinstance(record, dict):
            raise FactError(f"{what}: not a JSON object (got {type(record).__name__})")
        return record, text
    if not isinstance(value, Mapping):
        raise FactError(f"{what}: not a JSON object (got {type(value).__name__})")
    try:
        return value, _DUMPS(value)
    except (TypeError, ValueError) as err:
        raise FactError(f"{what}: not plain JSON ({err})") from None


def text_field(record: Mapping[str, Any], name: str, *, what: str, required: bool = False) -> str | None:
    """A text field, stripped; blank is missing. Numbers are read as their text.

    :param record: the record.
    :param name: the field.
    :param what: the kind of record, for the error.
    :param required: whether a missing value is an error.
    :raises FactError: for an object or list, or a missing required value.
    """
    value = record.get(name)
    if isinstance(value, dict | list):
        raise FactError(f"{what}: {name} is not text (got {type(value).__name__})")
    if isinstance(value, bool):
        value = str(value).lower()
    text = scalar_text(value)
    if text is None and required:
        raise FactError(f"{what}: missing {name}")
    return text


def time_field(record: Mapping[str, Any], name: str, *, what: str) -> GraphTime:
    """A required ISO 8601 time.

    :param record: the record.
    :param name: the field.
    :param what: the kind of record, for the error.
    :raises FactError: when missing or not ISO 8601.
    """
    value = text_field(record, name, what=what, required=True)
    try:
        return GraphTime.parse(value)
    except (InvalidTimestamp, OverflowError):
        raise FactError(f"{what}: {name} is not an ISO 8601 time: {value[:40]!r}") from None


def epoch_time(value: Any, *, scale: int, what: str, name: str) -> GraphTime:
    """An instant given as a count of seconds (``scale`` 1) or milliseconds (1000) since the epoch.

    Read through :class:`~decimal.Decimal` so that no fractional digit is lost to binary floats.

    :param value: a number, or its text.
    :param scale: units per second.
    :param what: the kind of record, for the error.
    :param name: the field, for the error.
    :raises FactError: when it is not a finite number.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise FactError(f"{what}: {name} is not an epoch time")
    # repr() of a float is its shortest exact text; Decimal(float) would expand the binary error.
    text = value.strip() if isinstance(value, str) else repr(value)
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise FactError(f"{what}: {name} is not an epoch time: {str(value)[:40]!r}") from None
    if not number.is_finite() or number < 0 or number / scale > _LAST_SECOND:
        raise FactError(f"{what}: {name} is not an epoch time: {str(value)[:40]!r}")
    return GraphTime(int(number * TICKS_PER_SECOND / scale))


def bool_field(record: Mapping[str, Any], name: str, *, what: str) -> bool | None:
    """An optional boolean: ``true``/``false`` or their text.

    :param record: the record.
    :param name: the field.
    :param what: the kind of record, for the error.
    :raises FactError: for any other value.
    """
    value = record.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise FactError(f"{what}: {name} is not a boolean: {str(value)[:40]!r}")


def port_field(record: Mapping[str, Any], name: str, *, what: str) -> int | None:
    """An optional TCP/UDP port: an integer from 0 to 65535, or its text.

    :param record: the record.
    :param name: the field.
    :param what: the kind of record, for the error.
    :raises FactError: for anything else.
    """
    value = record.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise FactError(f"{what}: {name} is not a port: {str(value)[:40]!r}")
    return value


def ip_field(record: Mapping[str, Any], name: str, *, what: str) -> str | None:
    """An optional IP address in its canonical form.

    :param record: the record.
    :param name: the field.
    :param what: the kind of record, for the error.
    :raises FactError: when present but not an IP address.
    """
    text = text_field(record, name, what=what)
    if text is None:
        return None
    try:
        return check_ip(text)
    except InvalidValue:
        raise FactError(f"{what}: {name} is not an IP address: {text[:60]!r}") from None
