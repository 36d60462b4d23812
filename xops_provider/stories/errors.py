"""The one error the story domain raises for input it cannot turn into a story."""

from __future__ import annotations


class StoryInputError(ValueError):
    """A stored incident version cannot be mapped to a story; the caller quarantines it.

    The message names the incident, the version and what is wrong, never the offending values:
    payloads are attacker-influenced and can be large.

    :param reason: what is wrong, in a few words.
    :param incident_id: the incident the bad input belongs to.
    :param version_id: the store's id of the bad version, when one version is to blame.
    """

    def __init__(self, reason: str, *, incident_id: str, version_id: int | None = None) -> None:
        self.reason = reason
        self.incident_id = incident_id
        self.version_id = version_id
        where = f"incident {incident_id}" + (f" version {version_id}" if version_id is not None else "")
        super().__init__(f"{where}: {reason}")
