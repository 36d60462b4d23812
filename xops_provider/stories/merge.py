"""Following Defender's merges through the store: terminal survivors and what folds into them.

Defender redirects an absorbed incident to a survivor, which may itself be redirected later, so
chains of several hops happen. Resolution walks the incident heads level by level (one store call
per hop for the whole batch) and never loops: a cycle, which Defender should never produce, is
broken deterministically by choosing its smallest incident id as the survivor.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from xops_provider.stories.ports import IncidentHead, StoryRepository


def _next_hop(head: IncidentHead | None) -> str | None:
    if head is None or head.status != "redirected" or not head.redirect_incident_id:
        return None
    if head.redirect_incident_id == head.incident_id:
        return None
    return head.redirect_incident_id


@dataclass(frozen=True, slots=True)
class Survivors:
    """Where each incident's story lives.

    :param terminal: each given incident's terminal survivor (itself when not redirected).
    :param cycles: how many redirect cycles were met and broken.
    """

    terminal: dict[str, str]
    cycles: int


def resolve_survivors(repo: StoryRepository, *, tenant_id: str, incident_ids: Iterable[str]) -> Survivors:
    """The terminal survivor of each incident, through chains of any length.

    A survivor that has not arrived yet (no head) is terminal: ``story_id`` only needs its id.

    :param repo: the store.
    :param tenant_id: the tenant.
    :param incident_ids: the incidents to resolve.
    """
    wanted = list(dict.fromkeys(incident_ids))
    hops: dict[str, str | None] = {}
    frontier = set(wanted)
    while frontier:
        heads = repo.incident_heads(tenant_id=tenant_id, incident_ids=sorted(frontier))
        for incident_id in frontier:
            hops[incident_id] = _next_hop(heads.get(incident_id))
        frontier = {target for target in hops.values() if target is not None and target not in hops}
    terminal: dict[str, str] = {}
    cycles = 0
    for start in wanted:
        path: list[str] = [start]
        seen = {start}
        current = start
        while (target := hops.get(current)) is not None:
            if target in seen:
                cycle = path[path.index(target) :]
                current = min(cycle)
                cycles += 1
                break
            path.append(target)
            seen.add(target)
            current = target
        terminal[start] = current
    return Survivors(terminal=terminal, cycles=cycles)


def folded_into(repo: StoryRepository, *, tenant_id: str, survivors: Iterable[str]) -> dict[str, set[str]]:
    """For each survivor, every incident whose redirects lead to it, transitively.

    :param repo: the store.
    :param tenant_id: the tenant.
    :param survivors: terminal survivors.
    """
    owner: dict[str, str] = {}
    members: dict[str, set[str]] = {}
    frontier: dict[str, str] = {}
    for survivor in survivors:
        members.setdefault(survivor, set())
        owner[survivor] = survivor
        frontier[survivor] = survivor
    while frontier:
        found = repo.redirected_into(tenant_id=tenant_id, incident_ids=sorted(frontier))
        next_frontier: dict[str, str] = {}
        for target, sources in found.items():
            survivor = frontier.get(target)
            if survivor is None:
                continue
            for source in sources:
                if source in owner:
                    continue  # already placed: guards cycles and diamond-shaped chains
                owner[source] = survivor
                members[survivor].add(source)
                next_frontier[source] = survivor
        frontier = next_frontier
    return members
