"""Benchmark: correlate N stories against E network events, on SQLite and PostgreSQL (issue 9).

    .venv/bin/python benchmarks/correlate.py [--stories N] [--events E] [--slice S]
        [--skip-postgres] [--skip-sqlite]

For each backend, in one process:

1. the simulator's ``generated`` scenario (N incidents) is ingested (``ingest_incidents``) and
   produced into a fresh store;
2. all stories are rebuilt once without correlation inputs (every ``raw_incident_versions`` row
   requeued): the producer's throughput today;
3. E/2 synthesised Cato events (``benchmarks/correlate_data.py``) are stored with
   ``store.evidence.add_network_events`` in batches (timed apart), then the network part
   (``network_events_for`` + ``FactIndex`` matching for every story) and ``correlate`` end to end
   are timed; then the other E/2 events, and both again: the doubling ratio. Before each
   ``correlate`` the saved inputs are deleted, so that each run is a first correlation that
   rebuilds every story (the comparable worst case). Hunting runs against the simulator with
   ``hunting_quota=off``; its calls are counted and set beside ``expected_call_count``;
4. all stories are rebuilt again, now with their correlation inputs: the producer's throughput
   with correlation included;
5. the naive baseline (``match_story`` over all E events in memory, per story) runs on a slice of
   S stories, once (it reads no store), against the indexed path for the same slice.

Targets: the full set under 60 s; doubling the events at most 2.2x the time; the producer within
10% of today's throughput with correlation inputs included.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]
HUNTING_ROUTE = "/v1.0/security/runHuntingQuery"
INTEGRATION = "bench"
LOAD_BATCH = 20_000


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _keys(store: Any) -> list[Any]:
    from xops_provider.correlation.keys import story_keys

    return sorted(
        (story_keys(d) for d in store.reads.iter_stories(integration=INTEGRATION)), key=lambda k: k.story_id
    )


def _rebuild(store: Any) -> dict[str, Any]:
    """Requeue every version and time the producer over all of them."""
    from sqlalchemy import update

    from xops_provider.store import tables as t
    from xops_provider.stories.producer import produce

    with store.engine.begin() as conn:
        conn.execute(update(t.raw_incident_versions).values(produced=False))
    load = _load()
    started = time.perf_counter()
    counts = produce(store.stories, integration=INTEGRATION, batch_size=200).counts()
    elapsed = time.perf_counter() - started
    return {"elapsed": elapsed, "stories": counts["stories_saved"], "load": load}


def _network_part(store: Any, keys: list[Any]) -> dict[str, Any]:
    """What ``correlate`` does for network events: the candidates query and matching every story."""
    from xops_provider.correlation.candidates import FactIndex
    from xops_provider.correlation.matching import MatchPolicy
    from xops_provider.correlation.pipeline import RECEIPT_SLACK_SECONDS, FactSet
    from xops_provider.models.timestamps import GraphTime

    policy = MatchPolicy()
    load = _load()
    started = time.perf_counter()
    receipts = [k.received_at for k in keys if k.received_at]
    candidates = store.evidence.network_events_for(
        users={v for k in keys for v in k.recipients},
        domains={v for k in keys for v in k.url_domains},
        ips={v for k in keys for v in k.ips},
        urls={v for k in keys for v in k.urls},
        since=min(receipts).shift(seconds=-RECEIPT_SLACK_SECONDS),
        until=GraphTime.now().shift(seconds=policy.window_seconds),
    )
    queried = time.perf_counter()
    index = FactIndex(FactSet.of(candidates))
    matches = sum(len(index.match(k, policy=policy).network) for k in keys)
    done = time.perf_counter()
    return {
        "elapsed": done - started,
        "query": queried - started,
        "matching": done - queried,
        "candidates": len(candidates),
        "matches": matches,
        "load": load,
    }


def _correlate(store: Any, simulator: Any) -> dict[str, Any]:
    from sqlalchemy import delete

    from xops_provider.hooks.defender_evidence import DefenderEvidenceHook
    from xops_provider.operators.correlate import correlate
    from xops_provider.store import tables as t

    with store.engine.begin() as conn:
        conn.execute(delete(t.story_correlation))  # a first correlation: every story is rebuilt
    hook = DefenderEvidenceHook()
    hook.get_token_provider().get_token()
    simulator.admin.reset_counters()
    load = _load()
    started = time.perf_counter()
    report = correlate(hook, store, integration=INTEGRATION)
    elapsed = time.perf_counter() - started
    hook.close()
    return {
        "elapsed": elapsed,
        "stories": report.stories,
        "changed": report.changed,
        "hunting_calls": report.hunting_calls,
        "simulator_hunting_calls": simulator.admin.count(route=HUNTING_ROUTE),
        "load": load,
    }


def _batches(plan: Any, label: str, args: argparse.Namespace, events: dict[str, list[Any]]) -> Any:
    """The events of one half in batches: synthesised on first use, then replayed (both backends
    store the same events, and the naive baseline reads them)."""
    if label in events:
        for lo in range(0, len(events[label]), LOAD_BATCH):
            yield events[label][lo : lo + LOAD_BATCH]
        return
    kept: list[Any] = []
    positions = range(0, args.events, 2) if label == "half" else range(1, args.events, 2)
    for batch in plan.batches(positions, args.events, LOAD_BATCH):
        kept.extend(batch)
        yield batch
    events[label] = kept


def run_backend(
    name: str, url: str, simulator: Any, args: argparse.Namespace, events: dict[str, list[Any]]
) -> dict[str, Any]:
    """One backend end to end; ``events`` holds the events once synthesised."""
    from correlate_data import EventPlan, hunting_expectation

    from xops_provider.hooks.defender import DefenderIncidentsHook
    from xops_provider.models.timestamps import GraphTime
    from xops_provider.operators.ingest import ingest_incidents
    from xops_provider.store import Store
    from xops_provider.stories.producer import produce

    out: dict[str, Any] = {"backend": name}
    store = Store.open(url)
    try:
        started = time.perf_counter()
        ingest_incidents(
            DefenderIncidentsHook(),
            store,
            integration=INTEGRATION,
            lookback=dt.timedelta(days=3650),
            now=GraphTime.from_datetime(dt.datetime.now(dt.UTC)),
        )
        out["ingest_s"] = time.perf_counter() - started
        started = time.perf_counter()
        produce(store.stories, integration=INTEGRATION, batch_size=200)
        out["first_produce_s"] = time.perf_counter() - started
        keys = _keys(store)
        out["stories"] = len(keys)
        out["hunting"] = hunting_expectation(keys)
        if not args.network_only:
            print(f"[{name}] {len(keys):,} stories; rebuilding without inputs", flush=True)
            out["rebuild_without_inputs"] = _rebuild(store)
        plan = EventPlan.for_stories(keys, plant_every=args.plant_every)
        for label in ("half", "full"):
            load = _load()
            added, storing, started = 0, 0.0, time.perf_counter()
            for batch in _batches(plan, label, args, events):
                stored = time.perf_counter()
                added += store.evidence.add_network_events(batch)[0]
                storing += time.perf_counter() - stored
            total = time.perf_counter() - started
            out[f"load_{label}"] = {
                "elapsed": storing,
                "synthesis": total - storing,
                "added": added,
                "load": load,
            }
            print(f"[{name}] {label}: {added:,} events stored; network part", flush=True)
            out[f"network_{label}"] = _network_part(store, keys)
            if not args.network_only:
                print(f"[{name}] {label}: correlate", flush=True)
                out[f"correlate_{label}"] = _correlate(store, simulator)
        if not args.network_only:
            print(f"[{name}] rebuilding with inputs", flush=True)
            out["rebuild_with_inputs"] = _rebuild(store)
        slice_keys = [k for k in keys if k.received_at is not None][: args.slice]
        out["network_slice"] = _network_part(store, slice_keys)
        out["keys"] = keys
    finally:
        store.close()
    return out


def _naive(keys: list[Any], events: list[Any], slice_size: int) -> dict[str, Any]:
    from correlate_data import naive_scan

    slice_keys = [k for k in keys if k.received_at is not None][:slice_size]
    load = _load()
    started = time.perf_counter()
    matches = naive_scan(slice_keys, events)
    elapsed = time.perf_counter() - started
    return {
        "elapsed": elapsed,
        "stories": len(slice_keys),
        "events": len(events),
        "matches": matches,
        "load": load,
    }


def _summary(r: dict[str, Any], naive: dict[str, Any] | None, events: int) -> dict[str, Any]:
    nh, nf = r["network_half"], r["network_full"]
    stored = r["load_half"]["elapsed"] + r["load_full"]["elapsed"]
    s: dict[str, Any] = {
        "stories": r["stories"],
        "store_events_s": stored,
        "store_events_per_s": events / stored,
        "synthesis_s": r["load_half"].get("synthesis", 0) + r["load_full"].get("synthesis", 0),
        "network_half_s": nh["elapsed"],
        "network_full_s": nf["elapsed"],
        "network_doubling": nf["elapsed"] / nh["elapsed"],
        "network_query_full_s": nf["query"],
        "network_matching_full_s": nf["matching"],
        "candidates_full": nf["candidates"],
        "matches_full": nf["matches"],
        **r["hunting"],
        "slice_indexed_s": r["network_slice"]["elapsed"],
        "slice_indexed_matches": r["network_slice"]["matches"],
        "loads": {k: v["load"] for k, v in r.items() if isinstance(v, dict) and "load" in v},
    }
    if "correlate_full" in r:
        ch, cf = r["correlate_half"], r["correlate_full"]
        without, with_ = r["rebuild_without_inputs"], r["rebuild_with_inputs"]
        s |= {
            "correlate_half_s": ch["elapsed"],
            "correlate_full_s": cf["elapsed"],
            "correlate_doubling": cf["elapsed"] / ch["elapsed"],
            "correlate_changed": cf["changed"],
            "hunting_calls": cf["hunting_calls"],
            "simulator_hunting_calls": cf["simulator_hunting_calls"],
            "produce_without_inputs_per_s": without["stories"] / without["elapsed"],
            "produce_with_inputs_per_s": with_["stories"] / with_["elapsed"],
        }
        s["produce_ratio"] = s["produce_with_inputs_per_s"] / s["produce_without_inputs_per_s"]
    if naive:
        s["naive_vs_indexed_slice"] = naive["elapsed"] / r["network_slice"]["elapsed"]
        s["naive_extrapolated_s"] = naive["elapsed"] * r["stories"] / naive["stories"]
        s["naive_vs_indexed_all"] = s["naive_extrapolated_s"] / nf["elapsed"]
    return s


def _rows(name: str, s: dict[str, Any], naive: dict[str, Any] | None, events: int) -> list[tuple[str, ...]]:
    rows = [
        (name, "stories / events", f"{s['stories']:,} / {events:,}"),
        (
            name,
            "store events (not a target)",
            f"{s['store_events_s']:.1f} s ({s['store_events_per_s']:,.0f}/s; synthesis apart)",
        ),
        (
            name,
            "network part, E/2 -> E",
            f"{s['network_half_s']:.2f} s -> {s['network_full_s']:.2f} s (x{s['network_doubling']:.2f}; "
            f"query {s['network_query_full_s']:.2f} s, matching {s['network_matching_full_s']:.2f} s; "
            f"{s['candidates_full']:,} candidates, {s['matches_full']:,} matches)",
        ),
        (
            name,
            "hunting: planned / expected_call_count / 5 x ceil(messages/100)",
            f"{s['planned_queries']} / {s['expected_call_count']} / {s['tables_x_ceil_messages']} "
            f"({s['messages']:,} messages)",
        ),
    ]
    if "correlate_full_s" in s:
        rows += [
            (
                name,
                "correlate end to end, E/2 -> E",
                f"{s['correlate_half_s']:.1f} s -> {s['correlate_full_s']:.1f} s "
                f"(x{s['correlate_doubling']:.2f}; {s['correlate_changed']:,} stories rebuilt; "
                f"{s['hunting_calls']} hunting calls, the simulator saw {s['simulator_hunting_calls']})",
            ),
            (
                name,
                "produce without / with inputs",
                f"{s['produce_without_inputs_per_s']:,.0f} / {s['produce_with_inputs_per_s']:,.0f} "
                f"stories/s (x{s['produce_ratio']:.3f})",
            ),
        ]
    if naive:
        rows.append(
            (
                name,
                f"naive vs indexed, {naive['stories']} stories",
                f"{naive['elapsed']:.2f} s vs {s['slice_indexed_s']:.3f} s "
                f"(x{s['naive_vs_indexed_slice']:,.0f}); all {s['stories']:,}: "
                f"~{s['naive_extrapolated_s']:,.0f} s vs {s['network_full_s']:.2f} s "
                f"(x{s['naive_vs_indexed_all']:,.0f}); matches {naive['matches']} vs "
                f"{s['slice_indexed_matches']}",
            )
        )
    return rows


def _print_report(results: dict[str, Any], naive: dict[str, Any] | None, args: argparse.Namespace) -> dict:
    summary: dict[str, Any] = {"stories_requested": args.stories, "events": args.events}
    rows: list[tuple[str, ...]] = []
    for name, r in results.items():
        summary[name] = _summary(r, naive, args.events)
        rows += _rows(name, summary[name], naive, args.events)
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    print()
    for row in rows:
        print(f"{row[0].ljust(widths[0])}  {row[1].ljust(widths[1])}  {row[2]}")
    if naive:
        summary["naive"] = naive
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stories", type=int, default=10_000, help="incidents to generate (default 10,000)")
    parser.add_argument("--events", type=int, default=2_000_000, help="network events (default 2,000,000)")
    parser.add_argument("--slice", type=int, default=20, help="stories in the naive baseline (default 20)")
    parser.add_argument("--plant-every", type=int, default=100, help="one event in this many is planted")
    parser.add_argument("--skip-postgres", action="store_true", help="no PostgreSQL run")
    parser.add_argument("--skip-sqlite", action="store_true", help="no SQLite run")
    parser.add_argument(
        "--network-only",
        action="store_true",
        help="only the network part and the naive baseline: no correlate run, no producer comparison",
    )
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="xops-bench-corr-"))
    os.environ.setdefault("AIRFLOW_HOME", str(tmp / "airflow"))
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
    from correlate_data import BenchDatabase

    from xops_provider.simulator.process import SimulatorProcess

    started = dt.datetime.now(dt.UTC)
    print(f"started {started:%Y-%m-%d %H:%M} UTC, load {_load()}", flush=True)
    simulator = SimulatorProcess.start(
        tmp / "simulator", scenario="generated", incidents=args.stories, seed=1, timeout=600
    )
    results: dict[str, Any] = {}
    events: dict[str, list[Any]] = {}
    naive = None
    try:
        os.environ["AIRFLOW_CONN_MS_TENANT_DEFAULT"] = simulator.connection_json
        simulator.admin.set_faults("hunting_quota=off")
        if not args.skip_sqlite:
            results["sqlite"] = run_backend("sqlite", f"sqlite:///{tmp}/bench.db", simulator, args, events)
        if not args.skip_postgres:
            with BenchDatabase() as url:
                results["postgres"] = run_backend("postgres", url, simulator, args, events)
        if results and args.slice:
            # In memory, so once for both backends: the same stories and events.
            print(f"[naive] {args.slice} stories x {args.events:,} events", flush=True)
            first = next(iter(results.values()))
            naive = _naive(first["keys"], [*events.pop("half"), *events.pop("full")], args.slice)
    finally:
        simulator.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    for r in results.values():
        r.pop("keys", None)
    summary = _print_report(results, naive, args)
    summary["started"] = f"{started:%Y-%m-%d %H:%M} UTC"
    summary["finished"] = f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
    summary["raw"] = results
    print("\nJSON: " + json.dumps(summary, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
