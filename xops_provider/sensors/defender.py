"""Wait until Defender holds an incident version that the story store has not stored yet."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import conf
from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowSkipException

from xops_provider.hooks.defender import DefenderIncidentsHook
from xops_provider.hooks.store import DEFAULT_STORE_CONN_ID, StoreHook
from xops_provider.store.database import SchemaNotMigrated
from xops_provider.sync import DEFAULT_LOOKBACK, DEFAULT_OVERLAP, PROBE_PAGE_SIZE
from xops_provider.triggers.defender import DefenderIncidentTrigger, probe_unseen

if TYPE_CHECKING:
    from airflow.sdk import Context

#: The timeout when the DAG's schedule gives no interval (manual or asset-triggered DAGs).
DEFAULT_TIMEOUT = dt.timedelta(hours=1)
# The triggerer's own deadline sits a little after the trigger's, so that the trigger reports
# "idle" itself and the backstop only matters if the trigger cannot.
_DEFERRAL_GRACE = dt.timedelta(minutes=2)


def default_deferrable() -> bool:
    """``True``, unless the environment sets ``AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE``.

    Airflow ships ``[operators] default_deferrable = false`` and writes that value into every
    generated ``airflow.cfg``, so ``conf.getboolean(..., fallback=True)`` would never defer, and a
    ``false`` in the file cannot be told apart from no choice at all. This sensor's idle wait belongs
    in the triggerer, so it defers unless the deployment says otherwise in its environment (or the
    DAG passes ``deferrable=False``).
    """
    if os.environ.get("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE") is None:
        return True
    return conf.getboolean("operators", "default_deferrable", fallback=True)


class DefenderProbeError(RuntimeError):
    """The check itself failed (Graph or the store); not an idle wait, so never soft-failed."""


def schedule_interval(dag: Any, *, now: dt.datetime | None = None) -> dt.timedelta | None:
    """The time between two runs of a DAG's schedule: a fixed delta, or a cron's next two fire times.

    :param dag: the DAG (``None`` gives ``None``).
    :param now: where a cron schedule is measured from; the current time when omitted.
    """
    timetable = getattr(dag, "timetable", None)
    delta = getattr(timetable, "delta", None)
    if isinstance(delta, dt.timedelta):
        return delta if delta > dt.timedelta(0) else None
    if delta is not None:  # a relativedelta: months and years have no fixed length
        start = now or dt.datetime.now(dt.UTC)
        return (start + delta) - start
    expression = getattr(timetable, "expression", None)
    if isinstance(expression, str):
        from croniter import croniter

        try:
            cron = croniter(expression, now or dt.datetime.now(dt.UTC))
            first = cron.get_next(dt.datetime)
            return cron.get_next(dt.datetime) - first
        except (ValueError, KeyError):
            return None
    return None


class DefenderIncidentSensor(BaseSensorOperator):
    """Succeed when Defender has an incident version that the story store has not stored yet.

    It compares Graph's incidents in the next sync's window (the integration's watermark minus the
    overlap) with the store's incident heads, so the newest incident, once ingested, does not wake
    it again. Deferrable by default; ``mode="poke"`` and ``mode="reschedule"`` work too. The XCom
    holds counts and the watermark, never incident data. A run that finds nothing ends at its
    timeout as skipped (``soft_fail``), and the timeout defaults to the DAG's schedule interval.

    :param integration: the integration whose watermark and stored incidents are compared.
    :param ms_tenant_conn_id: the ``ms_tenant`` connection.
    :param xops_store_conn_id: the ``xops_store`` connection.
    :param lookback: the window before the integration's first sync.
    :param overlap: how far below the watermark to look.
    :param top: the page size (``$top``) of each of the check's reads; a check costs at most two
        Graph requests, so the largest page (50) by default.
    :param deferrable: wait in the triggerer instead of a worker slot; by default, unless the
        deployment sets ``[operators] default_deferrable`` (see :func:`default_deferrable`).
    :param timeout: seconds (or a timedelta) before an idle run is skipped; defaults to the DAG's
        schedule interval, or one hour when the schedule has none.
    :param soft_fail: skip instead of failing at the timeout.
    :param kwargs: passed to :class:`~airflow.sdk.BaseSensorOperator`.
    """

    template_fields: Sequence[str] = ("integration", "ms_tenant_conn_id", "xops_store_conn_id")
    ui_color = "#dbe9f6"

    def __init__(
        self,
        *,
        integration: str = "default",
        ms_tenant_conn_id: str = DefenderIncidentsHook.default_conn_name,
        xops_store_conn_id: str = DEFAULT_STORE_CONN_ID,
        lookback: dt.timedelta = DEFAULT_LOOKBACK,
        overlap: dt.timedelta = DEFAULT_OVERLAP,
        top: int = PROBE_PAGE_SIZE,
        deferrable: bool | None = None,
        timeout: dt.timedelta | float | None = None,
        soft_fail: bool = True,
        **kwargs: Any,
    ) -> None:
        self._timeout_given = timeout is not None
        super().__init__(
            timeout=timeout if timeout is not None else DEFAULT_TIMEOUT, soft_fail=soft_fail, **kwargs
        )
        self.integration = integration
        self.ms_tenant_conn_id = ms_tenant_conn_id
        self.xops_store_conn_id = xops_store_conn_id
        self.lookback = lookback
        self.overlap = overlap
        self.top = top
        self.deferrable = default_deferrable() if deferrable is None else deferrable

    def _resolve_timeout(self) -> None:
        if not self._timeout_given:
            interval = schedule_interval(self.dag if self.has_dag() else None)
            if interval is not None:
                self.timeout = interval.total_seconds()

    def execute(self, context: Context) -> Any:
        """Check once; defer to the trigger when deferrable and nothing is new yet."""
        self._resolve_timeout()
        if not self.deferrable:
            return super().execute(context)
        result = self.poke(context)
        if result.is_done:
            return result.xcom_value
        self.defer(
            trigger=DefenderIncidentTrigger(
                integration=self.integration,
                ms_tenant_conn_id=self.ms_tenant_conn_id,
                xops_store_conn_id=self.xops_store_conn_id,
                poll_interval=self.poke_interval,
                lookback_seconds=self.lookback.total_seconds(),
                overlap_seconds=self.overlap.total_seconds(),
                top=self.top,
                end_time=time.time() + self.timeout,
            ),
            method_name="execute_complete",
            timeout=dt.timedelta(seconds=self.timeout) + _DEFERRAL_GRACE,
        )

    def poke(self, context: Context) -> PokeReturnValue:
        """One check: done when at least one incident version is not stored yet.

        The sensor only reads the store. One whose schema is not created yet has stored nothing, so
        every listed version counts as unseen, and the ingest that follows creates the schema.
        """
        hook = DefenderIncidentsHook(ms_tenant_conn_id=self.ms_tenant_conn_id)
        store = None
        try:
            try:
                store = StoreHook(xops_store_conn_id=self.xops_store_conn_id).get_store(migrate=False)
            except SchemaNotMigrated as err:
                self.log.info("%s; the ingest will create it", err)
            probe = probe_unseen(
                hook,
                store,
                integration=self.integration,
                lookback=self.lookback,
                overlap=self.overlap,
                top=self.top,
            )
        finally:
            if store is not None:
                store.close()
            hook.close()
        summary = probe.summary()
        self.log.info("Checked %(checked)d incident(s): %(unseen)d not stored yet", summary)
        return PokeReturnValue(is_done=bool(probe.unseen), xcom_value=summary)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger fired.

        :param context: the task's context.
        :param event: the trigger's payload.
        """
        status = event.get("status")
        if status == "found":
            return {key: event.get(key) for key in ("unseen", "checked", "watermark")}
        if status == "idle":
            if self.soft_fail:
                raise AirflowSkipException(
                    f"No new Defender incident for integration {self.integration!r} within "
                    f"{self.timeout:.0f}s"
                )
            from airflow.sdk.exceptions import AirflowSensorTimeout

            raise AirflowSensorTimeout(f"No new Defender incident within {self.timeout:.0f}s")
        raise DefenderProbeError(event.get("message") or f"unexpected trigger event {status!r}")
