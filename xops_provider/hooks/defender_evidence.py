"""Defender's evidence for correlation over Microsoft Graph: advanced hunting and alerts_v2.

:class:`DefenderEvidenceHook` wraps the Graph client of one ``ms_tenant`` connection. Hunting
queries are built by :mod:`xops_provider.correlation.kql` from validated values only; this hook
sends them as they are. A 429 from hunting's own quota (45 calls a minute) is waited out by the
client, which honours ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from xops_provider.clients.errors import GraphInvalidResponseError
from xops_provider.hooks.ms_tenant import MsTenantHook
from xops_provider.models.timestamps import GraphTime

HUNTING_PATH = "/v1.0/security/runHuntingQuery"
ALERTS_PATH = "/v1.0/security/alerts_v2"
#: alerts_v2's largest page.
ALERTS_PAGE_SIZE = 2000


class DefenderEvidenceHook(MsTenantHook):
    """Run hunting queries and list alerts of other Defender products, on an ``ms_tenant`` connection.

    :param ms_tenant_conn_id: the ``ms_tenant`` connection.
    :param kwargs: passed to :class:`~xops_provider.hooks.ms_tenant.MsTenantHook`.
    """

    hook_name = "Microsoft Defender hunting and alerts"

    def __init__(self, *, ms_tenant_conn_id: str = MsTenantHook.default_conn_name, **kwargs: Any) -> None:
        super().__init__(ms_tenant_conn_id=ms_tenant_conn_id, **kwargs)

    @property
    def tenant_id(self) -> str:
        """The tenant the connection names."""
        return self.tenant_config.tenant_id

    def run_hunting_query(self, query: str) -> list[dict[str, Any]]:
        """The rows of one hunting query.

        :param query: KQL from :func:`~xops_provider.correlation.kql.plan_hunting_queries`.
        """
        body = self.get_graph_client().post(HUNTING_PATH, json={"Query": query})
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
