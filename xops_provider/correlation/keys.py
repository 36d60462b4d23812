"""What a story can be joined on: :class:`StoryKeys`, read from its document.

The keys are normalised values (:mod:`xops_provider.models.normalize`) and leave out what would join
unrelated stories or facts, so that every rule downstream can trust them:

- a **sender domain** that is a free-mail or platform domain (:data:`COMMON_DOMAINS`), or the
  domain of one of the story's own recipients (internal mail), is not an indicator; the sender's
  address still is;
- a **URL** on a common domain (``aka.ms`` in Microsoft's safety tips, ``www.w3.org`` in HTML) is
  neither a URL nor a domain indicator, and nor is any host under :data:`COMMON_DOMAIN_SUFFIXES`
  (Safe Links wrappers);
- an **IP** that is not routable names the tenant's own hosts and is dropped; a **sender IP** in
  :data:`SHARED_MAIL_NETWORKS` is a mail service's outbound relay that every customer of the
  service shares, and is dropped as an indicator too. Destination IPs (``ips``) are the story's IPs
  other than its sender IPs: a recipient's mail client talks to the sender's relay network anyway.

Recipients come from the ``mailbox`` entities with the role ``recipient``, the ``email`` entities'
recipient lists and ``user`` entities with the role ``recipient``; ``EmailEvents`` rows of the
story's own messages add the recipients, senders and URLs Defender's evidence left out.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from xops_provider.correlation.facts import EmailDelivery, EmailUrl
from xops_provider.correlation.values import InvalidValue, check_domain, check_message_id, is_routable_ip
from xops_provider.models.normalize import (
    normalize_address,
    normalize_domain,
    normalize_ip,
    normalize_url,
    url_domain,
)
from xops_provider.models.timestamps import GraphTime, InvalidTimestamp

#: Free-mail providers and platforms whose domains appear in unrelated mail.
COMMON_DOMAINS = frozenset(
    {
        # free mail
        "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com",
        "yahoo.com", "ymail.com", "aol.com", "icloud.com", "me.com", "mail.com", "gmx.com",
        "gmx.de", "gmx.net", "web.de", "proton.me", "protonmail.com", "yandex.ru", "yandex.com",
        "mail.ru", "qq.com", "163.com", "126.com", "zoho.com",
        # boilerplate links: safety tips, XML namespaces, vendor footers
        "aka.ms", "microsoft.com", "www.microsoft.com", "go.microsoft.com", "schemas.microsoft.com",
        "office.com", "www.office.com", "w3.org", "www.w3.org", "google.com", "www.google.com",
    }
)  # fmt: skip
#: Hosts under these are infrastructure (Safe Links rewrites every link through them).
COMMON_DOMAIN_SUFFIXES = ("safelinks.protection.outlook.com", "protection.outlook.com")
#: Outbound relays of Exchange Online and Gmail: shared by every sender on the service.
SHARED_MAIL_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in ("40.92.0.0/15", "40.107.0.0/16", "52.100.0.0/14", "104.47.0.0/17", "209.85.128.0/17")
)


@dataclass(frozen=True, slots=True)
class KeyPolicy:
    """What :func:`story_keys` leaves out (the module docstring says why).

    :param common_domains: domains that are never indicators.
    :param common_suffixes: hosts under these are never indicators.
    :param shared_mail_networks: sender IPs in these are never indicators.
    """

    common_domains: frozenset[str] = COMMON_DOMAINS
    common_suffixes: tuple[str, ...] = COMMON_DOMAIN_SUFFIXES
    shared_mail_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = SHARED_MAIL_NETWORKS

    def is_common_domain(self, domain: str) -> bool:
        """Whether a domain is common (listed, or under a listed suffix).

        :param domain: a normalised domain.
        """
        return domain in self.common_domains or any(
            domain == suffix or domain.endswith("." + suffix) for suffix in self.common_suffixes
        )

    def is_shared_relay(self, ip: str) -> bool:
        """Whether an IP belongs to a shared mail service's outbound network.

        :param ip: a canonical IP.
        """
        address = ipaddress.ip_address(ip)
        return any(address in network for network in self.shared_mail_networks)


@dataclass(frozen=True, slots=True)
class StoryKeys:
    """The normalised values a story is joined on. See the module docstring for what is left out.

    :param story_id: the story.
    :param tenant_id: its tenant; nothing joins across tenants.
    :param recipients: recipients' addresses (the story's users).
    :param senders: the From (P2) addresses, else the envelope (P1) ones.
    :param sender_domains: the senders' domains.
    :param urls: URLs in the mail or its evidence.
    :param url_domains: those URLs' hosts.
    :param ips: destination IPs: the story's routable IPs other than its sender IPs.
    :param sender_ips: routable sender IPs outside shared mail networks.
    :param message_ids: ``NetworkMessageId`` GUIDs of the story's messages.
    :param mail_clusters: Defender's mail cluster identities (``clusterBy=value``).
    :param attachment_hashes: file hashes (sha256, else sha1, else md5).
    :param devices: recipients' devices named in the story (DNS names and MDE device ids).
    :param received_at: the earliest receipt of the story's mail (else its first signal).
    :param merged_into: the survivor's story id when Defender merged this incident into another;
        such a story relates to nothing itself (its survivor holds its alerts) and shares its
        survivor's campaign.
    """

    story_id: str
    tenant_id: str
    recipients: frozenset[str] = frozenset()
    senders: frozenset[str] = frozenset()
    sender_domains: frozenset[str] = frozenset()
    urls: frozenset[str] = frozenset()
    url_domains: frozenset[str] = frozenset()
    ips: frozenset[str] = frozenset()
    sender_ips: frozenset[str] = frozenset()
    message_ids: frozenset[str] = frozenset()
    mail_clusters: frozenset[str] = frozenset()
    attachment_hashes: frozenset[str] = frozenset()
    devices: frozenset[str] = frozenset()
    received_at: GraphTime | None = field(default=None)
    merged_into: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The keys as plain JSON: sorted lists, the time in Graph's canonical form."""
        plain: dict[str, Any] = {"story_id": self.story_id, "tenant_id": self.tenant_id}
        for name in _SET_FIELDS:
            plain[name] = sorted(getattr(self, name))
        plain["received_at"] = self.received_at.isoformat() if self.received_at else None
        plain["merged_into"] = self.merged_into
        return plain


_SET_FIELDS = (
    "recipients", "senders", "sender_domains", "urls", "url_domains", "ips", "sender_ips",
    "message_ids", "mail_clusters", "attachment_hashes", "devices",
)  # fmt: skip


def _time(value: Any) -> GraphTime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return GraphTime.parse(value)
    except (InvalidTimestamp, OverflowError):
        return None


def _guid(value: Any) -> str | None:
    try:
        return check_message_id(value)
    except InvalidValue:
        return None


class _Collector:
    def __init__(self, policy: KeyPolicy) -> None:
        self.policy = policy
        self.sets: dict[str, set[str]] = {name: set() for name in _SET_FIELDS}
        self.all_ips: set[str] = set()
        self.times: list[GraphTime] = []

    def url(self, value: Any) -> None:
        url = normalize_url(value)
        host = url_domain(url) if url else None
        if not url or not host:
            return
        try:
            ip = ipaddress.ip_address(host).compressed
        except ValueError:
            ip = None
        if ip:
            self.all_ips.add(ip)  # a link to a bare IP makes the IP a destination
            self.sets["urls"].add(url)
            return
        try:
            host = check_domain(host)  # the ASCII (punycode) form DNS, SNI and proxies write
        except InvalidValue:
            return  # not a URL (no host name): nothing to join on
        if not self.policy.is_common_domain(host):
            self.sets["urls"].add(url)
            self.sets["url_domains"].add(host)

    def sender(self, address: Any, domain: Any = None) -> None:
        if sender := normalize_address(address):
            self.sets["senders"].add(sender)
            domain = domain or (sender.rpartition("@")[2] if "@" in sender else None)
        if domain := normalize_domain(domain):
            self.sets["sender_domains"].add(domain)

    def sender_ip(self, value: Any) -> None:
        if ip := normalize_ip(value):
            self.sets["sender_ips"].add(ip)

    def finish(
        self, *, story_id: str, tenant_id: str, fallback_time: GraphTime | None, merged_into: str | None
    ) -> StoryKeys:
        sets = self.sets
        own_domains = {r.rpartition("@")[2] for r in sets["recipients"] if "@" in r}
        sets["sender_domains"] = {
            d for d in sets["sender_domains"] if d not in own_domains and not self.policy.is_common_domain(d)
        }
        senders = set(sets["sender_ips"])
        sets["ips"] = {ip for ip in self.all_ips - senders if is_routable_ip(ip)}
        sets["sender_ips"] = {
            ip for ip in senders if is_routable_ip(ip) and not self.policy.is_shared_relay(ip)
        }
        return StoryKeys(
            story_id=story_id,
            tenant_id=tenant_id,
            received_at=min(self.times) if self.times else fallback_time,
            merged_into=merged_into,
            **{name: frozenset(values) for name, values in sets.items()},
        )


def _read_entity(sink: _Collector, entity: Mapping[str, Any], p2_senders: bool) -> None:
    kind, value, roles = entity.get("type"), entity.get("value"), entity.get("roles") or []
    attributes = entity.get("attributes") if isinstance(entity.get("attributes"), Mapping) else {}
    sets = sink.sets
    if kind in ("mailbox", "user") and "recipient" in roles:
        if address := normalize_address(value):
            sets["recipients"].add(address)
    elif kind == "email":
        recipients = attributes.get("recipients") or []
        sets["recipients"].update(r for item in recipients if (r := normalize_address(item)))
        if message_id := _guid(value):
            sets["message_ids"].add(message_id)
        if received := _time(attributes.get("received_at")):
            sink.times.append(received)
        sink.sender_ip(attributes.get("sender_ip"))
        for url in attributes.get("urls") or []:
            sink.url(url)
    elif kind == "sender" and (not p2_senders or "p2_sender" in roles):
        sink.sender(value, attributes.get("domain"))
    elif kind == "url":
        sink.url(value)
    elif kind == "ip":
        if "sender_ip" in roles:
            sink.sender_ip(value)
        elif ip := normalize_ip(value):
            sink.all_ips.add(ip)
    elif kind == "file":
        digest = attributes.get("sha256") or attributes.get("sha1") or attributes.get("md5")
        if isinstance(digest, str) and digest.strip():
            sets["attachment_hashes"].add(digest.strip().lower())
    elif kind == "device":
        if name := normalize_domain(value):
            sets["devices"].add(name)
        if isinstance(device_id := attributes.get("mde_device_id"), str) and device_id.strip():
            sets["devices"].add(device_id.strip().lower())
    elif kind == "other" and attributes.get("kind") == "mailCluster" and isinstance(value, str):
        sets["mail_clusters"].add(value.strip())


def story_keys(
    story: Mapping[str, Any],
    *,
    emails: Iterable[EmailDelivery] = (),
    email_urls: Iterable[EmailUrl] = (),
    policy: KeyPolicy = KeyPolicy(),
) -> StoryKeys:
    """The keys of a story document, completed by hunting rows of its own messages.

    :param story: the story document (``story.schema.json``).
    :param emails: ``EmailEvents`` facts; those of the story's messages add recipients, senders,
        sender IPs and receipt times.
    :param email_urls: ``EmailUrlInfo`` facts; those of the story's messages add URLs.
    :param policy: what to leave out.
    """
    sink = _Collector(policy)
    entities = [e for e in story.get("entities") or [] if isinstance(e, Mapping)]
    p2_senders = any(e.get("type") == "sender" and "p2_sender" in (e.get("roles") or []) for e in entities)
    for entity in entities:
        _read_entity(sink, entity, p2_senders)
    # Only rows of the story's own messages: a cluster's other messages belong to other stories.
    own = frozenset(sink.sets["message_ids"])
    for email in emails:
        if email.message_id in own:
            if email.recipient:
                sink.sets["recipients"].add(email.recipient)
            sink.sender(email.sender, email.sender_domain)
            sink.sender_ip(email.sender_ip)
            sink.times.append(email.time)
    for item in email_urls:
        if item.message_id in own:
            sink.url(item.url)
    received = [
        t
        for entry in story.get("timeline") or []
        if isinstance(entry, Mapping)
        and entry.get("kind") == "email_received"
        and (t := _time(entry.get("time")))
    ]
    return sink.finish(
        story_id=str(story["story_id"]),
        tenant_id=str(story.get("tenant_id") or ""),
        fallback_time=min(received) if received else _time(story.get("first_signal")),
        merged_into=story.get("merged_into") if isinstance(story.get("merged_into"), str) else None,
    )
