"""An in-memory StoryRepository that behaves like the store: dedup on (tenant, incident, lastUpdate)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

from xops_provider.models.incident import Incident
from xops_provider.models.timestamps import GraphTime
from xops_provider.stories.ports import IncidentHead, IncidentVersion, StoryFailure


class InMemoryStoryRepository:
    """The store's contract over dicts.

    :param validate: called with every saved story document (schema validation in tests).
    """

    def __init__(self, *, validate: Callable[[dict[str, Any]], None] | None = None) -> None:
        self._validate = validate
        self._versions: dict[tuple[str, str], dict[int, IncidentVersion]] = {}
        self._next_id = 1
        self.produced: set[int] = set()
        self.stories: dict[str, dict[str, Any]] = {}
        self.save_calls = 0
        self.quarantined: list[StoryFailure] = []

    def ingest(self, payload: dict[str, Any], *, tenant_id: str, received_at: str) -> IncidentVersion | None:
        """Store a raw version unless the same ``lastUpdateDateTime`` is already stored."""
        incident = Incident.model_validate(payload)
        versions = self._versions.setdefault((tenant_id, incident.id), {})
        if incident.last_update.ticks in versions:
            return None
        version = IncidentVersion(
            version_id=self._next_id,
            tenant_id=tenant_id,
            incident_id=incident.id,
            last_update=incident.last_update,
            received_at=received_at,
            payload=copy.deepcopy(payload),
        )
        self._next_id += 1
        versions[incident.last_update.ticks] = version
        return version

    def store_raw(
        self, payload: Any, *, tenant_id: str, incident_id: str, last_update: str, received_at: str
    ) -> IncidentVersion:
        """Store a version the store accepted but the story domain may not (bad input tests)."""
        version = IncidentVersion(
            version_id=self._next_id,
            tenant_id=tenant_id,
            incident_id=incident_id,
            last_update=GraphTime.parse(last_update),
            received_at=received_at,
            payload=payload,
        )
        self._next_id += 1
        self._versions.setdefault((tenant_id, incident_id), {})[version.last_update.ticks] = version
        return version

    def _head(self, tenant_id: str, incident_id: str) -> tuple[str | None, str | None]:
        payload = self._ordered(tenant_id, incident_id)[-1].payload
        try:
            head = Incident.model_validate(payload)
        except ValueError:
            return None, None
        return head.status, head.redirect_incident_id

    def _has_mdo(self, version: IncidentVersion) -> bool:
        try:
            return Incident.model_validate(version.payload).has_mdo_alert
        except ValueError:
            return False

    def pending_incidents(self, *, integration: str, limit: int) -> list[tuple[str, str]]:
        oldest: list[tuple[int, tuple[str, str]]] = []
        for key, versions in self._versions.items():
            waiting = [v.version_id for v in versions.values() if v.version_id not in self.produced]
            if waiting:
                oldest.append((min(waiting), key))
        return [key for _, key in sorted(oldest)[:limit]]

    def _ordered(self, tenant_id: str, incident_id: str) -> list[IncidentVersion]:
        versions = self._versions.get((tenant_id, incident_id), {}).values()
        return sorted(versions, key=lambda v: (v.last_update, v.version_id))

    def incident_versions(
        self, *, tenant_id: str, incident_ids: Sequence[str]
    ) -> dict[str, list[IncidentVersion]]:
        return {i: ordered for i in incident_ids if (ordered := self._ordered(tenant_id, i))}

    def incident_heads(self, *, tenant_id: str, incident_ids: Sequence[str]) -> dict[str, IncidentHead]:
        heads = {}
        for incident_id in incident_ids:
            ordered = self._ordered(tenant_id, incident_id)
            if not ordered:
                continue
            status, redirect = self._head(tenant_id, incident_id)
            heads[incident_id] = IncidentHead(
                tenant_id=tenant_id,
                incident_id=incident_id,
                last_update=ordered[-1].last_update,
                status=status,
                redirect_incident_id=redirect,
                has_mdo_alert=any(self._has_mdo(v) for v in ordered),
            )
        return heads

    def redirected_into(self, *, tenant_id: str, incident_ids: Sequence[str]) -> dict[str, list[str]]:
        wanted = set(incident_ids)
        found: dict[str, list[str]] = {}
        for (tenant, incident_id), _ in sorted(self._versions.items()):
            if tenant != tenant_id:
                continue
            status, redirect = self._head(tenant, incident_id)
            if status == "redirected" and redirect in wanted:
                found.setdefault(redirect, []).append(incident_id)
        return found

    def correlation_inputs(self, *, story_ids: Sequence[str]) -> dict[str, Any]:
        """No story has correlation inputs here."""
        return {}

    def save_stories(
        self,
        *,
        integration: str,
        stories: Sequence[dict[str, Any]],
        produced_version_ids: Sequence[int],
        failures: Sequence[StoryFailure] = (),
    ) -> None:
        for story in stories:
            if self._validate is not None:
                self._validate(story)
        self.save_calls += 1
        for story in stories:
            self.stories[story["story_id"]] = copy.deepcopy(story)
        self.produced.update(produced_version_ids)
        self.quarantined.extend(failures)
