"""Wait in the triggerer for a Defender incident version the story store has not stored yet.

Two triggers share one check, :meth:`~xops_provider.hooks.defender.DefenderIncidentsHook.find_unseen`:

* :class:`DefenderIncidentTrigger` serves the deferrable sensor: it fires once, or reports that its
  deadline passed, and ends.
* :class:`DefenderIncidentEventTrigger` serves an ``AssetWatcher``: it polls forever and fires for
  every new batch of versions, remembering what it announced so that one incident queues one run,
  not one run per poll until the ingest catches up.

Connections are resolved with the async connection API in the event loop; Graph and the store
are then used from a worker thread (``asyncio.to_thread``), since both clients block.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseEventTrigger, BaseTrigger, TriggerEvent

from xops_provider.hooks.defender import (
    DEFAULT_LOOKBACK,
    DEFAULT_OVERLAP,
    PROBE_PAGE_SIZE,
    DefenderIncidentsHook,
    UnseenProbe,
)

if TYPE_CHECKING:
    from xops_provider.store import Store

DEFAULT_STORE_CONN_ID = "xops_store"
#: Announced keys an event trigger remembers; far more than one poll's window ever holds.
_ANNOUNCED_MAX = 10_000


class _ProbeMixin:
    """Connection handling and the check, shared by both triggers."""

    integration: str
    ms_tenant_conn_id: str
    xops_store_conn_id: str
    poll_interval: float
    lookback_seconds: float
    overlap_seconds: float
    top: int

    async def _open(self) -> tuple[DefenderIncidentsHook, Store]:
        from airflow.sdk import BaseHook

        from xops_provider.hooks.store import StoreHook

        tenant = await BaseHook.aget_connection(self.ms_tenant_conn_id)
        try:
            store_conn = await BaseHook.aget_connection(self.xops_store_conn_id)
        except Exception as err:
            # No store connection means the embedded SQLite store; anything else is a real error.
            if type(err).__name__ != "AirflowNotFoundException":
                raise
            store_conn = None
        hook = DefenderIncidentsHook(ms_tenant_conn_id=self.ms_tenant_conn_id, connection=tenant)
        store_hook = StoreHook(xops_store_conn_id=self.xops_store_conn_id, connection=store_conn)
        store = await asyncio.to_thread(store_hook.get_store)
        return hook, store

    def _probe(
        self, hook: DefenderIncidentsHook, store: Store, ignore: frozenset[str] = frozenset()
    ) -> UnseenProbe:
        return hook.find_unseen(
            store=store,
            integration=self.integration,
            lookback=dt.timedelta(seconds=self.lookback_seconds),
            overlap=dt.timedelta(seconds=self.overlap_seconds),
            top=self.top,
            ignore=ignore,
        )

    def _kwargs(self) -> dict[str, Any]:
        # The attributes annotated above are the keyword arguments both triggers are rebuilt with.
        return {name: getattr(self, name) for name in _ProbeMixin.__annotations__}


def _close(hook: DefenderIncidentsHook | None, store: Store | None) -> None:
    if store is not None:
        store.close()
    if hook is not None:
        hook.close()


class DefenderIncidentTrigger(_ProbeMixin, BaseTrigger):
    """Fire once Graph holds an incident version the store has not stored yet.

    The event's payload holds counts and the watermark only: ``{"status": "found" | "idle" |
    "error", "unseen", "checked", "watermark"}`` (``"message"`` too for an error, with no secret in
    it). ``idle`` means ``end_time`` passed with nothing new.

    :param integration: the integration whose watermark and stored incidents are compared.
    :param ms_tenant_conn_id: the ``ms_tenant`` connection.
    :param xops_store_conn_id: the ``xops_store`` connection.
    :param poll_interval: seconds between two checks.
    :param lookback_seconds: the window before the integration's first sync.
    :param overlap_seconds: how far below the watermark to look.
    :param top: the check's page size (``$top``).
    :param end_time: epoch seconds after which the trigger reports ``idle`` and ends; ``None`` waits
        until something is found.
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
        end_time: float | None = None,
    ) -> None:
        super().__init__()
        self.integration = integration
        self.ms_tenant_conn_id = ms_tenant_conn_id
        self.xops_store_conn_id = xops_store_conn_id
        self.poll_interval = poll_interval
        self.lookback_seconds = lookback_seconds
        self.overlap_seconds = overlap_seconds
        self.top = top
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
        store: Store | None = None
        try:
            hook, store = await self._open()
            while True:
                probe = await asyncio.to_thread(self._probe, hook, store)
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
            await asyncio.to_thread(_close, hook, store)


class DefenderIncidentEventTrigger(_ProbeMixin, BaseEventTrigger):
    """Queue a DAG run whenever Defender has incident versions the store has not stored yet.

    For ``Asset(..., watchers=[AssetWatcher(name, trigger=DefenderIncidentEventTrigger(...))])``:
    the triggerer polls, and each event queues one run of the DAGs scheduled on the asset. Versions
    already announced are not announced again while the ingest catches up (kept in memory: after a
    triggerer restart at most one extra run is queued, and the ingest's dedup makes it harmless).

    :param integration: the integration whose watermark and stored incidents are compared.
    :param ms_tenant_conn_id: the ``ms_tenant`` connection.
    :param xops_store_conn_id: the ``xops_store`` connection.
    :param poll_interval: seconds between two checks.
    :param lookback_seconds: the window before the integration's first sync.
    :param overlap_seconds: how far below the watermark to look.
    :param top: the check's page size (``$top``).
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

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path and the keyword arguments that rebuild this trigger."""
        return f"{type(self).__module__}.{type(self).__qualname__}", self._kwargs()

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll forever; yield one event per batch of newly seen versions."""
        announced: OrderedDict[str, None] = OrderedDict()
        hook: DefenderIncidentsHook | None = None
        store: Store | None = None
        try:
            hook, store = await self._open()
            while True:
                try:
                    probe = await asyncio.to_thread(self._probe, hook, store, frozenset(announced))
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
            await asyncio.to_thread(_close, hook, store)
