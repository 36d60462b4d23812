"""Pull the Defender incidents changed since the integration's watermark into the story store."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from xops_provider.hooks.defender import DefenderIncidentsHook
from xops_provider.hooks.store import StoreHook
from xops_provider.models.health import RunOutcome, lag_seconds, run_outcome
from xops_provider.models.timestamps import GraphTime
from xops_provider.sync import DEFAULT_LOOKBACK, DEFAULT_OVERLAP, SyncReport, sync_incidents

if TYPE_CHECKING:
    from airflow.sdk import Context

    from xops_provider.store import Store

log = logging.getLogger(__name__)


class DefenderIncidentIngestOperator(BaseOperator):
    """Read every incident version changed since the integration's watermark and store it.

    Each page is committed with the watermark that covers it, so a task killed mid-run and retried
    resumes where it stopped, and nothing is stored twice. The XCom holds counts and the watermark
    only: payloads stay in the store.

    :param integration: the integration whose watermark and lock are used.
    :param ms_tenant_conn_id: the ``ms_tenant`` connection.
    :param xops_store_conn_id: the story store connection; the embedded SQLite store when the default
        one is not defined.
    :param lookback: how far back an integration's first run reads.
    :param overlap: how far below the watermark each run rereads, for Graph's late arrivals.
    :param lock_timeout: seconds to wait for a concurrent run of the same integration; ``None`` waits.
    """

    template_fields: Sequence[str] = ("integration", "ms_tenant_conn_id", "xops_store_conn_id")
    ui_color = "#dbe9f6"

    def __init__(
        self,
        *,
        integration: str = "default",
        ms_tenant_conn_id: str = DefenderIncidentsHook.default_conn_name,
        xops_store_conn_id: str = StoreHook.default_conn_name,
        lookback: dt.timedelta = DEFAULT_LOOKBACK,
        overlap: dt.timedelta = DEFAULT_OVERLAP,
        lock_timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.integration = integration
        self.ms_tenant_conn_id = ms_tenant_conn_id
        self.xops_store_conn_id = xops_store_conn_id
        self.lookback = lookback
        self.overlap = overlap
        self.lock_timeout = lock_timeout

    def execute(self, context: Context) -> dict[str, Any]:
        hook = DefenderIncidentsHook(ms_tenant_conn_id=self.ms_tenant_conn_id)
        # The first writer migrates the store's schema (``get_store`` does, once per version).
        with (
            contextlib.closing(hook),
            StoreHook(xops_store_conn_id=self.xops_store_conn_id).get_store() as store,
        ):
            try:
                report = ingest_incidents(
                    hook,
                    store,
                    integration=self.integration,
                    lookback=self.lookback,
                    overlap=self.overlap,
                    lock_timeout=self.lock_timeout,
                )
            except Exception as err:
                record_health(store, self.integration, run_outcome(err, throttled=_throttled(hook)))
                raise
            record_health(
                store,
                self.integration,
                run_outcome(throttled=_throttled(hook), quarantined=report.newly_quarantined),
            )
        result = ingest_summary(report.to_xcom(), expand_fallback_pages=hook.fallback_pages)
        self.log.info("Ingest %s: %s", self.integration, result)
        return result


def record_health(store: Store, integration: str, outcome: RunOutcome) -> None:
    """Record a run's outcome in the integration's health and emit its metrics.

    Health is a report on the run, not part of it: failing to record it is logged, never raised,
    so that it neither fails a good run nor hides a failed run's own error.

    :param store: the opened story store.
    :param integration: the integration.
    :param outcome: the run's outcome.
    """
    lag = None
    try:
        store.integrations.record_run(integration, outcome)
        state = store.sync.sync_state(integration)
        lag = lag_seconds(state.watermark if state else None, now=GraphTime.now())
    except Exception:
        log.warning("Could not record the health of integration %s", integration, exc_info=True)
    emit_metrics(integration, outcome, lag=lag)


def emit_metrics(integration: str, outcome: RunOutcome, *, lag: float | None) -> None:
    """Airflow metrics of one run: gauge ``xops.<integration>.lag_seconds``; counters ``.runs``,
    ``.failed_runs``, ``.throttled`` and ``.quarantined`` (Airflow adds its ``[metrics]`` prefix).

    :param integration: the integration.
    :param outcome: the run's outcome.
    :param lag: seconds behind, when known.
    """
    from airflow.sdk.observability.stats import Stats, normalize_name_for_stats

    prefix = f"xops.{normalize_name_for_stats(integration, log_warning=False)}"
    Stats.incr(f"{prefix}.runs")
    if not outcome.ok:
        Stats.incr(f"{prefix}.failed_runs")
    if outcome.throttled:
        Stats.incr(f"{prefix}.throttled", outcome.throttled)
    if outcome.quarantined:
        Stats.incr(f"{prefix}.quarantined", outcome.quarantined)
    if lag is not None:
        Stats.gauge(f"{prefix}.lag_seconds", lag)


def _throttled(hook: DefenderIncidentsHook) -> int:
    counters = hook.graph_counters
    return 0 if counters is None else counters.throttled_429


def ingest_incidents(
    hook: DefenderIncidentsHook,
    store: Store,
    *,
    integration: str,
    lookback: dt.timedelta = DEFAULT_LOOKBACK,
    overlap: dt.timedelta = DEFAULT_OVERLAP,
    lock_timeout: float | None = None,
    retry_delays: Sequence[float] | None = None,
    now: GraphTime | None = None,
) -> SyncReport:
    """Pull every incident changed since the integration's watermark into the store: the hook gives
    pages, the engine decides, the sync repository persists.

    :param hook: the Defender hook (the page source).
    :param store: the opened story store.
    :param integration: the integration whose watermark and lock are used.
    :param lookback: how far back the first run of an integration starts.
    :param overlap: how far below the watermark each run rereads.
    :param lock_timeout: seconds to wait for a concurrent run of the integration; ``None`` waits.
    :param retry_delays: the backoff between retries after a transient store failure.
    :param now: the run's clock; the current time when omitted.
    """
    extra: dict[str, Any] = {} if retry_delays is None else {"retry_delays": retry_delays}
    return sync_incidents(
        source=hook,
        repository=store.sync,
        integration=integration,
        tenant_id=hook.tenant_id,
        now=now or GraphTime.now(),
        lookback=lookback,
        overlap=overlap,
        lock_timeout=lock_timeout,
        **extra,
    )


def ingest_summary(report: dict[str, Any], **counts: int) -> dict[str, Any]:
    """The XCom of an ingest: the run's counts and its watermark, nothing else.

    :param report: the sync report as a dict.
    :param counts: further counts to include.
    """
    summary: dict[str, Any] = {
        key: value for key, value in report.items() if isinstance(value, int) and not isinstance(value, bool)
    }
    summary["stalled"] = len(report.get("stalled_at") or [])
    summary["watermark"] = report.get("watermark")
    return {**summary, **counts}
