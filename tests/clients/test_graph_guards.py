"""The Graph client's guards that the simulator cannot exercise: foreign links, foreign CAs, dead ports."""

from __future__ import annotations

import json
import socket

import pytest

from tests.clients.conftest import StaticTokenProvider, json_answer
from xops_provider.clients.errors import (
    ForeignNextLinkError,
    GraphTLSError,
    GraphUnreachableError,
)
from xops_provider.clients.graph import INCIDENTS_PATH, GraphClient

TOKEN = "static-test-token-0123456789"


def _client(base_url: str, verify, **kwargs) -> GraphClient:
    return GraphClient(
        base_url=base_url,
        token_provider=StaticTokenProvider(TOKEN),
        verify=verify,
        timeout=(2.0, 5.0),
        backoff=0.01,
        **kwargs,
    )


class TestForeignNextLink:
    def test_link_to_another_port_is_refused_and_never_contacted(self, scripted_server_factory):
        graph = scripted_server_factory("graph")
        elsewhere = scripted_server_factory("elsewhere")
        foreign = f"{elsewhere.base_url}{INCIDENTS_PATH}?$skiptoken=abc"
        graph.responder = lambda _h: json_answer(200, {"value": [], "@odata.nextLink": foreign})

        client = _client(graph.base_url, graph.ca_path)
        pages = client.iter_pages(INCIDENTS_PATH, {"$top": 1})
        assert next(pages)["@odata.nextLink"] == foreign
        with pytest.raises(ForeignNextLinkError, match="refusing to send the Graph token"):
            next(pages)
        assert elsewhere.requests == []
        assert len(graph.requests) == 1

    @pytest.mark.parametrize(
        "link",
        [
            pytest.param("http://127.0.0.1:{port}/v1.0/security/incidents", id="http-downgrade"),
            pytest.param("https://localhost:{port}/v1.0/security/incidents", id="other-host-name"),
            pytest.param("https://127.0.0.1:1/v1.0/security/incidents", id="other-port"),
            pytest.param("https://127.0.0.1:{port}@evil.example/v1.0", id="userinfo-trick"),
        ],
    )
    def test_refused_without_any_request(self, scripted_server_factory, link):
        graph = scripted_server_factory("graph")
        port = graph.base_url.rsplit(":", 1)[1]
        client = _client(graph.base_url, graph.ca_path)
        with pytest.raises(ForeignNextLinkError):
            client.get_next(link.format(port=port))
        assert graph.requests == []

    def test_same_origin_link_is_followed_with_default_port_spelled_out(self):
        client = _client("https://graph.microsoft.com", True)
        # The origin check alone: an explicit :443 is the same origin.
        assert (
            client._url("https://graph.microsoft.com:443/v1.0/x") == "https://graph.microsoft.com:443/v1.0/x"
        )
        assert client._url("HTTPS://Graph.Microsoft.com/v1.0/x")


class TestTransportFailures:
    def test_foreign_ca_is_a_tls_error(self, scripted_server_factory):
        graph = scripted_server_factory("graph")
        other = scripted_server_factory("other")  # a second CA the client trusts instead
        client = _client(graph.base_url, other.ca_path)
        with pytest.raises(GraphTLSError, match="not trusted") as info:
            client.get(INCIDENTS_PATH)
        assert client.counters.retries == 0  # a TLS failure is not transient
        assert TOKEN not in str(info.value)
        assert graph.requests == []

    def test_system_bundle_does_not_trust_the_test_ca(self, scripted_server_factory):
        # REQUESTS_CA_BUNDLE stays set on this machine: verify=True means the system CAs.
        graph = scripted_server_factory("graph")
        client = _client(graph.base_url, True)
        with pytest.raises(GraphTLSError):
            client.get(INCIDENTS_PATH)

    def test_session_verify_cannot_be_overridden_by_environment(self, scripted_server_factory):
        import os

        assert os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        graph = scripted_server_factory("graph")
        graph.responder = lambda _h: json_answer(200, {"value": []})
        client = _client(graph.base_url, graph.ca_path)
        assert client.get(INCIDENTS_PATH) == {"value": []}
        (method, path, headers) = graph.requests[0]
        assert method == "GET"
        assert path == INCIDENTS_PATH
        assert headers["Authorization"] == f"Bearer {TOKEN}"
        assert headers["Prefer"] == "include-unknown-enum-members"

    def test_closed_port_is_unreachable_after_bounded_retries(self):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        # Nothing listens on the port any more.
        client = _client(f"https://127.0.0.1:{port}", True, max_retries=2)
        with pytest.raises(GraphUnreachableError, match="cannot reach"):
            client.get(INCIDENTS_PATH)
        assert client.counters.requests == 3
        assert client.counters.retries == 2

    def test_redirects_are_not_followed(self, scripted_server_factory):
        # A redirect would carry the bearer token to the new location.
        graph = scripted_server_factory("graph")
        elsewhere = scripted_server_factory("elsewhere")
        graph.responder = lambda _h: (302, {"Location": f"{elsewhere.base_url}/steal"}, b"")
        client = _client(graph.base_url, graph.ca_path)
        with pytest.raises(Exception, match="302"):
            client.get(INCIDENTS_PATH)
        assert elsewhere.requests == []


class TestRetryRulesOnScriptedAnswers:
    """Answers the simulator does not give: 504, an HTTP-date Retry-After, a 500 after a POST."""

    def test_504_with_http_date_retry_after(self, scripted_server_factory):
        import email.utils
        import time

        graph = scripted_server_factory("graph")
        answers = iter(
            [
                (504, {"Retry-After": email.utils.formatdate(time.time() + 1, usegmt=True)}, b""),
                json_answer(200, {"value": [1]}),
            ]
        )
        graph.responder = lambda _h: next(answers)
        waits: list[float] = []
        client = _client(graph.base_url, graph.ca_path, sleep=waits.append)
        assert client.get(INCIDENTS_PATH) == {"value": [1]}
        assert len(waits) == 1
        assert 0 <= waits[0] <= 2
        assert client.counters.throttled_waits == 1

    def test_post_is_not_repeated_after_a_500(self, scripted_server_factory):
        from xops_provider.clients.errors import GraphServerError

        graph = scripted_server_factory("graph")
        graph.responder = lambda _h: json_answer(
            500, {"error": {"code": "InternalServerError", "message": "x"}}
        )
        client = _client(graph.base_url, graph.ca_path)
        with pytest.raises(GraphServerError):
            client.post(f"{INCIDENTS_PATH}/1/comments", {"comment": "hello"})
        assert len(graph.requests) == 1  # the comment may have been stored: never send it twice

    def test_5xx_get_uses_bounded_jittered_backoff(self, scripted_server_factory):
        from xops_provider.clients.errors import GraphServerError

        graph = scripted_server_factory("graph")
        graph.responder = lambda _h: json_answer(502, {"error": {"code": "BadGateway", "message": "x"}})
        waits: list[float] = []
        client = GraphClient(
            base_url=graph.base_url,
            token_provider=StaticTokenProvider(TOKEN),
            verify=graph.ca_path,
            max_retries=6,
            backoff=0.5,
            max_backoff=2.0,
            sleep=waits.append,
        )
        with pytest.raises(GraphServerError, match="status=502"):
            client.get(INCIDENTS_PATH)
        assert len(waits) == 6
        ceilings = [min(2.0, 0.5 * 2**attempt) for attempt in range(6)]
        for wait, ceiling in zip(waits, ceilings, strict=True):
            assert ceiling / 2 <= wait <= ceiling

    def test_body_cut_off_mid_transfer_is_retried(self, scripted_server_factory):
        graph = scripted_server_factory("graph")
        answers = iter(
            [
                # Content-Length promises more than is sent, then the connection closes.
                (
                    200,
                    {"Content-Type": "application/json", "Content-Length": "500", "Connection": "close"},
                    b'{"va',
                ),
                json_answer(200, {"value": []}),
            ]
        )
        graph.responder = lambda _h: next(answers)
        client = _client(graph.base_url, graph.ca_path)
        assert client.get(INCIDENTS_PATH) == {"value": []}
        assert client.counters.retries == 1


class TestCollectionPages:
    """``get_collection`` keeps each item as the JSON text Graph sent; odd frames fall back."""

    @staticmethod
    def _serve(scripted_server_factory, body: bytes):
        graph = scripted_server_factory("graph")
        graph.responder = lambda _h: (200, {"Content-Type": "application/json"}, body)
        return _client(graph.base_url, graph.ca_path, max_retries=1)

    def test_items_are_the_bytes_graph_sent(self, scripted_server_factory):
        body = (
            b'{"@odata.context": "x", "value": [{"id": "1", "s": "caf\\u00e9 \xc3\xa9"}, '
            b'{"id": 2}], "@odata.nextLink": "https://graph/next"}'
        )
        page = self._serve(scripted_server_factory, body).get_collection(INCIDENTS_PATH)
        assert page.items == [b'{"id": "1", "s": "caf\\u00e9 \xc3\xa9"}', b'{"id": 2}']
        assert page.next_link == "https://graph/next"

    @pytest.mark.parametrize(
        ("body", "items", "next_link"),
        [
            pytest.param(b'{"value": [{"x": NaN}]}', "decoded", None, id="nan-needs-python"),
            pytest.param(b'{"value": {"id": "1"}}', None, None, id="value-not-a-list"),
            pytest.param(b'{"error": "none"}', None, None, id="no-value"),
            pytest.param(b'{"value": [], "@odata.nextLink": 7}', [], None, id="link-not-text"),
            pytest.param(b"", None, None, id="empty-body"),
        ],
    )
    def test_odd_frames(self, scripted_server_factory, body, items, next_link):
        client = self._serve(scripted_server_factory, body)
        page = client.get_collection(INCIDENTS_PATH)
        if items == "decoded":
            assert len(page.items) == 1
            item = json.loads(page.items[0])  # written back as text; NaN stays NaN for Python's parser
            assert item["x"] != item["x"]
        else:
            assert page.items == items
        assert page.next_link == next_link
        assert client.counters.retries == 0

    def test_a_body_that_is_not_json_is_retried_then_refused(self, scripted_server_factory):
        from xops_provider.clients.errors import GraphInvalidResponseError

        client = self._serve(scripted_server_factory, b'{"value": [{"id": "1"')
        with pytest.raises(GraphInvalidResponseError, match="not valid JSON"):
            client.get_collection(INCIDENTS_PATH)
        assert client.counters.retries == 1
