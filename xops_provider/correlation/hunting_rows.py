"""Advanced-hunting rows -> facts, one strict parser per table of :mod:`.kql`.

A row is a ``results`` item of ``runHuntingQuery`` (an object, or the text of one). A row of the
streaming API (``{"category": ..., "properties": {...}}``) is read from its ``properties``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from xops_provider.correlation.facts import (
    Click,
    EmailDelivery,
    EmailUrl,
    Fact,
    FactError,
    NetworkEvent,
    PostDeliveryAction,
    bool_field,
    fact_key,
    ip_field,
    port_field,
    record_of,
    text_field,
    time_field,
)
from xops_provider.correlation.values import InvalidValue, check_message_id
from xops_provider.models.normalize import (
    normalize_address,
    normalize_domain,
    normalize_url,
    url_domain,
)


def _row(value: Any, table: str) -> tuple[Mapping[str, Any], str]:
    row, raw = record_of(value, what=table)
    properties = row.get("properties")
    if isinstance(properties, Mapping) and "Timestamp" not in row:
        row = properties
    return row, raw


def _message_id(row: Mapping[str, Any], *, table: str, required: bool) -> str | None:
    text = text_field(row, "NetworkMessageId", what=table, required=required)
    if text is None:
        return None
    try:
        return check_message_id(text)
    except InvalidValue:
        raise FactError(f"{table}: NetworkMessageId is not a GUID: {text[:60]!r}") from None


def parse_email_event(value: Any) -> EmailDelivery:
    """An ``EmailEvents`` row.

    :param value: the row (object or JSON text).
    :raises FactError: when it lacks its time or message id.
    """
    table = "EmailEvents"
    row, raw = _row(value, table)
    time = time_field(row, "Timestamp", what=table)
    message_id = _message_id(row, table=table, required=True)
    recipient = normalize_address(text_field(row, "RecipientEmailAddress", what=table))
    sender = normalize_address(text_field(row, "SenderFromAddress", what=table))
    domain = normalize_domain(text_field(row, "SenderFromDomain", what=table))
    if domain is None and sender and "@" in sender:
        domain = sender.rpartition("@")[2]
    return EmailDelivery(
        fact_key=fact_key(table, time, message_id, recipient, text_field(row, "ReportId", what=table)),
        source=table,
        time=time,
        message_id=message_id,
        recipient=recipient,
        sender=sender,
        sender_domain=domain,
        sender_ip=ip_field(row, "SenderIPv4", what=table),
        subject=text_field(row, "Subject", what=table),
        delivery_action=text_field(row, "DeliveryAction", what=table),
        delivery_location=text_field(row, "DeliveryLocation", what=table),
        raw=raw,
    )


def parse_email_url(value: Any) -> EmailUrl:
    """An ``EmailUrlInfo`` row.

    :param value: the row (object or JSON text).
    :raises FactError: when it lacks its time, message id or URL.
    """
    table = "EmailUrlInfo"
    row, raw = _row(value, table)
    time = time_field(row, "Timestamp", what=table)
    message_id = _message_id(row, table=table, required=True)
    url = normalize_url(text_field(row, "Url", what=table, required=True))
    return EmailUrl(
        fact_key=fact_key(table, time, message_id, url),
        source=table,
        time=time,
        message_id=message_id,
        url=url,
        # The URL's own host: ``UrlDomain`` can name another host (the fixtures show it).
        domain=url_domain(url) or normalize_domain(text_field(row, "UrlDomain", what=table)),
        raw=raw,
    )


def parse_click(value: Any) -> Click:
    """A ``UrlClickEvents`` row. A click from Teams or Office has no message id.

    :param value: the row (object or JSON text).
    :raises FactError: when it lacks its time, URL or action, or a field has the wrong type.
    """
    table = "UrlClickEvents"
    row, raw = _row(value, table)
    time = time_field(row, "Timestamp", what=table)
    url = normalize_url(text_field(row, "Url", what=table, required=True))
    action = text_field(row, "ActionType", what=table, required=True)
    user = normalize_address(text_field(row, "AccountUpn", what=table))
    message_id = _message_id(row, table=table, required=False)
    return Click(
        fact_key=fact_key(
            table, time, user, url, message_id, action, text_field(row, "ReportId", what=table)
        ),
        source=table,
        time=time,
        user=user,
        url=url,
        domain=url_domain(url),
        action=action,
        clicked_through=bool_field(row, "IsClickedThrough", what=table),
        message_id=message_id,
        ip=ip_field(row, "IPAddress", what=table),
        workload=text_field(row, "Workload", what=table),
        raw=raw,
    )


def parse_post_delivery(value: Any) -> PostDeliveryAction:
    """An ``EmailPostDeliveryEvents`` row.

    :param value: the row (object or JSON text).
    :raises FactError: when it lacks its time, message id, or both ``Action`` and ``ActionType``.
    """
    table = "EmailPostDeliveryEvents"
    row, raw = _row(value, table)
    time = time_field(row, "Timestamp", what=table)
    message_id = _message_id(row, table=table, required=True)
    action = text_field(row, "Action", what=table)
    action_type = text_field(row, "ActionType", what=table)
    if action is None and action_type is None:
        raise FactError(f"{table}: missing Action and ActionType")
    recipient = normalize_address(text_field(row, "RecipientEmailAddress", what=table))
    return PostDeliveryAction(
        fact_key=fact_key(
            table, time, message_id, recipient, action_type, action, text_field(row, "ReportId", what=table)
        ),
        source=table,
        time=time,
        message_id=message_id,
        recipient=recipient,
        action=action,
        action_type=action_type,
        action_trigger=text_field(row, "ActionTrigger", what=table),
        action_result=text_field(row, "ActionResult", what=table),
        delivery_location=text_field(row, "DeliveryLocation", what=table),
        raw=raw,
    )


def parse_device_network_event(value: Any) -> NetworkEvent:
    """A ``DeviceNetworkEvents`` row, as a :class:`NetworkEvent` whose source is the table.

    ``RemoteUrl`` holds a URL or a bare host: the host is the event's domain either way, and the
    text is its URL only when it has a scheme.

    :param value: the row (object or JSON text).
    :raises FactError: when it lacks its time, or both ``RemoteUrl`` and ``RemoteIP``.
    """
    table = "DeviceNetworkEvents"
    row, raw = _row(value, table)
    time = time_field(row, "Timestamp", what=table)
    remote = text_field(row, "RemoteUrl", what=table)
    dest_ip = ip_field(row, "RemoteIP", what=table)
    if remote is None and dest_ip is None:
        raise FactError(f"{table}: missing RemoteUrl and RemoteIP")
    device_id = text_field(row, "DeviceId", what=table)
    dest_port = port_field(row, "RemotePort", what=table)
    user = normalize_address(text_field(row, "InitiatingProcessAccountUpn", what=table))
    action = text_field(row, "ActionType", what=table)
    return NetworkEvent(
        fact_key=fact_key(
            table,
            time,
            device_id,
            dest_ip,
            dest_port,
            remote,
            action,
            text_field(row, "ReportId", what=table),
        ),
        source=table,
        time=time,
        user=user,
        src_ip=ip_field(row, "LocalIP", what=table),
        dest_ip=dest_ip,
        dest_port=dest_port,
        domain=url_domain(remote) if remote else None,
        url=normalize_url(remote) if remote and "://" in remote else None,
        action=action,
        device=normalize_domain(text_field(row, "DeviceName", what=table)),
        device_id=device_id.lower() if device_id else None,
        detail=text_field(row, "InitiatingProcessFileName", what=table),
        raw=raw,
    )


HUNTING_PARSERS: Mapping[str, Callable[[Any], Fact]] = {
    "EmailEvents": parse_email_event,
    "EmailUrlInfo": parse_email_url,
    "EmailPostDeliveryEvents": parse_post_delivery,
    "UrlClickEvents": parse_click,
    "DeviceNetworkEvents": parse_device_network_event,
}


def parse_hunting_row(table: str, value: Any) -> Fact:
    """A row of any table of :data:`HUNTING_PARSERS`.

    :param table: the table the query named.
    :param value: the row.
    :raises FactError: when the row is malformed.
    :raises ValueError: when the table is not one correlation reads.
    """
    try:
        parser = HUNTING_PARSERS[table]
    except KeyError:
        raise ValueError(f"no parser for the hunting table {table!r}") from None
    return parser(value)
