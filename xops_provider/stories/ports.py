"""What the story producer needs from storage, as a protocol: the domain stays free of SQLAlchemy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from xops_provider.models.timestamps import GraphTime

if TYPE_CHECKING:
    from xops_provider.correlation.inputs import CorrelationInputs


@dataclass(frozen=True, slots=True)
class IncidentVersion:
    """One stored raw version of an incident.

    :param version_id: the store's row id.
    :param tenant_id: the tenant the integration reads.
    :param incident_id: Defender's incident id.
    :param last_update: the payload's ``lastUpdateDateTime`` at full precision.
    :param received_at: ISO 8601 ingestion time stored with the version.
    :param payload: the incident exactly as received, alerts included.
    """

    version_id: int
    tenant_id: str
    incident_id: str
    last_update: GraphTime
    received_at: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class IncidentHead:
    """The latest stored version's facts, one per ``(tenant, incident)``.

    :param tenant_id: the tenant.
    :param incident_id: Defender's incident id.
    :param last_update: the latest version's ``lastUpdateDateTime``.
    :param status: the normalised Graph status, for example ``redirected``.
    :param redirect_incident_id: the survivor named by a redirected incident.
    :param has_mdo_alert: whether any stored version ever held a Defender for Office 365 alert.
    """

    tenant_id: str
    incident_id: str
    last_update: GraphTime
    status: str | None
    redirect_incident_id: str | None
    has_mdo_alert: bool


@dataclass(frozen=True, slots=True)
class StoryFailure:
    """An incident whose story could not be built: quarantined, with its versions marked produced.

    :param tenant_id: the tenant.
    :param incident_id: the incident whose story failed.
    :param version_ids: the versions involved; they stay stored as received.
    :param reason: what is wrong (no payload content).
    """

    tenant_id: str
    incident_id: str
    version_ids: tuple[int, ...]
    reason: str


class StoryRepository(Protocol):
    """The producer's view of the store."""

    def pending_incidents(self, *, integration: str, limit: int) -> list[tuple[str, str]]:
        """``(tenant_id, incident_id)`` pairs with stored versions no story reflects yet, oldest first."""
        ...

    def incident_versions(
        self, *, tenant_id: str, incident_ids: Sequence[str]
    ) -> dict[str, list[IncidentVersion]]:
        """Every stored version of each incident, ordered by ``(last_update, version_id)``."""
        ...

    def incident_heads(self, *, tenant_id: str, incident_ids: Sequence[str]) -> dict[str, IncidentHead]:
        """The head of each incident that has one."""
        ...

    def redirected_into(self, *, tenant_id: str, incident_ids: Sequence[str]) -> dict[str, list[str]]:
        """For each given incident, the incidents whose latest version redirects to it (one hop)."""
        ...

    def correlation_inputs(self, *, story_ids: Sequence[str]) -> Mapping[str, CorrelationInputs]:
        """The saved correlation inputs of the stories that have any (facts, related, campaign)."""
        ...

    def save_stories(
        self,
        *,
        integration: str,
        stories: Sequence[dict[str, Any]],
        produced_version_ids: Sequence[int],
        failures: Sequence[StoryFailure] = (),
    ) -> None:
        """Upsert story documents with their indexed columns and entity index, quarantine the failures,
        and mark the versions produced, all in one transaction: a crash can neither lose a failure's
        reason nor mark its versions without it."""
        ...
