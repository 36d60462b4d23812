"""The story queue's loop: pending incidents in, stories built and saved batch by batch.

:func:`produce` drains a :class:`~xops_provider.stories.ports.StoryRepository`'s queue of unproduced
versions. Each story is :func:`~xops_provider.stories.producer.build_story` of its incident's
versions with its correlation inputs applied
(:func:`~xops_provider.correlation.inputs.apply_correlation`), so a rebuild never erases a finding.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from xops_provider.correlation.inputs import apply_correlation
from xops_provider.models.incident import blank_to_none
from xops_provider.stories.errors import StoryInputError
from xops_provider.stories.merge import folded_into, resolve_survivors
from xops_provider.stories.ports import IncidentVersion, StoryFailure, StoryRepository
from xops_provider.stories.producer import build_story

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ProduceReport:
    """What one :func:`produce` run did: counts, and the failures to quarantine.

    :param batches: batches taken from the queue.
    :param incidents: pending incidents taken.
    :param stories_saved: story documents written (an incident's and its survivor's both count).
    :param merged_stories: of those, stories of incidents merged into another.
    :param without_story: incidents built that hold no MDO alert, so make no story.
    :param versions_produced: versions marked produced.
    :param redirect_cycles: redirect cycles met and broken.
    :param failures: incidents whose story could not be built.
    """

    batches: int = 0
    incidents: int = 0
    stories_saved: int = 0
    merged_stories: int = 0
    without_story: int = 0
    versions_produced: int = 0
    redirect_cycles: int = 0
    failures: list[StoryFailure] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """The report as plain counts, small enough for XCom and metrics."""
        return {
            "batches": self.batches,
            "incidents": self.incidents,
            "stories_saved": self.stories_saved,
            "merged_stories": self.merged_stories,
            "without_story": self.without_story,
            "versions_produced": self.versions_produced,
            "redirect_cycles": self.redirect_cycles,
            "failed": len(self.failures),
        }


def _redirect_target(payload: Any) -> str | None:
    target = blank_to_none(payload.get("redirectIncidentId")) if isinstance(payload, Mapping) else None
    if isinstance(target, bool) or not isinstance(target, str | int):
        return None
    return str(target).strip() or None


def _build_skipping_bad_folds(
    *,
    integration: str,
    tenant_id: str,
    incident_id: str,
    versions: Sequence[IncidentVersion],
    folded: Mapping[str, Sequence[IncidentVersion]],
    merged_into: str | None,
) -> dict[str, Any] | None:
    # An unreadable merged incident is reported on its own story; the survivor's story is still
    # built from everything else rather than held hostage by it.
    usable = dict(folded)
    while True:
        try:
            return build_story(
                integration=integration,
                tenant_id=tenant_id,
                incident_id=incident_id,
                versions=versions,
                folded=usable,
                merged_into=merged_into,
            )
        except StoryInputError as err:
            if err.incident_id == incident_id or err.incident_id not in usable:
                raise
            del usable[err.incident_id]


def _produce_tenant(
    repo: StoryRepository,
    *,
    integration: str,
    tenant_id: str,
    incident_ids: Sequence[str],
    report: ProduceReport,
    stories: dict[str, dict[str, Any]],
    version_ids: set[int],
) -> None:
    pending_versions = repo.incident_versions(tenant_id=tenant_id, incident_ids=list(incident_ids))
    # A survivor an incident named in an earlier version may have lost it to a new target; rebuild
    # that survivor too, or its story would keep alerts that no longer fold into it.
    named = {
        target
        for history in pending_versions.values()
        for version in history
        if (target := _redirect_target(version.payload))
    }
    roots = [*incident_ids, *sorted(named - set(incident_ids))]
    survivors = resolve_survivors(repo, tenant_id=tenant_id, incident_ids=roots)
    report.redirect_cycles += survivors.cycles
    trees = folded_into(repo, tenant_id=tenant_id, survivors=set(survivors.terminal.values()))
    # Every member of a survivor's tree is rebuilt, not only the pending incident: when a chain
    # grows (B, survivor of A, is merged into C), A's story must now point to C.
    survivor_of: dict[str, str | None] = {}
    for survivor, members in trees.items():
        survivor_of[survivor] = None
        for member in members:
            survivor_of[member] = survivor
    for incident_id, survivor in survivors.terminal.items():
        survivor_of.setdefault(incident_id, None if survivor == incident_id else survivor)
    missing = sorted(set(survivor_of) - set(pending_versions))
    versions = dict(pending_versions)
    if missing:
        versions.update(repo.incident_versions(tenant_id=tenant_id, incident_ids=missing))
    for incident_id in sorted(survivor_of):
        own = versions.get(incident_id, [])
        survivor = survivor_of[incident_id]
        members = trees.get(incident_id, set()) if survivor is None else set()
        folded = {member: versions.get(member, []) for member in sorted(members)}
        version_ids.update(v.version_id for v in own)
        version_ids.update(v.version_id for history in folded.values() for v in history)
        try:
            story = _build_skipping_bad_folds(
                integration=integration,
                tenant_id=tenant_id,
                incident_id=incident_id,
                versions=own,
                folded=folded,
                merged_into=survivor,
            )
        except StoryInputError as err:
            log.warning("Story for incident %s not built: %s", incident_id, err)
            reason = str(err)
        except Exception as err:
            # A mapping defect met on one incident must not stop the line: it is quarantined with its
            # type for the record, the traceback goes to the log, and the rest of the batch proceeds.
            log.exception("Story for incident %s failed unexpectedly", incident_id)
            reason = f"incident {incident_id}: unexpected {type(err).__name__} while building the story"
        else:
            reason = None
        if reason is not None:
            report.failures.append(
                StoryFailure(
                    tenant_id=tenant_id,
                    incident_id=incident_id,
                    version_ids=tuple(sorted(v.version_id for v in own)),
                    reason=reason,
                )
            )
            continue
        if story is None:
            if own:
                report.without_story += 1
            continue
        stories[story["story_id"]] = story


@contextlib.contextmanager
def _cyclic_collection_paused() -> Iterator[None]:
    """Automatic cyclic garbage collection off for one batch, back on (if it was on) when it is saved.

    A batch holds a few hundred thousand live objects (payloads, their models, documents), none of
    them in cycles: reference counting frees them, and each automatic full collection only walks them
    all again, which cost a sixth of a produce run (16%, ``benchmarks/sync_ingest.py``, RESULTS.md).
    Anything cyclic a batch leaves behind is collected once collection resumes.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def produce(repo: StoryRepository, *, integration: str, batch_size: int) -> ProduceReport:
    """Build and save the stories of every pending incident, one batch per transaction.

    Each pending incident's story is built with its terminal survivor's, and every incident merged
    into that survivor, so merges fold in whatever order the incidents arrive. An incident that
    cannot be mapped is reported in ``failures`` and its versions are marked produced, so it never
    blocks the queue; the rest of the batch proceeds. A rerun after a crash rebuilds the same stories.

    :param repo: the store.
    :param integration: the integration whose queue to drain.
    :param batch_size: pending incidents per batch (and per transaction).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    report = ProduceReport()
    marked: set[int] = set()
    while True:
        pending = list(dict.fromkeys(repo.pending_incidents(integration=integration, limit=batch_size)))
        if not pending:
            break
        with _cyclic_collection_paused():
            progressed = _produce_batch(
                repo, integration=integration, pending=pending, report=report, marked=marked
            )
        if not progressed:
            # The store keeps offering versions this run already marked: stop rather than spin.
            log.warning("Pending incidents did not move after a batch; stopping this run")
            break
    return report


def _produce_batch(
    repo: StoryRepository,
    *,
    integration: str,
    pending: Sequence[tuple[str, str]],
    report: ProduceReport,
    marked: set[int],
) -> bool:
    """Build and save one batch's stories; whether it marked any version this run had not.

    :param repo: the store.
    :param integration: the integration.
    :param pending: the batch's ``(tenant_id, incident_id)`` pairs.
    :param report: the run's report, updated.
    :param marked: versions this run marked produced so far, updated.
    """
    report.batches += 1
    report.incidents += len(pending)
    by_tenant: dict[str, list[str]] = {}
    for tenant_id, incident_id in pending:
        by_tenant.setdefault(tenant_id, []).append(incident_id)
    stories: dict[str, dict[str, Any]] = {}
    version_ids: set[int] = set()
    failures_before = len(report.failures)
    for tenant_id in sorted(by_tenant):
        _produce_tenant(
            repo,
            integration=integration,
            tenant_id=tenant_id,
            incident_ids=by_tenant[tenant_id],
            report=report,
            stories=stories,
            version_ids=version_ids,
        )
    progressed = bool(version_ids - marked)
    marked |= version_ids
    # A story is a function of its incident's versions and its correlation inputs: a rebuild after
    # an incident update keeps every finding.
    for key, inputs in repo.correlation_inputs(story_ids=sorted(stories)).items():
        if key in stories:
            stories[key] = apply_correlation(stories[key], inputs)
    ordered = [stories[key] for key in sorted(stories)]
    repo.save_stories(
        integration=integration,
        stories=ordered,
        produced_version_ids=sorted(version_ids),
        failures=report.failures[failures_before:],
    )
    report.stories_saved += len(ordered)
    report.merged_stories += sum(1 for s in ordered if s["merged_into"])
    report.versions_produced += len(version_ids)
    return progressed
