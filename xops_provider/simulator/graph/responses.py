"""Pieces of Graph's OData answers shared by the simulator's Graph APIs."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import Response

from xops_provider.simulator.graph.errors import GRAPH_JSON, GraphError
from xops_provider.simulator.graph.filters import ODataError
from xops_provider.simulator.identity import base_url
from xops_provider.simulator.store import dumps


def graph_json(content: bytes) -> Response:
    """A 200 with Graph's OData JSON media type.

    :param content: the encoded body.
    """
    return Response(content=content, media_type=GRAPH_JSON, headers={"OData-Version": "4.0"})


def odata_error(error: ODataError) -> GraphError:
    """Graph's 400 for a refused query option (with ``details: []``, as Graph sends).

    :param error: the refusal.
    """
    return GraphError(400, error.code, error.message, details=[])


def context(request: Request, fragment: str) -> bytes:
    """The encoded ``"@odata.context":"…"`` member.

    :param request: the request (its host names the service).
    :param fragment: what follows ``$metadata#``.
    """
    return b'"@odata.context":' + dumps(f"{base_url(request)}/v1.0/$metadata#{fragment}").encode()


def next_link(request: Request, path: str, options: dict[str, str], *, skip: int, top: int) -> bytes:
    """The encoded ``"@odata.nextLink":"…"`` member: the same options, ``$skip`` advanced by ``$top``.

    :param request: the request (its host is the link's).
    :param path: the collection's path, e.g. ``/v1.0/security/incidents``.
    :param options: the request's ``$`` options.
    :param skip: this page's ``$skip``.
    :param top: this page's ``$top``.
    """
    options = dict(options)
    options["$skip"] = str(skip + top)
    options.setdefault("$top", str(top))
    link = f"{base_url(request)}{path}?" + urlencode(options, quote_via=quote, safe="$',():")
    return b'"@odata.nextLink":' + dumps(link).encode()
