"""The DAGs folder imports cleanly, touching no database and no network while it is parsed."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"


class _Forbidden(AssertionError):
    pass


@pytest.fixture
def no_io_at_parse(monkeypatch):
    """Any socket connection or SQLite file opened during the test fails it."""
    attempts: list[str] = []

    def refuse(what):
        def _refuse(*args, **kwargs):
            attempts.append(f"{what}{args[1:2]!r}")
            raise _Forbidden(f"{what} at parse time")

        return _refuse

    monkeypatch.setattr(socket.socket, "connect", refuse("socket.connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("socket.connect_ex"))
    monkeypatch.setattr(socket, "create_connection", refuse("socket.create_connection"))
    monkeypatch.setattr(sqlite3, "connect", refuse("sqlite3.connect"))
    return attempts


class TestDagBag:
    def test_imports_without_errors_or_io(self, no_io_at_parse, tmp_path, monkeypatch):
        from airflow.dag_processing.dagbag import DagBag

        monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
        bag = DagBag(dag_folder=str(DAGS))

        assert bag.import_errors == {}
        assert no_io_at_parse == []
        assert "xops_email_security" in bag.dags
        assert not (tmp_path / "xops").exists(), "the story store was opened at parse time"

    def test_email_security_dag_shape(self):
        from airflow.dag_processing.dagbag import DagBag

        dag = DagBag(dag_folder=str(DAGS)).dags["xops_email_security"]

        assert set(dag.task_ids) == {
            "wait_for_incidents",
            "ingest_incidents",
            "produce_stories",
            "pull_network_events",
            "correlate_stories",
        }
        assert dag.get_task("ingest_incidents").upstream_task_ids == {"wait_for_incidents"}
        assert dag.get_task("produce_stories").upstream_task_ids == {"ingest_incidents"}
        # Network events land before correlation reads them; a skipped pull (no Cato) lets it run.
        assert dag.get_task("pull_network_events").upstream_task_ids == set()
        correlate = dag.get_task("correlate_stories")
        assert correlate.upstream_task_ids == {"produce_stories", "pull_network_events"}
        assert correlate.trigger_rule == "none_failed"
        # The producer drains the queue even when the sensor found nothing new.
        assert dag.get_task("produce_stories").trigger_rule == "none_failed"
        assert dag.max_active_runs == 1
        sensor = dag.get_task("wait_for_incidents")
        assert sensor.soft_fail is True
        assert sensor.deferrable is True
