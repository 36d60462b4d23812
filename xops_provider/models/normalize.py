"""The one normaliser: entity values as documents, the entity index and correlation compare them.

Identifiers that are case-insensitive (addresses, domains, message ids) are lower-cased, IPs take
their canonical text form, and a URL keeps its path and query but lower-cases its scheme and host.
Every join between a story and a fact (a click, a network event, an endpoint alert) compares values
normalised here, so a join can never miss on case or spelling alone.
"""

from __future__ import annotations

import contextlib
import ipaddress
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from xops_provider.models.incident import blank_to_none

#: The entity index keeps at most this many characters of a value; the document keeps them all.
ENTITY_VALUE_MAX = 1000
# IPs are parsed once per text, for short texts only: a hostile payload's long values are not kept.
_CACHED_IP_LENGTH = 200


def scalar_text(value: Any) -> str | None:
    """A scalar evidence value as stripped text; ``None`` for blanks, objects and lists.

    Raw evidence is read as received, so any field can hold any JSON type.

    :param value: the value as received.
    """
    if type(value) is str:
        # The common case, read without the general path's calls: blank text is missing.
        return value.strip() or None
    value = blank_to_none(value)
    if value is None or isinstance(value, dict | list):
        return None
    return str(value).strip()


def normalize_address(value: Any) -> str | None:
    """An e-mail address or UPN as an entity value: stripped and lower-cased.

    :param value: the address as received.
    """
    text = scalar_text(value)
    return text.lower() if text else None


def normalize_message_id(value: Any) -> str | None:
    """A ``networkMessageId`` (a GUID) as an entity value: stripped and lower-cased, as the hunting
    tables write it.

    :param value: the id as received.
    """
    text = scalar_text(value)
    return text.lower() if text else None


def normalize_domain(value: Any) -> str | None:
    """A DNS name as an entity value: stripped, lower-cased, without the root dot.

    :param value: the name as received.
    """
    text = scalar_text(value)
    text = text.lower().rstrip(".") if text else None
    return text or None


def normalize_ip(value: Any) -> str | None:
    """An IP address in its canonical text form; anything unparsable is kept stripped.

    :param value: the address as received.
    """
    text = scalar_text(value)
    if not text:
        return None
    return _canonical_ip(text) if len(text) <= _CACHED_IP_LENGTH else _parse_ip(text)


def _parse_ip(text: str) -> str:
    try:
        return ipaddress.ip_address(text).compressed
    except ValueError:
        return text


# A story names the same few addresses in many evidence items, and parsing one is slow.
_canonical_ip = lru_cache(maxsize=1024)(_parse_ip)


def url_domain(url: str) -> str | None:
    """The host of a URL, also for the scheme-less URLs evidence sometimes carries.

    :param url: the URL.
    """
    candidate = url if "://" in url else f"http://{url}"
    try:
        host = urlsplit(candidate).hostname
    except ValueError:
        return None
    return normalize_domain(host)


def normalize_url(value: Any) -> str | None:
    """A URL as an entity value: scheme and host lower-cased, path and query kept as they are.

    :param value: the URL as received.
    """
    text = scalar_text(value)
    if not text:
        return None
    text = text.replace("\x00", "")
    with contextlib.suppress(ValueError):
        parts = urlsplit(text)
        text = urlunsplit(
            (parts.scheme.lower(), parts.netloc.lower(), parts.path, parts.query, parts.fragment)
        )
    return text


def normalize_entity_value(kind: str, value: str) -> str:
    """An entity value as the index keys it, so that joins (users, domains, IPs) match.

    Identifiers that are case-insensitive are lower-cased; a URL keeps its path and query as they
    are but lower-cases the scheme and host. Long values are cut: the document keeps the full text.

    :param kind: the entity type.
    :param value: the value as the document has it.
    """
    text = value.replace("\x00", "").strip()
    if kind == "url":
        text = normalize_url(text) or ""
    elif kind not in ("process", "other"):
        text = text.lower()
    return text[:ENTITY_VALUE_MAX]
