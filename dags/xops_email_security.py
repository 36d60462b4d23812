"""``xops_email_security``: Defender for Office 365 incidents become XOps stories.

wait_for_incidents -> ingest_incidents -> produce_stories -> correlate_stories
pull_network_events ---------------------------------------^

- ``wait_for_incidents`` defers (in the triggerer, no worker slot held) until Defender lists an incident
  version the store has not seen; an idle run ends SKIPPED at the schedule interval.
- ``ingest_incidents`` pages everything new since the integration's watermark into the story store.
- ``produce_stories`` turns every stored version no story reflects yet into its story. It runs even when
  the sensor skipped, so versions left by an interrupted run are never stranded.

- ``pull_network_events`` pulls Cato's events feed into the store until caught up, resuming from the
  marker stored with the last committed page. It is SKIPPED when no ``cato_default`` connection is
  defined (decided when it runs, so parsing reads no connection); a Cato error fails it (and, once its
  retries are spent, the run), and the next attempt resumes after the pages already stored.
- ``correlate_stories`` answers each story's three questions (clicked? related activity? campaign?)
  from Defender's advanced hunting and the alerts of Defender for Endpoint, Identity and Cloud Apps,
  and rebuilds the stories whose findings changed. A missing permission is named in the answers; the
  run still succeeds.

Connections: ``ms_tenant_default`` (the Microsoft tenant), ``cato_default`` (optional: the Cato
account) and ``xops_store`` (the story store; the embedded SQLite store under ``$AIRFLOW_HOME/xops/``
when it is not defined). The schedule comes from ``[xops] poll_interval_minutes``
(``AIRFLOW__XOPS__POLL_INTERVAL_MINUTES``), 5 by default; while it waits, the sensor checks Graph
every ``[xops] check_interval_seconds`` (60 by default).

Nothing here touches a database or the network at parse time.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, TriggerRule
from airflow.sdk.configuration import conf

from xops_provider.operators.correlate import CorrelateOperator
from xops_provider.operators.ingest import DefenderIncidentIngestOperator
from xops_provider.operators.network import CatoEventsOperator
from xops_provider.operators.stories import GenericIncidentOperator
from xops_provider.sensors.defender import DefenderIncidentSensor

INTEGRATION = "default"
POLL_INTERVAL = dt.timedelta(minutes=conf.getint("xops", "poll_interval_minutes", fallback=5))
# How often the waiting sensor's trigger asks Graph for news, in the triggerer.
CHECK_INTERVAL = conf.getint("xops", "check_interval_seconds", fallback=60)

with DAG(
    dag_id="xops_email_security",
    description="Defender for Office 365 incidents -> XOps stories",
    schedule=POLL_INTERVAL,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    tags=["xops", "defender", "email-security"],
    default_args={"retries": 2, "retry_delay": dt.timedelta(seconds=30)},
    doc_md=__doc__,
):
    wait_for_incidents = DefenderIncidentSensor(
        task_id="wait_for_incidents",
        integration=INTEGRATION,
        poke_interval=CHECK_INTERVAL,
        retries=0,
    )
    ingest_incidents = DefenderIncidentIngestOperator(
        task_id="ingest_incidents",
        integration=INTEGRATION,
    )
    produce_stories = GenericIncidentOperator(
        task_id="produce_stories",
        integration=INTEGRATION,
        trigger_rule=TriggerRule.NONE_FAILED,
    )
    pull_network_events = CatoEventsOperator(task_id="pull_network_events")
    correlate_stories = CorrelateOperator(
        task_id="correlate_stories",
        integration=INTEGRATION,
        trigger_rule=TriggerRule.NONE_FAILED,
    )
    wait_for_incidents >> ingest_incidents >> produce_stories >> correlate_stories
    # A skipped pull (no Cato) lets correlation run: its trigger rule is none_failed.
    pull_network_events >> correlate_stories
