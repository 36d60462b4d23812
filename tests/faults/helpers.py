"""Shared steps of the sync tests: store connections, a sync run, the audit, the duplicate check."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from xops_provider.hooks.defender import DefenderIncidentsHook
from xops_provider.operators.ingest import ingest_incidents
from xops_provider.store import Store
from xops_provider.store import tables as t
from xops_provider.sync import SyncReport

#: Far enough back to cover every scenario's incidents.
LOOKBACK = dt.timedelta(days=3650)
#: Client retries fast enough for tests, and enough of them for a 30% fault rate.
FAST_CLIENT: dict[str, Any] = {"backoff": 0.01, "max_retries": 8, "timeout": (5.0, 30.0)}


def store_conn_env(url: str) -> str:
    """An ``AIRFLOW_CONN_*`` value (JSON) for the store at a SQLAlchemy URL.

    :param url: ``sqlite:///...`` or ``postgresql://...``.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return json.dumps({"conn_type": "sqlite", "host": parsed.database})
    return json.dumps(
        {
            "conn_type": "postgres",
            "host": parsed.host,
            "port": parsed.port,
            "login": parsed.username,
            "schema": parsed.database,
        }
    )


def synced(url: str, *, integration: str = "default", **hook_kwargs: Any) -> SyncReport:
    """Run one sync into the store at ``url`` through the default ``ms_tenant`` connection.

    :param url: the store's SQLAlchemy URL.
    :param integration: the integration.
    :param hook_kwargs: passed to the hook (client retries, page size).
    """
    hook = DefenderIncidentsHook(**{**FAST_CLIENT, **hook_kwargs})
    store = Store.open(url)
    try:
        return ingest_incidents(hook, store, integration=integration, lookback=LOOKBACK)
    finally:
        store.close()
        hook.close()


def audit(url: str, *, integration: str = "default", capsys: Any = None) -> tuple[int, str]:
    """Run ``xops sync audit`` in-process against the store at ``url``; its exit code and output.

    :param url: the store's SQLAlchemy URL.
    :param integration: the integration.
    :param capsys: pytest's capsys, to read the output.
    """
    import os

    from xops_provider.cli import main

    previous = os.environ.get("AIRFLOW_CONN_XOPS_AUDIT_STORE")
    os.environ["AIRFLOW_CONN_XOPS_AUDIT_STORE"] = store_conn_env(url)
    try:
        if capsys is not None:
            capsys.readouterr()
        code = main(["sync", "audit", "--integration", integration, "--store-conn-id", "xops_audit_store"])
        output = capsys.readouterr().out if capsys is not None else ""
    finally:
        if previous is None:
            os.environ.pop("AIRFLOW_CONN_XOPS_AUDIT_STORE", None)
        else:
            os.environ["AIRFLOW_CONN_XOPS_AUDIT_STORE"] = previous
    return code, output


def assert_clean(url: str, *, integration: str = "default", capsys: Any = None) -> None:
    """The audit reports 0 missing, 0 stale, 0 extra, and no version or incident is stored twice.

    :param url: the store's SQLAlchemy URL.
    :param integration: the integration.
    :param capsys: pytest's capsys.
    """
    code, output = audit(url, integration=integration, capsys=capsys)
    assert code == 0, output
    if capsys is not None:
        assert "missing: 0" in output
        assert "stale: 0" in output
        assert "extra: 0" in output
    assert duplicates(url) == (0, 0)


def duplicates(url: str) -> tuple[int, int]:
    """Versions stored more than once per dedup key, and incidents with more than one head.

    The schema forbids both; this checks what is actually in the tables.

    :param url: the store's SQLAlchemy URL.
    """
    store = Store.open(url, migrate=False)
    raw, heads = t.raw_incident_versions, t.incidents
    try:
        with store.engine.connect() as conn:
            versions = conn.execute(
                select(func.count()).select_from(
                    select(raw.c.tenant_id, raw.c.incident_id, raw.c.last_update_ticks)
                    .group_by(raw.c.tenant_id, raw.c.incident_id, raw.c.last_update_ticks)
                    .having(func.count() > 1)
                    .subquery()
                )
            ).scalar_one()
            incidents = conn.execute(
                select(func.count()).select_from(
                    select(heads.c.tenant_id, heads.c.incident_id)
                    .group_by(heads.c.tenant_id, heads.c.incident_id)
                    .having(func.count() > 1)
                    .subquery()
                )
            ).scalar_one()
    finally:
        store.close()
    return int(versions), int(incidents)


def stored_heads(url: str) -> dict[str, int]:
    """Incident id -> head ``lastUpdateDateTime`` ticks, for the whole store.

    :param url: the store's SQLAlchemy URL.
    """
    store = Store.open(url, migrate=False)
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(select(t.incidents.c.incident_id, t.incidents.c.last_update_ticks))
            return {row.incident_id: row.last_update_ticks for row in rows}
    finally:
        store.close()


def stored_versions(url: str) -> set[tuple[str, int]]:
    """Every stored version's dedup key ``(incident id, ticks)``.

    :param url: the store's SQLAlchemy URL.
    """
    raw = t.raw_incident_versions
    store = Store.open(url, migrate=False)
    try:
        with store.engine.connect() as conn:
            return {
                (row[0], row[1]) for row in conn.execute(select(raw.c.incident_id, raw.c.last_update_ticks))
            }
    finally:
        store.close()


def graph_heads(admin: Any) -> dict[str, int]:
    """What the simulator holds now: incident id -> ``lastUpdateDateTime`` ticks.

    :param admin: the simulator's admin client.
    """
    from xops_provider.models.timestamps import GraphTime

    return {i["id"]: GraphTime.parse(i["lastUpdateDateTime"]).ticks for i in admin.incidents()}


REPO = Path(__file__).resolve().parents[2]


def start_child(module: str, url: str) -> subprocess.Popen[bytes]:
    """Run ``python -m module url`` from the checkout, to be killed mid-run by a crash test.

    :param module: the child's module, for example ``tests.faults.ingest_child``.
    :param url: the store it writes to.
    """
    return subprocess.Popen(
        [sys.executable, "-m", module, url],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )


def set_watermark(url: str, *, integration: str, tenant_id: str, watermark: Any) -> None:
    """Give an integration a sync watermark, as a committed empty batch does.

    :param url: the store's SQLAlchemy URL.
    :param integration: the integration.
    :param tenant_id: its tenant.
    :param watermark: the ``GraphTime`` watermark.
    """
    with Store.open(url) as store:
        store.sync.commit_batch(
            integration=integration,
            tenant_id=tenant_id,
            versions=[],
            quarantined=[],
            watermark=watermark,
            seen=[],
            overlap_seconds=300,
            lookback_start=watermark,
        )
