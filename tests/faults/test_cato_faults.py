"""The Cato pull killed mid-feed: the rerun resumes from the last committed page, no gap, no duplicate."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

from sqlalchemy import select

from tests.faults.helpers import start_child
from xops_provider.correlation.network_feeds import parse_cato_record
from xops_provider.hooks.cato import CatoEventsHook
from xops_provider.operators.network import pull_cato_events
from xops_provider.store import Store
from xops_provider.store import tables as t

EVENTS = 6000


def _committed(path: Path) -> tuple[int, int]:
    """``(pages, events)`` the marker row says are committed; zeros before the first page."""
    if not path.exists():
        return 0, 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as conn:
            row = conn.execute("SELECT pages, events FROM feed_markers").fetchone()
    except sqlite3.Error:
        return 0, 0
    return (row[0], row[1]) if row else (0, 0)


def _stored(url: str) -> list[str]:
    with Store.open(url, migrate=False) as store, store.engine.connect() as conn:
        return list(conn.execute(select(t.network_events.c.fact_key)).scalars())


class TestCatoCrash:
    def test_sigkill_mid_feed_then_rerun(self, simulator, cato_connection, tmp_path):
        simulator.admin.set_faults("cato_page=20")
        simulator.admin.generate_network_events(EVENTS, seed=41, cato=True, device=False)
        path = tmp_path / "crashed.db"
        url = f"sqlite:///{path}"
        child = start_child("tests.faults.cato_child", url)
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and child.poll() is None:
                if _committed(path)[0] >= 5:
                    break
                time.sleep(0.02)
            assert child.poll() is None, "the pull ended before it could be killed"
            child.send_signal(signal.SIGKILL)
            assert child.wait(timeout=30) == -signal.SIGKILL
        finally:
            if child.poll() is None:
                child.kill()
            child.communicate()

        pages, events = _committed(path)
        partial = _stored(url)
        # What the marker says is committed is exactly what is stored: never one without the other.
        assert 0 < len(partial) == events < EVENTS
        assert events == pages * 20

        hook = CatoEventsHook(backoff=0.01)
        with Store.open(url) as store:
            rerun = pull_cato_events(hook.get_conn(), store, feed_id=hook.feed_id)
        hook.close()
        assert rerun.duplicates == 0  # nothing committed was read again
        assert rerun.added == EVENTS - len(partial)  # and nothing was skipped
        stored = _stored(url)
        assert len(stored) == len(set(stored)) == EVENTS
        truth = {parse_cato_record(r).fact_key for r in simulator.admin.cato_events(limit=EVENTS)}
        assert set(stored) == truth
        assert _committed(path) == (EVENTS // 20, EVENTS)
