"""Pages per second the simulator serves for ``$top=50&$expand=alerts`` over a generated tenant.

Starts ``xops simulator serve`` as a real process, loads the ``generated`` scenario, and walks every
page with a bare ``requests`` session following ``@odata.nextLink``, as the sync engine will.

    .venv/bin/python benchmarks/simulator_throughput.py [--incidents 20000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import requests

from xops_provider.simulator.process import SimulatorProcess


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _walk(session: requests.Session, url: str, *, ca: str, token: str) -> tuple[int, int, int, list[float]]:
    pages = incidents = size = 0
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {token}"}
    while url:
        started = time.perf_counter()
        response = session.get(url, headers=headers, verify=ca, timeout=120)
        response.raise_for_status()
        body = response.json()
        latencies.append(time.perf_counter() - started)
        pages += 1
        incidents += len(body["value"])
        size += len(response.content)
        url = body.get("@odata.nextLink")
    return pages, incidents, size, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="xops-sim-bench-") as state_dir:
        started = time.perf_counter()
        with SimulatorProcess.start(Path(state_dir)) as simulator:
            boot = time.perf_counter() - started
            started = time.perf_counter()
            simulator.admin.reset(scenario="generated", incidents=args.incidents, seed=args.seed)
            load = time.perf_counter() - started
            ca = str(simulator.ca_path)
            session = requests.Session()
            token = session.post(
                f"{simulator.base_url}/{simulator.tenant_id}/oauth2/v2.0/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": simulator.client_id,
                    "client_secret": simulator.connection["password"],
                    "scope": f"{simulator.base_url}/.default",
                },
                verify=ca,
                timeout=60,
            ).json()["access_token"]
            alerts = simulator.admin.health()["alerts"]
            rss = _rss_mb(simulator.process.pid)
            print(
                f"simulator: start {boot:.1f}s, generate {args.incidents} incidents {load:.1f}s, "
                f"{alerts} alerts, server RSS {rss:.0f} MB"
            )
            for label, query in (
                ("$top=50&$expand=alerts", "$top=50&$expand=alerts&$orderby=lastUpdateDateTime%20asc"),
                ("$top=50 (no expand)", "$top=50&$orderby=lastUpdateDateTime%20asc"),
            ):
                for round_number in range(1, args.rounds + 1):
                    url = f"{simulator.base_url}/v1.0/security/incidents?{query}"
                    started = time.perf_counter()
                    pages, incidents, size, latencies = _walk(session, url, ca=ca, token=token)
                    elapsed = time.perf_counter() - started
                    latencies.sort()
                    p95 = latencies[int(0.95 * (len(latencies) - 1))]
                    print(
                        f"{label} round {round_number}: {pages} pages, {incidents} incidents "
                        f"in {elapsed:.1f}s = "
                        f"{pages / elapsed:.1f} pages/s, {incidents / elapsed:.0f} incidents/s, "
                        f"{size / elapsed / 1e6:.1f} MB/s; page {size / pages / 1e3:.0f} kB, "
                        f"p50 {statistics.median(latencies) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms"
                    )
            print(f"server RSS after the walks: {_rss_mb(simulator.process.pid):.0f} MB")


if __name__ == "__main__":
    main()
