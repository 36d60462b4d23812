"""HTML rendering: Jinja2 with autoescape everywhere, and filters that keep attacker text inert.

Attacker-controlled values (subjects, names, URLs, domains) are data: Jinja2 escapes them, URLs,
domains and IPs are shown defanged (``hxxps://evil[.]example``), and no such value is ever put in a
link. The only outside link is the incident in Defender, and only to Microsoft's portals.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from jinja2 import ChainableUndefined, Environment, FileSystemLoader, select_autoescape

#: Hosts of Microsoft's security portals (commercial, GCC High, DoD) that "open in Defender" may link to.
DEFENDER_HOSTS = frozenset(
    {"security.microsoft.com", "security.microsoft.us", "security.apps.mil", "security.microsoft.scloud"}
)
#: Entity types whose values are indicators, shown defanged.
DEFANGED_TYPES = frozenset({"url", "domain", "ip"})


def defang(value: Any) -> str:
    """An indicator made inert for display: ``http`` becomes ``hxxp``, dots in the host ``[.]``.

    :param value: a URL, domain or IP.
    """
    text = "" if value is None else str(value)
    if "://" in text:
        scheme, _, rest = text.partition("://")
        host, sep, tail = rest.partition("/")
        return f"{_defang_scheme(scheme)}://{host.replace('.', '[.]')}{sep}{tail}"
    return text.replace(".", "[.]")


def _defang_scheme(scheme: str) -> str:
    lowered = scheme.lower()
    if lowered in ("http", "https"):
        return "hxxp" + lowered[4:]
    return scheme


def entity_text(entity: Any) -> str:
    """An entity's value for display, defanged when it is an indicator.

    :param entity: a document entity (``{"type", "value", ...}``).
    """
    if not isinstance(entity, dict):
        return str(entity)
    value = entity.get("value")
    return defang(value) if entity.get("type") in DEFANGED_TYPES else str(value)


def defender_link(url: Any) -> str | None:
    """The incident's Defender URL when it is an https link to a Microsoft portal, else ``None``.

    :param url: the story's ``source_url`` (Graph's ``incidentWebUrl``).
    """
    if not isinstance(url, str):
        return None
    text = url.strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme != "https" or (parts.hostname or "") not in DEFENDER_HOSTS or parts.username:
        return None
    return text


def path_segment(value: Any) -> str:
    """A value as one URL path segment (every reserved character encoded).

    :param value: a story or campaign id.
    """
    return quote(str(value), safe="")


def pretty_json(value: Any) -> str:
    """Indented JSON text, for the Raw Data widget (rendered as escaped text, never as HTML).

    :param value: any JSON value.
    """
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)


def short_time(value: Any) -> str:
    """A store timestamp to the second, for tables (``2026-03-02 08:00:00Z``).

    :param value: the seven-digit text.
    """
    if not value:
        return ""
    text = str(value)
    return f"{text[:10]} {text[11:19]}Z" if len(text) >= 19 and text[10] == "T" else text


def query_string(params: dict[str, Any], **changes: Any) -> str:
    """``?key=value...`` of the list's parameters with some changed; empty values are left out.

    :param params: the applied filters.
    :param changes: values to set (``None`` removes one).
    """
    merged = {**params, **changes}
    pairs = [(key, value) for key, value in merged.items() if value not in (None, "", [], False)]
    return "?" + urlencode(pairs, doseq=True) if pairs else "?"


_EVIDENCE_KEYS = (
    "url",
    "recipientEmailAddress",
    "primaryAddress",
    "subject",
    "ipAddress",
    "deviceDnsName",
    "clusterByValue",
)


def evidence_label(item: Any) -> str:
    """A one-line label of an evidence item: its most telling field, URLs and IPs defanged.

    :param item: an item of ``evidence[].items``.
    """
    payload = item.get("payload") if isinstance(item, dict) else None
    if not isinstance(payload, dict):
        return ""
    for key in _EVIDENCE_KEYS:
        value = payload.get(key)
        if isinstance(value, str) and value:
            return defang(value) if key in ("url", "ipAddress") else value
    user = payload.get("userAccount")
    if isinstance(user, dict) and isinstance(user.get("userPrincipalName"), str):
        return user["userPrincipalName"]
    details = payload.get("fileDetails")
    if isinstance(details, dict) and isinstance(details.get("fileName"), str):
        return details["fileName"]
    return ""


def criticality_band(value: Any) -> str:
    """The CSS class of a criticality: ``crit-high`` (8-10), ``crit-medium`` (5-7), ``crit-low``.

    :param value: the criticality.
    """
    level = value if isinstance(value, int) else 0
    return "crit-high" if level >= 8 else "crit-medium" if level >= 5 else "crit-low"


def make_environment(templates: Path) -> Environment:
    """The Workbench's Jinja2 environment: autoescape for every template and string.

    :param templates: the templates folder.
    """
    environment = Environment(
        loader=FileSystemLoader(templates),
        autoescape=select_autoescape(default=True, default_for_string=True),
        # Documents are data from outside: a missing key renders as nothing, never as an error.
        undefined=ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        defang=defang,
        entity_text=entity_text,
        defender_link=defender_link,
        segment=path_segment,
        pretty_json=pretty_json,
        short_time=short_time,
        evidence_label=evidence_label,
        band=criticality_band,
    )
    environment.globals.update(query_string=query_string)
    return environment
