"""Wait in the triggerer for a Defender incident version the story store has not stored yet.

Two triggers share one check, :func:`probe_unseen` (the domain's
:func:`~xops_provider.sync.probe.find_unseen` over the Defender hook and the store):

* :class:`DefenderIncidentTrigger` serves the deferrable sensor: it fires once, or reports that its
  deadline passed, and ends.
* :class:`DefenderIncidentEventTrigger` serves an ``AssetWatcher``: it polls forever and fires for
  every new batch of versions, remembering what it announced so that one incident queues one run,
  not one run per poll until the ingest catches up.

The triggerer only reads the store: it never migrates it. A store whose schema is not there yet
has stored nothing, so the check says so in a warning and counts every listed version as unseen;
the ingest that follows is the first writer and creates the schema.
Connections are resolved with the async connection API in the event loop; Graph and the store
are then used from a worker thread (``asyncio.to_thread``), since both clients block.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Collection
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowNotFoundException
from airflow.triggers.base import BaseEventTrigger, BaseTrigger, TriggerEvent

from xops_provider.hooks.defender import DefenderIncidentsHook
from xops_provider.hooks.store import DEFAULT_STORE_CONN_ID, open_store, store_url
from xops_provider.models.timestamps import GraphTime
from xops_provider.store.database import SchemaNotMigrated
from xops_provider.sync import DEFAULT_LOOKBACK, DEFAULT_OVERLAP, PROBE_PAGE_SIZE, UnseenProbe, find_unseen

if TYPE_CHECKING:
    from xops_provider.store import Store

#: Announced keys an event trigger remembers; far more than one poll's window ever holds.
_ANNOUNCED_MAX = 10_000


def probe_unseen(
    hook: DefenderIncidentsHook,
    store: Store | None,
    *,
    integration: str,
    lookback: dt.timedelta = DEFAULT_LOOKBACK,
    overlap: dt.timedelta = DEFAULT_OVERLAP,
    top: int = PROBE_PAGE_SIZE,
    ignore: Collection[str] = (),
    now: GraphTime | None = None,
) -> UnseenProbe:
    """Whether Graph holds an incident version the store has not stored yet (sensor and triggers).

    :param hook: the Defender hook.
    :param store: the story store; ``None`` for one whose schema is not created yet (nothing stored).
    :param integration: the integration whose watermark and stored incidents are compared.
    :param lookback: the window before the integration's first sync.
    :param overlap: how far below the watermark to look.
    :param top: the page size of each of the check's (at most two) reads.
    :param ignore: dedup keys already announced.
    :param now: the clock; the current time when omitted.
    """
    tenant_id = hook.tenant_id

    def stored_heads(incident_ids: Any) -> dict[str, GraphTime]:
        if store is None:
            return {}
        heads = store.sync.incident_heads(tenant_id=tenant_id, incident_ids=incident_ids)
        return {incident_id: head.last_update for incident_id, head in heads.items()}

    def stored_count(since: GraphTime, until: GraphTime) -> int:
        if store is None:
            return 0
        return store.sync.count_heads(tenant_id=tenant_id, since=since, until=until)

    return find_unseen(
        source=hook,
        state=None if store is None else store.sync.sync_state(integration),
        stored_heads=stored_heads,
        stored_count=stored_count,
        now=now or GraphTime.now(),
        lookback=lookback,
        overlap=overlap,
        top=top,
        ignore=ignore,
    )


class _ProbeTrigger(BaseTrigger):
    """The arguments, connections and check both triggers share.

    :param integration: the integration whose watermark and stored incidents are compared.
    :param ms_tenant_conn_id: the ``ms_tenant`` connection.
    :param xops_store_conn_id: the ``xops_store`` connection.
    :param poll_interval: seconds between two checks.
    :param lookback_seconds: the window before the integration's first sync.
    :param overlap_seconds: how far below the watermark to look.
    :param top: the page size (``$top``) of each of the check's (at most two) reads.
    """

    def __init__(
        self,
        *,
        integration: str = "default",
        ms_tenant_conn_id: str = DefenderIncidentsHook.default_conn_name,
        xops_store_conn_id: str = DEFAULT_STORE_CONN_ID,
        poll_interval: float = 60.0,
        lookback_seconds: float = DEFAULT_LOOKBACK.total_seconds(),
        overlap_seconds: float = DEFAULT_OVERLAP.total_seconds(),
        top: int = PROBE_PAGE_SIZE,
    ) -> None:
        super().__init__()
        self.integration = integration
        self.ms_tenant_conn_id = ms_tenant_conn_id
        self.xops_store_conn_id = xops_store_conn_id
        self.poll_interval = poll_interval
        self.lookback_seconds = lookback_seconds
        self.overlap_seconds = overlap_seconds
        self.top = top

    def _kwargs(self) -> dict[str, Any]:
        return {
            "integration": self.integration,
            "ms_tenant_conn_id": self.ms_tenant_conn_id,
            "xops_store_conn_id": self.xops_store_conn_id,
            "poll_interval": self.poll_interval,
            "lookback_seconds": self.lookback_seconds,
            "overlap_seconds": self.overlap_seconds,
            "top": self.top,
        }

    async def _open(self) -> DefenderIncidentsHook:
        from airflow.sdk import BaseHook

        tenant = await BaseHook.aget_connection(self.ms_tenant_conn_id)
        try:
            store_conn = await BaseHook.aget_connection(self.xops_store_conn_id)
        except AirflowNotFoundException:
            store_conn = None
        self._store_url = store_url(self.xops_store_conn_id, store_conn)
        self._store: Store | None = None
        return DefenderIncidentsHook(ms_tenant_conn_id=self.ms_tenant_conn_id, connection=tenant)

    def _opened_store(self) -> Store | None:
        """The store, opened read-only once its schema exists; ``None`` until then."""
        if self._store is None:
            try:
                self._store = open_store(self._store_url, migrate=False)
            except SchemaNotMigrated as err:
                self.log.warning("%s; until then nothing counts as stored", err)
        return self._store

    def _probe(self, hook: DefenderIncidentsHook, ignore: frozenset[str] = frozenset()) -> UnseenProbe:
        return probe_unseen(
            hook,
            self._opened_store(),
            integration=self.integration,
            lookback=dt.timedelta(seconds=self.lookback_seconds),
            overlap=dt.timedelta(seconds=self.overlap_seconds),
            top=self.top,
            ignore=ignore,
        )

    def _close(self, hook: DefenderIncidentsHook | None) -> None:
        if getattr(self, "_store", None) is not None:
            self._store.close()
        if hook is not None:
            hook.close()


class DefenderIncidentTrigger(_ProbeTrigger):
    """Fire once Graph holds an incident version the store has not stored yet.

    The event's payload holds counts and the watermark only: ``{"status": "found" | "idle" |
    "error", "unseen", "checked", "watermark"}`` (``"message"`` too for an error, with no secret in
    it). ``idle`` means ``end_time`` passed with nothing new. Other arguments as :class:`_ProbeTrigger`.

    :param end_time: epoch seconds after which the trigger reports ``idle`` and ends; ``None`` waits
        until something is found.
    """

    def __init__(self, *, end_time: float | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.end_time = end_time

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path and the keyword arguments that rebuild this trigger."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {**self._kwargs(), "end_time": self.end_time},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Check every ``poll_interval`` seconds until something is new or ``end_time`` passes."""
        hook: DefenderIncidentsHook | None = None
        try:
            hook = await self._open()
            while True:
                probe = await asyncio.to_thread(self._probe, hook)
                if probe.unseen:
                    self.log.info("%d incident version(s) not stored yet", len(probe.unseen))
                    yield TriggerEvent({"status": "found", **probe.summary()})
                    return
                remaining = None if self.end_time is None else self.end_time - time.time()
                if remaining is not None and remaining <= 0:
                    yield TriggerEvent({"status": "idle", **probe.summary()})
                    return
                await asyncio.sleep(
                    self.poll_interval if remaining is None else min(self.poll_interval, remaining)
                )
        except Exception as err:
            # Graph and store errors carry no secret (see xops_provider.clients.errors).
            self.log.error("Defender incident check failed: %s", err)
            yield TriggerEvent({"status": "error", "message": f"{type(err).__name__}: {err}"})
        finally:
            await asyncio.to_thread(self._close, hook)


class DefenderIncidentEventTrigger(_ProbeTrigger, BaseEventTrigger):
    """Queue a DAG run whenever Defender has incident versions the store has not stored yet.

    For ``Asset(..., watchers=[AssetWatcher(name, trigger=DefenderIncidentEventTrigger(...))])``:
    the triggerer polls, and each event queues one run of the DAGs scheduled on the asset. Versions
    already announced are not announced again while the ingest catches up (kept in memory: after a
    triggerer restart at most one extra run is queued, and the ingest's dedup makes it harmless).
    Arguments as :class:`_ProbeTrigger`.
    """

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path and the keyword arguments that rebuild this trigger."""
        return f"{type(self).__module__}.{type(self).__qualname__}", self._kwargs()

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll forever; yield one event per batch of newly seen versions."""
        announced: OrderedDict[str, None] = OrderedDict()
        hook: DefenderIncidentsHook | None = None
        try:
            hook = await self._open()
            while True:
                try:
                    probe = await asyncio.to_thread(self._probe, hook, frozenset(announced))
                except Exception as err:
                    # A watcher outlives outages: log, wait, poll again.
                    self.log.warning("Defender incident check failed, retrying: %s", err)
                    probe = None
                if probe is not None and probe.unseen:
                    for key in probe.unseen:
                        announced[key] = None
                    while len(announced) > _ANNOUNCED_MAX:
                        announced.popitem(last=False)
                    yield TriggerEvent(
                        {"status": "found", "integration": self.integration, **probe.summary()}
                    )
                await asyncio.sleep(self.poll_interval)
        finally:
            await asyncio.to_thread(self._close, hook)
