"""Evidence items -> entities: one reader per evidence type, dispatched on its short ``@odata.type``.

Each reader adds to an :class:`~xops_provider.stories.entities.EntityCollector` the entities one
evidence item names, with their roles, verdict and attributes. An item whose identifying value is
empty yields no entity rather than an invalid one; an unknown type becomes an ``other`` entity that
keeps the whole payload.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from xops_provider.models.incident import evidence_kind, normalize_enum
from xops_provider.models.normalize import (
    normalize_address,
    normalize_domain,
    normalize_ip,
    normalize_message_id,
    scalar_text,
    url_domain,
)

if TYPE_CHECKING:
    from xops_provider.stories.entities import EntityCollector


def _stable_hash(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


# Answers kept per text, for short texts only: a hostile payload's long values are not held on to.
_CACHE_SIZE = 256
_CACHED_LENGTH = 200


@lru_cache(maxsize=_CACHE_SIZE)
def _kind_of_type(odata_type: str) -> str:
    return evidence_kind(odata_type)


def kind_of(evidence: Mapping[str, Any]) -> str:
    """An evidence item's short type (:func:`evidence_kind` of its ``@odata.type``).

    A story asks it of every item several times, and a tenant has a handful of types: the answer is
    kept per type.

    :param evidence: the evidence item as received.
    """
    odata_type = evidence.get("@odata.type")
    if type(odata_type) is str and len(odata_type) <= _CACHED_LENGTH:
        return _kind_of_type(odata_type)
    return evidence_kind(odata_type)


@lru_cache(maxsize=_CACHE_SIZE)
def _verdict_of_text(verdict: str) -> str | None:
    return normalize_enum("verdict", verdict)


def verdict_of(evidence: Mapping[str, Any]) -> str | None:
    """An evidence item's verdict as Graph's member (:func:`normalize_enum`), kept per text like
    :func:`kind_of`.

    :param evidence: the evidence item as received.
    """
    verdict = evidence.get("verdict")
    if type(verdict) is str and len(verdict) <= _CACHED_LENGTH:
        return _verdict_of_text(verdict)
    return normalize_enum("verdict", verdict)


def _roles(evidence: Mapping[str, Any]) -> list[str]:
    roles = []
    for key in ("roles", "detailedRoles"):
        value = evidence.get(key)
        if isinstance(value, list):
            roles.extend(text for item in value if (text := scalar_text(item)))
    return roles


def _account_value(account: Any) -> str | None:
    if not isinstance(account, Mapping):
        return None
    upn = normalize_address(account.get("userPrincipalName"))
    if upn:
        return upn
    name, domain = scalar_text(account.get("accountName")), scalar_text(account.get("domainName"))
    if name:
        return f"{domain}\\{name}".lower() if domain else name.lower()
    return scalar_text(account.get("azureAdUserId")) or scalar_text(account.get("userSid"))


def _account_attributes(account: Any) -> dict[str, Any]:
    if not isinstance(account, Mapping):
        return {}
    return {
        "account_name": scalar_text(account.get("accountName")),
        "domain_name": scalar_text(account.get("domainName")),
        "display_name": scalar_text(account.get("displayName")),
        "azure_ad_user_id": scalar_text(account.get("azureAdUserId")),
        "user_sid": scalar_text(account.get("userSid")),
    }


def _string_list(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [part for part in value.replace(",", ";").split(";")]
    if not isinstance(value, list):
        return []
    return [text for item in value if (text := scalar_text(item))]


def _url_list(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return []
    urls = []
    for item in value:
        if isinstance(item, Mapping):
            item = item.get("url")
        if text := scalar_text(item):
            urls.append(text)
    return urls


_Handler = Callable[["EntityCollector", Mapping[str, Any], str, list[str], str | None], None]


def _add_url(sink: EntityCollector, url: str, alert_id: str, roles: list[str], verdict: str | None) -> None:
    sink.add("url", url, alert_id=alert_id, roles=roles, verdict=verdict)
    sink.add("domain", url_domain(url), alert_id=alert_id, roles=["url_domain"])


def _analyzed_message(
    sink: EntityCollector, ev: Mapping[str, Any], alert_id: str, roles: list[str], verdict: str | None
) -> None:
    recipient = normalize_address(ev.get("recipientEmailAddress"))
    urls = _url_list(ev.get("urls"))
    senders = []
    for key, role in (("p1Sender", "p1_sender"), ("p2Sender", "p2_sender")):
        sender = ev.get(key)
        if not isinstance(sender, Mapping):
            continue
        address = normalize_address(sender.get("emailAddress"))
        domain = normalize_domain(sender.get("domainName")) or (
            address.rpartition("@")[2] if address and "@" in address else None
        )
        sink.add(
            "sender",
            address,
            alert_id=alert_id,
            roles=[role],
            verdict=verdict,
            attributes={"display_name": scalar_text(sender.get("displayName")), "domain": domain},
        )
        sink.add("domain", domain, alert_id=alert_id, roles=["sender_domain"])
        if address:
            senders.append(address)
    sender_ip = normalize_ip(ev.get("senderIp"))
    message_id = normalize_message_id(ev.get("networkMessageId"))
    attributes = {
        "subject": ev.get("subject") if isinstance(ev.get("subject"), str) else None,
        "internet_message_id": scalar_text(ev.get("internetMessageId")),
        "received_at": scalar_text(ev.get("receivedDateTime")),
        "delivery_action": scalar_text(ev.get("deliveryAction")),
        "delivery_location": scalar_text(ev.get("deliveryLocation")),
        "direction": scalar_text(ev.get("antiSpamDirection")),
        "language": scalar_text(ev.get("language")),
        "threats": _string_list(ev.get("threats")),
        "detection_methods": _string_list(ev.get("threatDetectionMethods")),
        "recipients": [recipient] if recipient else [],
        "senders": senders,
        "sender_ip": sender_ip,
        "urls": urls,
        "url_count": ev.get("urlCount") if isinstance(ev.get("urlCount"), int) else None,
        "attachments_count": (
            ev.get("attachmentsCount") if isinstance(ev.get("attachmentsCount"), int) else None
        ),
        "remediation_status": scalar_text(ev.get("remediationStatus")),
    }
    # Without a networkMessageId the message cannot be joined to hunting data, but it is still
    # evidence: key it on the internet message id, else on its recipient and subject.
    key = message_id or scalar_text(ev.get("internetMessageId"))
    if not key and (recipient or attributes["subject"]):
        key = f"message:{_stable_hash([recipient, attributes['subject'], senders])}"
    sink.add("email", key, alert_id=alert_id, roles=roles, verdict=verdict, attributes=attributes)
    sink.add("mailbox", recipient, alert_id=alert_id, roles=["recipient"])
    # The recipient as a user too, so that facts keyed by user (clicks, network, endpoint) join it.
    sink.add("user", recipient, alert_id=alert_id, roles=["recipient"])
    sink.add("ip", sender_ip, alert_id=alert_id, roles=["sender_ip"])
    for url in urls:
        _add_url(sink, url, alert_id, ["in_email"], None)


def _mailbox(
    sink: EntityCollector, ev: Mapping[str, Any], alert_id: str, roles: list[str], verdict: str | None
) -> None:
    account = ev.get("userAccount")
    address = normalize_address(ev.get("primaryAddress")) or normalize_address(ev.get("upn"))
    sink.add(
        "mailbox",
        address or _account_value(account),
        alert_id=alert_id,
        roles=roles or ["recipient"],
        verdict=verdict,
        attributes={
            "display_name": scalar_text(ev.get("displayName")),
            "upn": normalize_address(ev.get("upn")),
        },
    )
    if "recipient" in (roles or ["recipient"]):
        sink.add(
            "user",
            _account_value(account) or address,
            alert_id=alert_id,
            roles=["recipient"],
            attributes=_account_attributes(account),
        )


def _mail_cluster(
    sink: EntityCollector, ev: Mapping[str, Any], alert_id: str, roles: list[str], verdict: str | None
) -> None:
    cluster_by, cluster_value = scalar_text(ev.get("clusterBy")), scalar_text(ev.get("clusterByValue"))
    if not cluster_value:
        return
    sink.add(
        "other",
        f"mail_cluster:{cluster_by or ''}={cluster_value}",
        alert_id=alert_id,
        roles=roles,
        verdict=verdict,
        attributes={
            "kind": "mailCluster",
            "cluster_by": cluster_by,
            "cluster_by_value": cluster_value,
            "email_count": ev.get("emailCount") if isinstance(ev.get("emailCount"), int) else None,
            "network_message_ids": sorted(
                {v for item in _string_list(ev.get("networkMessageIds")) if (v := normalize_message_id(item))}
            ),
            "query": scalar_text(ev.get("query")),
        },
    )


def _url(
    sink: EntityCollector, ev: Mapping[str, Any], alert_id: str, roles: list[str], verdict: str | None
) -> None:
    url = scalar_text(ev.get("url"))
    if url:
        _add_url(sink, url, alert_id, roles, verdict)


def _user(
    sink: EntityCollector, ev: Mapping[str, Any], alert_id: str, roles: list[str], verdict: str | None
) -> None:
    account = ev.get("userAccount")
    sink.add(
        "user",
        _account_value(account),
        alert_id=alert_id,
        roles=roles,
        verdict=verdict,
        attributes=_account_attributes(account),
    )


def _ip(
    sink: EntityCollector, ev: Mapping[str, Any], alert_id: str, roles: list[str], verdict: str | None
) -> None:
    sink.add(
        "ip",
        normalize_ip(ev.get("ipAddress")),
        alert_id=alert_id,
        roles=roles,
        verdict=verdict,
        attributes={"country": scalar_text(ev.get("countryLetterCode"))},
    )


def _file_value(details: Mapping[str, Any]) -> str | None:
    for key in ("sha256", "sha1", "md5"):
        if digest := scalar_text(details.get(key)):
            return digest.lower()
    return scalar_text(details.get("fileName"))


def _file_attributes(details: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "file_name": scalar_text(details.get("fileName")),
        "file_path": scalar_text(details.get("filePath")),
        "sha1": (scalar_text(details.get("sha1")) or "").lower() or None,
        "sha256": (scalar_text(details.get("sha256")) or "").lower() or None,
        "md5": (scalar_text(details.get("md5")) or "").lower() or None,
        "size": details.get("fileSize") if isinstance(details.get("fileSize"), int) else None,
        "publisher": scalar_text(details.get("filePublisher")),
    }


def _file(
    sink: EntityCollector, ev: Mapping[str, Any], alert_id: str, roles: list[str], verdict: str | None
) -> None:
    details = ev.get("fileDetails")
    if not isinstance(details, Mapping):
        details = ev  # older and shortened payloads put the file facts on the evidence itself
    sink.add(
        "file",
        _file_value(details),
        alert_id=alert_id,
        roles=roles,
        verdict=verdict,
        attributes=_file_attributes(details),
    )


def _device(
    sink: EntityCollector, ev: Mapping[str, Any], alert_id: str, roles: list[str], verdict: str | None
) -> None:
    value = (
        normalize_domain(ev.get("deviceDnsName"))
        or scalar_text(ev.get("mdeDeviceId"))
        or scalar_text(ev.get("azureAdDeviceId"))
    )
    logged_on = ev.get("loggedOnUsers")
    sink.add(
        "device",
        value,
        alert_id=alert_id,
        roles=roles,
        verdict=verdict,
        attributes={
            "mde_device_id": scalar_text(ev.get("mdeDeviceId")),
            "azure_ad_device_id": scalar_text(ev.get("azureAdDeviceId")),
            "os_platform": scalar_text(ev.get("osPlatform")),
            "risk_score": scalar_text(ev.get("riskScore")),
            "ip_interfaces": _string_list(ev.get("ipInterfaces")),
            "logged_on_users": [v for item in logged_on if (v := _account_value(item))]
            if isinstance(logged_on, list)
            else [],
        },
    )


def _process(
    sink: EntityCollector, ev: Mapping[str, Any], alert_id: str, roles: list[str], verdict: str | None
) -> None:
    image = ev.get("imageFile") if isinstance(ev.get("imageFile"), Mapping) else {}
    value = scalar_text(ev.get("processCommandLine")) or scalar_text(image.get("fileName"))
    sink.add(
        "process",
        value,
        alert_id=alert_id,
        roles=roles,
        verdict=verdict,
        attributes={
            "process_id": ev.get("processId") if isinstance(ev.get("processId"), int) else None,
            "image_file_name": scalar_text(image.get("fileName")),
            "image_sha256": (scalar_text(image.get("sha256")) or "").lower() or None,
            "device_id": scalar_text(ev.get("mdeDeviceId")),
            "account": _account_value(ev.get("userAccount")),
        },
    )


def _cloud_app(
    sink: EntityCollector, ev: Mapping[str, Any], alert_id: str, roles: list[str], verdict: str | None
) -> None:
    app_id = ev.get("appId")
    sink.add(
        "cloud_app",
        scalar_text(ev.get("displayName")) or scalar_text(app_id),
        alert_id=alert_id,
        roles=roles,
        verdict=verdict,
        attributes={"app_id": scalar_text(app_id), "instance_name": scalar_text(ev.get("instanceName"))},
    )


def _other(
    sink: EntityCollector, ev: Mapping[str, Any], alert_id: str, roles: list[str], verdict: str | None
) -> None:
    kind = kind_of(ev)
    label = next(
        (
            text
            for key in ("displayName", "name", "urn", "registryKey", "id")
            if (text := scalar_text(ev.get(key)))
        ),
        None,
    )
    sink.add(
        "other",
        f"{kind}:{label or _stable_hash(ev)}",
        alert_id=alert_id,
        roles=roles,
        verdict=verdict,
        attributes={"kind": kind, "odata_type": scalar_text(ev.get("@odata.type")), "payload": dict(ev)},
    )


_HANDLERS: dict[str, _Handler] = {
    "analyzedMessageEvidence": _analyzed_message,
    "mailboxEvidence": _mailbox,
    "mailClusterEvidence": _mail_cluster,
    "urlEvidence": _url,
    "userEvidence": _user,
    "ipEvidence": _ip,
    "fileEvidence": _file,
    "deviceEvidence": _device,
    "processEvidence": _process,
    "cloudApplicationEvidence": _cloud_app,
}


def alert_evidence(raw_alert: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """An alert's evidence items as received; a lone object counts as a list of one.

    :param raw_alert: the alert exactly as received.
    """
    evidence = raw_alert.get("evidence")
    if type(evidence) is list:
        # JSON gives dicts: the exact type answers before the slower Mapping check.
        return [item for item in evidence if type(item) is dict or isinstance(item, Mapping)]
    if isinstance(evidence, Mapping):
        return [evidence]
    if not isinstance(evidence, list):
        return []
    return [item for item in evidence if isinstance(item, Mapping)]


def add_evidence(sink: EntityCollector, evidence: Mapping[str, Any], *, alert_id: str) -> None:
    """Turn one evidence item into the entities it names.

    :param sink: where the entities go.
    :param evidence: the evidence item as received.
    :param alert_id: the alert it belongs to.
    """
    handler = _HANDLERS.get(kind_of(evidence), _other)
    handler(sink, evidence, alert_id, _roles(evidence), verdict_of(evidence))


