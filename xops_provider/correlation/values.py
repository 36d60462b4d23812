"""Strict checks for the values that may enter a hunting query, and for indicators.

A value reaches KQL only when it passes the check of its kind here; anything else is dropped and
reported by :mod:`~xops_provider.correlation.kql`. The checks are deliberately narrower than the
RFCs: an odd but legal value (a quoted local part, a URL with a raw ``|``) is rejected rather than
risked, because a dropped value costs one missed join while an injected one costs the query.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from xops_provider.models.normalize import (
    normalize_address,
    normalize_domain,
    normalize_ip,
    normalize_message_id,
    normalize_url,
    url_domain,
)

#: The kinds of value a hunting query can be built from.
VALUE_KINDS = ("message_id", "email", "url", "domain", "ip")
MAX_URL_LENGTH = 2048
MAX_HOSTNAME_LENGTH = 253

_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII)
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?", re.ASCII)
_LOCAL_PART = re.compile(r"[a-z0-9._%+'=-]{1,64}", re.ASCII)
# RFC 3986's unreserved and reserved characters and ``%``: no quote, backslash, space, pipe or control.
_URL_TEXT = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+", re.ASCII)
_URL_SCHEMES = ("http://", "https://")


class InvalidValue(ValueError):
    """A value that fails its kind's check; ``str()`` says why."""


def _hostname(text: str) -> str:
    try:
        # Internationalised names are compared in their ASCII (punycode) form.
        ascii_name = text.encode("idna").decode("ascii") if not text.isascii() else text
    except UnicodeError as err:
        raise InvalidValue("not a valid internationalised host name") from err
    if len(ascii_name) > MAX_HOSTNAME_LENGTH:
        raise InvalidValue("host name longer than 253 characters")
    if not all(_LABEL.fullmatch(label) for label in ascii_name.split(".")):
        raise InvalidValue("not a host name")
    return ascii_name


def check_message_id(value: object) -> str:
    """A ``NetworkMessageId``: a GUID, lower-cased.

    :param value: the id as found.
    :raises InvalidValue: when it is not a GUID.
    """
    text = normalize_message_id(value) if isinstance(value, str) else None
    if not text or not _GUID.fullmatch(text):
        raise InvalidValue("not a GUID")
    return text


def check_email(value: object) -> str:
    """An e-mail address or UPN: a plain local part and a host name, lower-cased.

    :param value: the address as found.
    :raises InvalidValue: when it is not such an address.
    """
    text = normalize_address(value) if isinstance(value, str) else None
    if not text or text.count("@") != 1:
        raise InvalidValue("not an e-mail address")
    local, _, host = text.partition("@")
    if not _LOCAL_PART.fullmatch(local) or "." not in host:
        raise InvalidValue("not an e-mail address")
    return f"{local}@{_hostname(host)}"


def check_domain(value: object) -> str:
    """A DNS name with at least two labels, lower-cased, in its ASCII form.

    :param value: the name as found.
    :raises InvalidValue: when it is not a host name.
    """
    text = normalize_domain(value) if isinstance(value, str) else None
    if not text or "." not in text:
        raise InvalidValue("not a domain name")
    return _hostname(text)


def check_ip(value: object) -> str:
    """An IPv4 or IPv6 address in its canonical text form.

    :param value: the address as found.
    :raises InvalidValue: when it does not parse.
    """
    text = normalize_ip(value) if isinstance(value, str) else None
    try:
        return ipaddress.ip_address(text or "").compressed
    except ValueError as err:
        raise InvalidValue("not an IP address") from err


def check_url(value: object) -> str:
    """An absolute ``http``/``https`` URL of printable RFC 3986 characters with a valid host.

    :param value: the URL as found.
    :raises InvalidValue: when it is not such a URL.
    """
    text = normalize_url(value) if isinstance(value, str) else None
    if not text or len(text) > MAX_URL_LENGTH:
        raise InvalidValue("not a URL of at most 2048 characters")
    if not text.startswith(_URL_SCHEMES) or not _URL_TEXT.fullmatch(text):
        raise InvalidValue("not an http(s) URL of printable characters")
    host = url_domain(text)
    if not host:
        raise InvalidValue("URL without a host")
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        _hostname(host)
    return text


_CHECKS = {
    "message_id": check_message_id,
    "email": check_email,
    "url": check_url,
    "domain": check_domain,
    "ip": check_ip,
}


def check_value(kind: str, value: object) -> str:
    """The value of a kind in :data:`VALUE_KINDS`, checked and normalised.

    :param kind: the kind.
    :param value: the value as found.
    :raises InvalidValue: when it fails the check.
    """
    try:
        check = _CHECKS[kind]
    except KeyError:
        raise ValueError(f"unknown value kind {kind!r}") from None
    return check(value)


#: Private and shared address space: RFC 1918, carrier-grade NAT, IPv6 unique-local.
INTERNAL_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)


def is_routable_ip(value: str) -> bool:
    """Whether an address can name a host on the internet: not private or shared (NAT) space,
    loopback, link-local, multicast, unspecified or reserved.

    Internal addresses are the tenant's own hosts and relays: as indicators they would join every
    story that passed through them. The documentation ranges (RFC 5737, RFC 3849) count as internet
    hosts, so that test worlds built on them behave like real ones.

    :param value: a canonical IP address.
    """
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    if address.is_loopback or address.is_link_local or address.is_multicast or address.is_unspecified:
        return False
    if address.is_reserved:
        return False
    return not any(address in network for network in INTERNAL_NETWORKS if network.version == address.version)


def checked(kind: str, values: Iterable[object]) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """The values that pass, sorted and unique, and the ``(value, reason)`` of those that fail.

    :param kind: a kind in :data:`VALUE_KINDS`.
    :param values: the values as found.
    """
    accepted: set[str] = set()
    rejected: dict[str, str] = {}
    for value in values:
        try:
            accepted.add(check_value(kind, value))
        except InvalidValue as err:
            rejected[repr(value)[:200]] = str(err)
    return tuple(sorted(accepted)), tuple(sorted(rejected.items()))
