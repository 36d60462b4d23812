"""Workbench load: 50,000 stories, 10 concurrent clients, through a real ``airflow api-server``.

For SQLite and for PostgreSQL (a database of its own on 127.0.0.1:5432, dropped afterwards), it
synthesises the stories (documents shaped like the producer's, about 8 kB, with their entity index),
starts an api-server on loopback serving the Workbench, and has 10 clients with bearer tokens call:

- ``list``: the first page, most critical first;
- ``filter``: status, minimum criticality and indication;
- ``search``: free text, a user prefix (entity index) or a subject word (title);
- ``page 200``: the 200th page of 50, by its cursor;
- ``story``: a story's HTML page;
- ``floor``: the cached filter values, an authenticated answer with no query, for scale.

It prints p50/p95 per request type, then the 200th page read in-process with ``OFFSET`` and with the
keyset cursor, side by side, as a ratio.

    .venv/bin/python benchmarks/workbench_load.py --stories 50000 --requests 200
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import requests
from psycopg import sql

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from xops_provider.store.repository import entity_rows, story_row  # noqa: E402

from xops_provider.store import Store  # noqa: E402
from xops_provider.store import tables as t  # noqa: E402
from xops_provider.store.reads import StoryQuery, StoryReads  # noqa: E402

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
PG_ADMIN = os.environ.get("XOPS_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
GOLDEN = REPO / "tests" / "stories" / "golden" / "story_101.json"
INDICATIONS = ("Phishing", "Malicious URL click", "Campaign", "Malware", "Spam", "User-reported phish")
STATUSES = ("Open", "Open", "Open", "PendingAnalysis", "Monitoring", "Reopened", "Closed")
VERDICTS = (None, None, "Malicious", "Suspicious", "Benign")
CLIENTS = 10
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
PAGE = 50


def synthesise(count: int, *, seed: int = 7) -> Iterator[tuple[dict, list[dict]]]:
    """``(stories row, entity rows)`` for ``count`` stories, from the golden document's shape."""
    rng = random.Random(seed)
    template = json.loads(GOLDEN.read_text())
    template["raw_data"] = template["raw_data"][:1]
    for index in range(count):
        document = copy.deepcopy(template)
        user = f"user{rng.randrange(5000):04d}@corp{rng.randrange(20)}.example"
        sender = f"billing{rng.randrange(2000)}@sender{rng.randrange(1000)}.example"
        domain = f"phish{rng.randrange(1000)}.example"
        minute = index * 10  # ten minutes apart: about a year of stories
        when = time.strftime("%Y-%m-%dT%H:%M:%S.0000000Z", time.gmtime(1_760_000_000 + minute * 60))
        document.update(
            story_id=f"mdo:bench-tenant:{100000 + index}",
            source_incident_id=str(100000 + index),
            integration=f"tenant{index % 3}",
            title=f"Email messages from {sender} removed after delivery: invoice {rng.randrange(10**6)}",
            criticality=rng.randint(1, 10),
            status=rng.choice(STATUSES),
            verdict=rng.choice(VERDICTS),
            indication=rng.choice(INDICATIONS),
            source=user,
            created_at=when,
            updated_at=when,
            first_signal=when,
            last_signal=when,
            campaign_id=f"campaign-{index // 20}" if index % 3 == 0 else None,
        )
        document["entities"] = [
            {"type": "mailbox", "value": user, "roles": ["recipient"]},
            {"type": "user", "value": user, "roles": []},
            {"type": "sender", "value": sender, "roles": ["p2_sender"]},
            {"type": "url", "value": f"https://{domain}/login?id={index}", "roles": ["in_email"]},
            {"type": "domain", "value": domain, "roles": ["url_domain"]},
            {
                "type": "ip",
                "value": f"203.0.{rng.randrange(256)}.{rng.randrange(256)}",
                "roles": ["sender_ip"],
            },
        ]
        row = story_row(document, integration=document["integration"])
        yield row, entity_rows(row["story_id"], document["entities"])


def fill(url: str, count: int) -> float:
    """Write the synthesised stories in batches; returns the seconds it took."""
    started = time.monotonic()
    store = Store.open(url)
    batch_rows: list[dict] = []
    batch_entities: list[dict] = []
    with store.engine.begin() as conn:
        for row, entities in synthesise(count):
            batch_rows.append(row)
            batch_entities += entities
            if len(batch_rows) == 1000:
                conn.execute(t.stories.insert(), batch_rows)
                conn.execute(t.story_entities.insert(), batch_entities)
                batch_rows, batch_entities = [], []
        if batch_rows:
            conn.execute(t.stories.insert(), batch_rows)
            conn.execute(t.story_entities.insert(), batch_entities)
    if store.engine.dialect.name == "postgresql":
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with store.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    store.close()
    return time.monotonic() - started


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def api_server(home: Path, store_conn: str) -> Iterator[tuple[str, str]]:
    """An api-server on loopback serving the Workbench over ``store_conn``; yields (root, token)."""
    port = free_port()
    password = secrets.token_urlsafe(12)
    (home / "passwords.json").write_text(json.dumps({"bench": password}))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))},
        "PYTHONPATH": str(REPO),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "bench:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API_AUTH__JWT_SECRET": "bench-" + "x" * 64,
        "AIRFLOW_CONN_XOPS_STORE": store_conn,
    }
    if not (home / "airflow.db").exists():
        subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True)
    log = (home / f"api-{port}.log").open("wb")
    process = subprocess.Popen(
        [AIRFLOW, "api-server", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    root = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{root}/api/v2/monitor/health", timeout=5).ok:
                    break
            time.sleep(1)
        token = requests.post(
            f"{root}/auth/token", json={"username": "bench", "password": password}, timeout=30
        )
        yield root, token.json()["access_token"]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


def measure(
    call: Callable[[requests.Session, int], requests.Response], requests_total: int, token: str
) -> list[float]:
    """Latencies (ms) of ``requests_total`` calls spread over :data:`CLIENTS` concurrent clients."""
    per_client = requests_total // CLIENTS

    def client(number: int) -> list[float]:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        times = []
        for turn in range(per_client):
            started = time.perf_counter()
            response = call(session, number * per_client + turn)
            times.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
        return times

    with ThreadPoolExecutor(CLIENTS) as pool:
        return [value for values in pool.map(client, range(CLIENTS)) for value in values]


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1]


def run_backend(name: str, url: str, store_conn: str, home: Path, args: argparse.Namespace) -> dict:
    print(
        f"\n== {name}: filling {args.stories:,} stories (load average {os.getloadavg()[0]:.1f})", flush=True
    )
    print(f"   filled in {fill(url, args.stories):.1f}s", flush=True)
    reads = StoryReads.open(url)
    cursor, last_page = None, min(200, args.stories // PAGE)
    for _ in range(last_page - 1):
        cursor = reads.page(StoryQuery(), cursor=cursor, limit=PAGE).next_cursor
    keyset_ms, offset_ms = [], []
    for _ in range(args.inprocess):
        started = time.perf_counter()
        keyset = reads.page(StoryQuery(), cursor=cursor, limit=PAGE).stories
        keyset_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        offset = reads.offset_page(StoryQuery(), offset=(last_page - 1) * PAGE, limit=PAGE)
        offset_ms.append((time.perf_counter() - started) * 1000)
    assert [s["story_id"] for s in keyset] == [s["story_id"] for s in offset]
    reads.close()
    ids = [f"mdo:bench-tenant:{100000 + i}" for i in random.Random(3).sample(range(args.stories), 500)]
    terms = [f"user{n:04d}" for n in range(0, 5000, 37)] + [
        "invoice 12",
        "sender99.example",
        "phish42.example",
    ]
    figures: dict[str, list[float]] = {}
    with api_server(home, store_conn) as (root, token):
        api = f"{root}/stories/api/stories"
        scenarios = {
            # The floor: an authenticated answer without a query (the facets are cached).
            "floor (cached)": lambda s, i: s.get(f"{root}/stories/api/facets"),
            "list": lambda s, i: s.get(api, params={"limit": PAGE}),
            "filter": lambda s, i: s.get(
                api,
                params={
                    "status": "Open",
                    "min_criticality": 7,
                    "indication": INDICATIONS[i % len(INDICATIONS)],
                },
            ),
            "search": lambda s, i: s.get(api, params={"q": terms[i % len(terms)]}),
            f"page {last_page} (cursor)": lambda s, i: s.get(api, params={"limit": PAGE, "cursor": cursor}),
            "story page": lambda s, i: s.get(f"{root}/stories/story/{ids[i % len(ids)]}"),
        }
        for scenario, call in scenarios.items():
            measure(call, CLIENTS * 2, token)  # warm-up
            figures[scenario] = measure(call, args.requests, token)
    print(f"   {'request':<20} {'p50 ms':>8} {'p95 ms':>8}   ({args.requests} requests, {CLIENTS} clients)")
    for scenario, values in figures.items():
        print(f"   {scenario:<20} {statistics.median(values):8.1f} {p(values, 95):8.1f}")
    offset_p50, keyset_p50 = statistics.median(offset_ms), statistics.median(keyset_ms)
    print(
        f"   page {last_page} in-process: OFFSET {offset_p50:.1f} ms (p95 {p(offset_ms, 95):.1f}), "
        f"keyset {keyset_p50:.1f} ms (p95 {p(keyset_ms, 95):.1f}): "
        f"OFFSET/keyset = {offset_p50 / keyset_p50:.1f}x"
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stories", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=200, help="requests per type, over all clients")
    parser.add_argument("--inprocess", type=int, default=30, help="in-process reads of page 200 each way")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="xops-wb-bench-") as folder:
        home = Path(folder)
        sqlite_path = home / "stories.db"
        run_backend(
            "SQLite",
            f"sqlite:///{sqlite_path}",
            json.dumps({"conn_type": "sqlite", "host": str(sqlite_path)}),
            home,
            args,
        )
        if args.skip_postgres:
            return
        name = f"xops_bench_wb_{os.getpid()}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            base = PG_ADMIN.rsplit("/", 1)[0]
            host = base.split("@")[-1].split(":")[0]
            conn_json = json.dumps(
                {"conn_type": "postgres", "host": host, "port": 5432, "login": "postgres", "schema": name}
            )
            run_backend("PostgreSQL", f"{base}/{name}", conn_json, home, args)
        finally:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


if __name__ == "__main__":
    main()
