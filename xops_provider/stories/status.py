"""The story's workflow status, as far as the producer sets it (see story-model.md).

The producer sets only three values; everything else is an analyst's choice, made later:

- ``Closed`` when Defender merged the incident into another (``merged_into`` is set);
- ``Reopened`` once Defender has reactivated an incident it had resolved (a later resolution
  leaves it ``Reopened``: the analyst closes stories, Defender's own state is ``vendor_status``);
- ``Open`` otherwise, from creation.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from xops_provider.stories.versions import ParsedVersion

_ACTIVE = frozenset({"active", "inProgress", "awaitingAction"})


def is_reactivation(before: str | None, after: str | None) -> bool:
    """Whether Defender moved an incident from resolved back to work.

    :param before: the older version's normalised status.
    :param after: the newer version's normalised status.
    """
    return before == "resolved" and after in _ACTIVE


def story_status(versions: Sequence[ParsedVersion], *, merged_into: str | None) -> str:
    """The producer's status for a story.

    :param versions: the incident's own versions, oldest first.
    :param merged_into: the survivor's story id when the incident was merged.
    """
    if merged_into:
        return "Closed"
    for older, newer in itertools.pairwise(versions):
        if is_reactivation(older.incident.status, newer.incident.status):
            return "Reopened"
    return "Open"
