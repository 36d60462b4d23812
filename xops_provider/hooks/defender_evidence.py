"""Defender's evidence for correlation over Microsoft Graph: advanced hunting and alerts_v2.

:class:`DefenderEvidenceHook` wraps the Graph client of one ``ms_tenant`` connection. Hunting
queries are built by :mod:`xops_provider.correlation.kql` from validated values only; this hook
sends them as they are. A 429 from hunting's own quota (45 calls a minute) is waited out by the
client, which honours ``Retry-After``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from xops_provider.clients.errors import GraphInvalidResponseError, GraphThrottledError
from xops_provider.hooks.ms_tenant import MsTenantHook
from xops_provider.models.timestamps import GraphTime

HUNTING_PATH = "/v1.0/security/runHuntingQuery"
ALERTS_PATH = "/v1.0/security/alerts_v2"
#: alerts_v2's largest page.
ALERTS_PAGE_SIZE = 2000
#: How long a run waits out hunting's quota (45 calls a minute) before it calls the source failed.
HUNTING_MAX_WAIT = 600.0


class DefenderEvidenceHook(MsTenantHook):
    """Run hunting queries and list alerts of other Defender products, on an ``ms_tenant`` connection.

    :param ms_tenant_conn_id: the ``ms_tenant`` connection.
    :param max_wait: seconds a query may wait out hunting's quota beyond the client's own retries.
    :param sleep: how to wait (tests pass their own).
    :param kwargs: passed to :class:`~xops_provider.hooks.ms_tenant.MsTenantHook`.
    """

    hook_name = "Microsoft Defender hunting and alerts"

    def __init__(
        self,
        *,
        ms_tenant_conn_id: str = MsTenantHook.default_conn_name,
        max_wait: float = HUNTING_MAX_WAIT,
        sleep: Callable[[float], None] = time.sleep,
        **kwargs: Any,
    ) -> None:
        super().__init__(ms_tenant_conn_id=ms_tenant_conn_id, **kwargs)
        self.max_wait = max_wait
        self._sleep = sleep
        #: Seconds spent waiting out the quota, for the run's report.
        self.waited = 0.0

    @property
    def tenant_id(self) -> str:
        """The tenant the connection names."""
        return self.tenant_config.tenant_id

    def run_hunting_query(self, query: str) -> list[dict[str, Any]]:
        """The rows of one hunting query.

        :param query: KQL from :func:`~xops_provider.correlation.kql.plan_hunting_queries`.
        """
        waited = 0.0
        while True:
            try:
                body = self.get_graph_client().post(HUNTING_PATH, json={"Query": query})
                break
            except GraphThrottledError as err:
                # A 429 storm outlasted the client's retries: wait the quota out, within a bound.
                delay = max(err.retry_after or 1.0, 1.0)
                if waited + delay > self.max_wait:
                    raise
                self.log.warning("Hunting quota reached; waiting %.0f s (Retry-After)", delay)
                self._sleep(delay)
                waited += delay
                self.waited += delay
        results = body.get("results", body.get("Results"))
        if not isinstance(results, list):
            raise GraphInvalidResponseError("a hunting answer without a 'results' list")
        return results

    def iter_alerts(self, *, since: GraphTime, service_sources: Sequence[str]) -> Iterator[dict[str, Any]]:
        """Every alert of the given products created at or after ``since``, following every page.

        :param since: the window's start.
        :param service_sources: Graph's ``serviceSource`` members to read.
        """
        products = " or ".join(f"serviceSource eq '{source}'" for source in service_sources)
        params = {
            "$filter": f"createdDateTime ge {since.isoformat()} and ({products})",
            "$orderby": "createdDateTime asc",
            "$top": str(ALERTS_PAGE_SIZE),
        }
        client = self.get_graph_client()
        body = client.get(ALERTS_PATH, params=params)
        while True:
            value = body.get("value")
            if not isinstance(value, list):
                raise GraphInvalidResponseError("an alerts page without a 'value' list")
            yield from value
            link = body.get("@odata.nextLink")
            if not link:
                return
            body = client.get_next(link)

    def close(self) -> None:
        """Close the Graph client."""
        self.get_graph_client().close()
