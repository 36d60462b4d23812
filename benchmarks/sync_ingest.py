"""Benchmark: ingest simulated Defender incidents into SQLite and PostgreSQL, against two baselines.

    .venv/bin/python benchmarks/sync_ingest.py [--incidents N] [--memory-incidents M] [--skip-postgres]

One simulator (scenario ``generated``: about 2 alerts and 10 evidence items per incident) serves
every run. Each run is its own process (``benchmarks/sync_worker.py``), so its peak RSS is its own:

* ``ingest sqlite`` / ``ingest postgres``: ``DefenderIncidentsHook.sync`` into a fresh store;
* ``bare requests``: a plain ``requests`` loop that only pages and parses (the I/O floor);
* ``kiota hook``: the azure provider's ``KiotaRequestAdapterHook`` paging the same endpoint;
* ``produce sqlite`` / ``produce postgres``: the story producer over what each ingest stored, for
  stories a second and the producer's share of the ingest-to-story time (target: below 50%);
* ``ingest sqlite`` again at ``--memory-incidents`` to show that peak memory does not grow with N;
* ``ingest sqlite`` / ``ingest postgres`` once more under Graph's documented quota for the security
  API (``--graph-quota``, 150 requests a minute per app and tenant, enforced by the simulator): the
  ingest a real tenant gets, and so the producer's share of the ingest-to-story time in production.

Baselines and ingests alternate for ``--rounds`` rounds, each on a fresh store, and the best time of
each kind is kept, so that a burst of load on this shared machine does not decide a ratio.

Targets: within 1.5x the bare loop, faster than the Kiota hook, Graph requests at most 5% above
``ceil(N / 50)``, flat memory.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
WORKER = REPO / "benchmarks" / "sync_worker.py"
PG_ADMIN_URL = os.environ.get("XOPS_BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _worker(mode: str, env: dict[str, str], *extra: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, str(WORKER), mode, *extra],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        tail = result.stderr.strip().splitlines()[-15:]
        raise RuntimeError(f"{mode} run failed ({result.returncode}):\n" + "\n".join(tail))
    return json.loads(lines[-1])


class _Postgres:
    """A uniquely named benchmark database on the local server, dropped afterwards."""

    def __init__(self) -> None:
        self.name = f"xops_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"

    def __enter__(self) -> str:
        import psycopg
        from psycopg import sql

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))
        return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{self.name}"

    def __exit__(self, *exc: object) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name)))


def _simulator(workdir: Path, incidents: int) -> Any:
    from xops_provider.simulator.process import SimulatorProcess

    return SimulatorProcess.start(
        workdir / f"simulator-{incidents}", scenario="generated", incidents=incidents, seed=1, timeout=600
    )


def _env(simulator: Any) -> dict[str, str]:
    env = {**os.environ, "AIRFLOW_CONN_MS_TENANT_DEFAULT": simulator.connection_json}
    env.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="xops-bench-airflow-"))
    env["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _best(results: dict[str, dict[str, Any]], name: str, result: dict[str, Any]) -> None:
    if name not in results or result["elapsed"] < results[name]["elapsed"]:
        results[name] = result


def _row(name: str, result: dict[str, Any], incidents: int) -> list[str]:
    rate = result["incidents"] / result["elapsed"] if result["elapsed"] else float("nan")
    floor = math.ceil(incidents / 50)
    return [
        name,
        f"{result['incidents']:,}",
        f"{result['elapsed']:.1f}",
        f"{rate:,.0f}",
        "-"
        if name.startswith("produce")
        else f"{result['requests']:,} / {floor:,} ({100 * (result['requests'] - floor) / floor:+.1f}%)",
        f"{result['peak_rss_mb']:.0f}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--incidents", type=int, default=20_000, help="incidents to ingest (default 20,000)")
    parser.add_argument(
        "--memory-incidents",
        type=int,
        default=100_000,
        help="a second, larger SQLite ingest to compare peak RSS with (default 100,000; 0 skips it)",
    )
    parser.add_argument("--skip-postgres", action="store_true", help="do not ingest into PostgreSQL")
    parser.add_argument(
        "--rounds", type=int, default=2, help="alternating rounds; the best of each kind counts"
    )
    parser.add_argument(
        "--graph-quota",
        default="150/min",
        help="the simulator's request quota for the quota-bound ingests (default 150/min, Graph's "
        "documented limit; 'none' skips them)",
    )
    args = parser.parse_args(argv)

    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="xops-bench-") as tmp:
        workdir = Path(tmp)
        simulator = _simulator(workdir, args.incidents)
        try:
            env = _env(simulator)
            print(f"simulator ready: {args.incidents:,} incidents", flush=True)
            for round_no in range(1, args.rounds + 1):
                _best(results, "bare requests", _worker("bare", env))
                sqlite_url = f"sqlite:///{workdir}/bench-{round_no}.db"
                _best(results, "ingest sqlite", _worker("ingest", env, "--store-url", sqlite_url))
                _best(results, "produce sqlite", _worker("produce", env, "--store-url", sqlite_url))
                if not args.skip_postgres:
                    with _Postgres() as url:
                        _best(results, "ingest postgres", _worker("ingest", env, "--store-url", url))
                        _best(results, "produce postgres", _worker("produce", env, "--store-url", url))
                try:
                    _best(results, "kiota hook", _worker("kiota", env))
                except RuntimeError as err:
                    print(f"  kiota hook failed: {err}", flush=True)
                print(f"  round {round_no} done", flush=True)
            if args.graph_quota != "none":
                simulator.admin.set_faults(f"quota={args.graph_quota}")
                sqlite_url = f"sqlite:///{workdir}/bench-quota.db"
                results["ingest sqlite, Graph quota"] = _worker("ingest", env, "--store-url", sqlite_url)
                if not args.skip_postgres:
                    with _Postgres() as url:
                        results["ingest postgres, Graph quota"] = _worker("ingest", env, "--store-url", url)
                simulator.admin.clear_faults()
                print(f"  quota-bound ingests done ({args.graph_quota})", flush=True)
        finally:
            simulator.stop()
        if args.memory_incidents:
            big = _simulator(workdir, args.memory_incidents)
            try:
                env = _env(big)
                print(f"simulator ready: {args.memory_incidents:,} incidents", flush=True)
                results[f"ingest sqlite N={args.memory_incidents:,}"] = _worker(
                    "ingest", env, "--store-url", f"sqlite:///{workdir}/bench-big.db"
                )
            finally:
                big.stop()

    headers = ["run", "incidents", "seconds", "incidents/s", "Graph requests / ceil(N/50)", "peak RSS MB"]
    rows = [
        _row(name, result, args.memory_incidents if "N=" in name else args.incidents)
        for name, result in results.items()
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print()
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    bare = results["bare requests"]["elapsed"]
    print()
    for name in ("ingest sqlite", "ingest postgres"):
        if name in results:
            ratio = results[name]["elapsed"] / bare
            print(f"{name}: {ratio:.2f}x the bare requests loop (target <= 1.5x)")
            if "kiota hook" in results:
                speedup = results["kiota hook"]["elapsed"] / results[name]["elapsed"]
                print(f"{name}: {speedup:.2f}x the Kiota hook's speed (target > 1x)")
    for backend in ("sqlite", "postgres"):
        produced = results.get(f"produce {backend}")
        if not produced:
            continue
        print(f"produce {backend}: {produced['stories'] / produced['elapsed']:,.0f} stories/s")
        for label, ingest in (
            ("loopback, no quota", results.get(f"ingest {backend}")),
            (f"Graph quota {args.graph_quota}", results.get(f"ingest {backend}, Graph quota")),
        ):
            if ingest:
                share = produced["elapsed"] / (ingest["elapsed"] + produced["elapsed"])
                print(
                    f"  {100 * share:.0f}% of the ingest-to-story time with the ingest at {label} "
                    "(target < 50%)"
                )
    big = next((r for n, r in results.items() if n.startswith("ingest sqlite N=")), None)
    if big is not None:
        print(
            f"peak RSS: {results['ingest sqlite']['peak_rss_mb']:.0f} MB at N={args.incidents:,}, "
            f"{big['peak_rss_mb']:.0f} MB at N={args.memory_incidents:,}"
        )
    print("\nJSON: " + json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
