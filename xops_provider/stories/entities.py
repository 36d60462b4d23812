"""Evidence -> typed story entities, with roles and verdicts merged across alerts.

Each evidence item is read by its type's reader (:mod:`xops_provider.stories.evidence`). Values are
normalised (:mod:`xops_provider.models.normalize`) before de-duplication here, in
:class:`EntityCollector`.

A message's recipient is a ``mailbox`` entity with the role ``recipient`` (the address the mail was
sent to) and a ``user`` entity with the same role: the mailbox's ``userAccount`` when the evidence
names one, else the address. Facts keyed by user (clicks, network events, endpoint alerts) join
stories through it; identity evidence (``userEvidence``) adds users of its own.

An entity is ``{"type", "value", "roles", "verdict", "attributes", "alert_ids"}``. Merging is
order-independent: roles and list attributes are sorted unions, the verdict is the most severe
one reported, and a scalar attribute keeps the first value met in the story's alert order
(alerts sorted by raise time and id, evidence in Microsoft's order).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from json.encoder import encode_basestring_ascii
from typing import Any

from xops_provider.stories.evidence import add_evidence, alert_evidence
from xops_provider.stories.versions import StoryAlert

ENTITY_TYPES = (
    "user",
    "mailbox",
    "email",
    "sender",
    "url",
    "domain",
    "ip",
    "file",
    "device",
    "process",
    "cloud_app",
    "other",
)
_TYPE_ORDER = {name: index for index, name in enumerate(ENTITY_TYPES)}
# A definite answer beats "unknown"; a threat beats a definite clean answer.
_VERDICT_RANK = {
    None: 0,
    "unknown": 1,
    "unknownFutureValue": 1,
    "noThreatsFound": 2,
    "suspicious": 3,
    "malicious": 4,
}


class _ListUnion(dict):
    """A list attribute being merged: canonical JSON of each item -> the item."""


def _item_key(item: Any) -> str:
    # What ``json.dumps`` writes for the item; a string (nearly every item) is written directly.
    if type(item) is str:
        return encode_basestring_ascii(item)
    return json.dumps(item, sort_keys=True, default=str)


class EntityCollector:
    """Accumulates entities from evidence, de-duplicated on ``(type, normalised value)``."""

    def __init__(self) -> None:
        self._entities: dict[tuple[str, str], dict[str, Any]] = {}

    def add(
        self,
        entity_type: str,
        value: str | None,
        *,
        alert_id: str,
        roles: Iterable[str] = (),
        verdict: str | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> None:
        """Record one sighting of an entity; an empty value is skipped.

        :param entity_type: one of :data:`ENTITY_TYPES`.
        :param value: the normalised identifying value.
        :param alert_id: the alert whose evidence names it.
        :param roles: roles it plays in that evidence.
        :param verdict: Defender's verdict on it, when given.
        :param attributes: facts about it; ``None`` values are dropped.
        """
        if not value:
            return
        entity = self._entities.get((entity_type, value))
        if entity is None:
            entity = self._entities[(entity_type, value)] = {
                "type": entity_type,
                "value": value,
                "roles": set(),
                "verdict": None,
                "attributes": {},
                "alert_ids": set(),
            }
        entity["roles"].update(role for role in roles if role)
        entity["alert_ids"].add(alert_id)
        # No verdict ranks lowest, so it never replaces one.
        if verdict is not None and _VERDICT_RANK.get(verdict, 1) > _VERDICT_RANK.get(entity["verdict"], 1):
            entity["verdict"] = verdict
        if not attributes:
            return
        merged = entity["attributes"]
        for key, new in attributes.items():
            if type(new) is str:
                # Most attributes are text: the general test below, without its comparisons.
                if new and key not in merged:
                    merged[key] = new
                continue
            if new is None or new == [] or new == "":
                continue
            if isinstance(new, list):
                # Kept as a keyed set while collecting, so a mail to thousands of recipients stays linear.
                union = merged.setdefault(key, _ListUnion())
                for item in new:
                    union[_item_key(item)] = item
            elif key not in merged:
                merged[key] = new

    def entities(self) -> list[dict[str, Any]]:
        """The merged entities, ordered by type then value."""
        result = []
        for (entity_type, value), entity in sorted(
            self._entities.items(), key=lambda item: (_TYPE_ORDER[item[0][0]], item[0][1])
        ):
            result.append(
                {
                    "type": entity_type,
                    "value": value,
                    "roles": sorted(entity["roles"]),
                    "verdict": entity["verdict"],
                    "attributes": {
                        key: [value[k] for k in sorted(value)] if isinstance(value, _ListUnion) else value
                        for key, value in entity["attributes"].items()
                    },
                    "alert_ids": sorted(entity["alert_ids"]),
                }
            )
        return result


def extract_entities(alerts: Iterable[StoryAlert]) -> list[dict[str, Any]]:
    """The story's entities from every alert's evidence, de-duplicated across alerts.

    :param alerts: the story's alerts, in story order.
    """
    sink = EntityCollector()
    for story_alert in alerts:
        for evidence in alert_evidence(story_alert.raw):
            add_evidence(sink, evidence, alert_id=story_alert.alert_id)
    return sink.entities()
