"""One measured run, in its own process so that its peak RSS is its own.

Modes:

* ``ingest``: ``operators.ingest.ingest_incidents`` into the store at ``--store-url``;
* ``bare``: a plain ``requests`` loop that only pages and parses (the I/O floor);
* ``kiota``: the azure provider's ``KiotaRequestAdapterHook`` paging the same endpoint;
* ``produce``: the Generic Incident producer over everything an ``ingest`` run left in ``--store-url``.

The ``ms_tenant`` connection comes from ``AIRFLOW_CONN_MS_TENANT_DEFAULT``. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import resource
import sys
import time
from typing import Any
from urllib.parse import urlsplit

QUERY = {
    "$filter": "lastUpdateDateTime ge 1970-01-01T00:00:00.0000000Z",
    "$orderby": "lastUpdateDateTime asc",
    "$top": "50",
    "$expand": "alerts",
}


def _peak_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _connection() -> dict[str, Any]:
    return json.loads(os.environ["AIRFLOW_CONN_MS_TENANT_DEFAULT"])


def run_ingest(store_url: str) -> dict[str, Any]:
    from xops_provider.hooks.defender import DefenderIncidentsHook
    from xops_provider.models.timestamps import GraphTime
    from xops_provider.operators.ingest import ingest_incidents
    from xops_provider.store import Store

    store = Store.open(store_url)
    hook = DefenderIncidentsHook()
    hook.get_token_provider().get_token()  # the bare loop, too, has its token before the clock starts
    started = time.perf_counter()
    report = ingest_incidents(
        hook,
        store,
        integration="bench",
        lookback=dt.timedelta(days=3650),
        now=GraphTime.from_datetime(dt.datetime.now(dt.UTC)),
    )
    elapsed = time.perf_counter() - started
    counters = hook.get_graph_client().counters
    store.close()
    return {
        "elapsed": elapsed,
        "incidents": report.incidents_seen,
        "stored": report.versions_stored,
        "requests": counters.requests,
        "retries": counters.retries,
        "pages": report.pages,
    }


def _token(conn: dict[str, Any]) -> tuple[str, str, Any]:
    """A client-credentials token fetched with plain requests, as any script would."""
    import requests

    extra = conn["extra"]
    authority = extra["authority_host"].rstrip("/")
    graph = extra["graph_endpoint"].rstrip("/")
    verify = extra.get("verify", True)
    answer = requests.post(
        f"{authority}/{extra['tenant_id']}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": conn["login"],
            "client_secret": conn["password"],
            "scope": f"{graph}/.default",
        },
        verify=verify,
        timeout=30,
    )
    answer.raise_for_status()
    return answer.json()["access_token"], graph, verify


def run_produce(store_url: str) -> dict[str, Any]:
    from xops_provider.store import Store
    from xops_provider.stories.produce import produce

    store = Store.open(store_url)
    started = time.perf_counter()
    report = produce(store.stories, integration="bench", batch_size=200)
    elapsed = time.perf_counter() - started
    store.close()
    counts = report.counts()
    return {
        "elapsed": elapsed,
        "incidents": counts["incidents"],
        "stories": counts["stories_saved"],
        "failed": counts["failed"],
        "requests": 0,
    }


def run_bare() -> dict[str, Any]:
    import requests

    token, graph, verify = _token(_connection())
    session = requests.Session()
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    started = time.perf_counter()
    url: str | None = f"{graph}/v1.0/security/incidents"
    params: dict[str, str] | None = QUERY
    incidents = requests_made = 0
    while url:
        response = session.get(url, params=params, headers=headers, verify=verify, timeout=60)
        response.raise_for_status()
        requests_made += 1
        body = response.json()
        incidents += len(body["value"])
        url, params = body.get("@odata.nextLink"), None
    return {"elapsed": time.perf_counter() - started, "incidents": incidents, "requests": requests_made}


def run_kiota() -> dict[str, Any]:
    """Page with the azure provider's hook, configured on the simulator like a real tenant."""
    from airflow.providers.microsoft.azure.hooks.msgraph import KiotaRequestAdapterHook

    conn = _connection()
    extra = conn["extra"]
    ca = extra.get("verify")
    if isinstance(ca, str) and os.path.exists(ca):
        # httpx and azure-identity read the CA bundle from the environment.
        os.environ["SSL_CERT_FILE"] = ca
        os.environ["REQUESTS_CA_BUNDLE"] = ca
    os.environ["AIRFLOW_CONN_BENCH_MSGRAPH"] = json.dumps(
        {
            "conn_type": "msgraph",
            "host": extra["graph_endpoint"],
            "login": conn["login"],
            "password": conn["password"],
            "extra": {
                "tenant_id": extra["tenant_id"],
                "authority": extra["authority_host"].split("://", 1)[-1].rstrip("/"),
                "api_version": "v1.0",
                "verify": ca if isinstance(ca, str) else True,
                "disable_instance_discovery": True,
                "scopes": f"{extra['graph_endpoint'].rstrip('/')}/.default",
                # Kiota attaches the token only to allowed hosts, compared without the port.
                "allowed_hosts": urlsplit(extra["graph_endpoint"]).hostname,
            },
        }
    )
    hook = KiotaRequestAdapterHook(conn_id="bench_msgraph", host=extra["graph_endpoint"], api_version="v1.0")

    async def page_all() -> tuple[int, int]:
        incidents = requests_made = 0
        url = "security/incidents"
        query: dict[str, str] | None = dict(QUERY)
        while url:
            body = await hook.run(url=url, query_parameters=query)
            requests_made += 1
            incidents += len(body.get("value") or [])
            url, query = body.get("@odata.nextLink"), None
        return incidents, requests_made

    started = time.perf_counter()
    incidents, requests_made = asyncio.run(page_all())
    return {"elapsed": time.perf_counter() - started, "incidents": incidents, "requests": requests_made}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=("ingest", "produce", "bare", "kiota"))
    parser.add_argument("--store-url", help="the store's SQLAlchemy URL (ingest, produce)")
    args = parser.parse_args(argv)
    if args.mode == "ingest":
        result = run_ingest(args.store_url)
    elif args.mode == "produce":
        result = run_produce(args.store_url)
    elif args.mode == "bare":
        result = run_bare()
    else:
        result = run_kiota()
    result["peak_rss_mb"] = round(_peak_rss_mb(), 1)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
