"""The store-and-hook layout against a baseline commit: CPU seconds of the same ingest and produce.

Issue 8 reshaped the store, the sync and the Defender hook without changing behaviour, and asks that
the benchmark ratios stay within 10%. On a shared, loaded machine wall-clock ratios swing by 2x from
one run to the next (``RESULTS.md``), so this compares what the layout can change: the CPU seconds
(user + system, from ``wait4``) that each worker process spends ingesting the same simulator tenant
and producing the same stories, for this tree and for ``--baseline`` (a commit checked out into a
temporary worktree), alternating, best of ``--rounds``.

    .venv/bin/python benchmarks/layout_cpu.py --baseline cd06cae --incidents 5000 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.sync_ingest import _env, _Postgres, _simulator  # noqa: E402


def _cpu_run(tree: Path, mode: str, env: dict[str, str], *extra: str) -> tuple[float, dict[str, Any]]:
    """One worker of ``tree``: its CPU seconds and its JSON result."""
    env = {**env, "PYTHONPATH": str(tree)}
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(
            [sys.executable, str(tree / "benchmarks" / "sync_worker.py"), mode, *extra],
            env=env,
            stdout=out,
            stderr=out,
            cwd=tree,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        lines = [line for line in out.read().splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{tree.name} {mode} failed ({proc.returncode})")
    return usage.ru_utime + usage.ru_stime, json.loads(lines[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", default="cd06cae", help="the commit to compare with")
    parser.add_argument("--incidents", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="xops-layout-"))
    baseline = workdir / "baseline"
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "-q", "--detach", str(baseline), args.baseline],
        check=True,
    )
    trees = {"baseline": baseline, "this tree": REPO}
    best: dict[tuple[str, str], float] = {}
    simulator = _simulator(workdir, args.incidents)
    try:
        env = _env(simulator)
        print(f"simulator ready: {args.incidents:,} incidents; load {os.getloadavg()[0]:.1f}", flush=True)
        for round_ in range(args.rounds):
            for name, tree in trees.items():
                for backend in ("sqlite", "postgres"):
                    with _Postgres() if backend == "postgres" else _sqlite(workdir, name, round_) as url:
                        for mode in ("ingest", "produce"):
                            cpu, result = _cpu_run(tree, mode, env, "--store-url", url)
                            key = (name, f"{mode} {backend}")
                            best[key] = min(best.get(key, cpu), cpu)
                            print(
                                f"round {round_ + 1} {name:<9} {mode} {backend}: {cpu:.2f} CPU s "
                                f"({result.get('stories', result.get('stored', ''))})",
                                flush=True,
                            )
    finally:
        simulator.stop()
        for tree in trees.values():
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=False)

    load = os.getloadavg()[0]
    print(f"\nbest CPU seconds of {args.rounds} rounds, {args.incidents:,} incidents; load {load:.1f}")
    print(f"{'run':<18} {'baseline':>9} {'this tree':>10} {'ratio':>7}")
    ratios = {}
    for run in sorted({run for _, run in best}):
        old, new = best[("baseline", run)], best[("this tree", run)]
        ratios[run] = new / old
        print(f"{run:<18} {old:>9.2f} {new:>10.2f} {new / old:>6.2f}x")
    print("JSON: " + json.dumps({"incidents": args.incidents, "rounds": args.rounds, "ratios": ratios}))
    return 0


class _sqlite:
    def __init__(self, workdir: Path, name: str, round_: int) -> None:
        self.url = f"sqlite:///{workdir}/{name.replace(' ', '_')}-{round_}.db"

    def __enter__(self) -> str:
        return self.url

    def __exit__(self, *exc: object) -> None:
        return None


if __name__ == "__main__":
    sys.exit(main())
