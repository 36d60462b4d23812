"""Graph error parsing and the client's models against real third-party payloads."""

from __future__ import annotations

import json

import pytest

from tests.paths import REAL_GRAPH
from xops_provider.clients.errors import (
    CredentialError,
    GraphBadRequestError,
    GraphError,
    GraphForbiddenError,
    GraphNotFoundError,
    GraphServerError,
    GraphThrottledError,
    GraphUnauthorizedError,
    aadsts_code,
    parse_graph_error,
)
from xops_provider.clients.graph import parse_retry_after
from xops_provider.models.incident import Alert, Incident


def _load(name: str) -> dict:
    return json.loads((REAL_GRAPH / name).read_text())


class TestRealGraphPayloads:
    def test_every_graph_file_is_covered(self):
        covered = {
            "incidents_expand_alerts_msdocs.json",
            "alert_mdo_wazuh_docs.json",
            "error_429_throttled.json",
            "error_top_limit_400.json",
            "token_responses.json",
        }
        assert {p.name for p in REAL_GRAPH.glob("*.json")} == covered

    def test_incidents_page_parses(self):
        (incident,) = [
            Incident.model_validate(item) for item in _load("incidents_expand_alerts_msdocs.json")["value"]
        ]
        assert isinstance(incident, Incident)
        assert incident.id == "2972395"
        assert incident.last_update.isoformat() == "2021-09-30T09:35:45.1133333Z"
        assert incident.alerts
        assert incident.custom_tags  # "tags" in this sample

    def test_mdo_alert_parses(self):
        alert = Alert.model_validate(_load("alert_mdo_wazuh_docs.json"))
        assert alert.is_mdo
        assert alert.evidence

    def test_throttling_body(self):
        sample = _load("error_429_throttled.json")
        http = sample.pop("_http")
        err = parse_graph_error(http["status"], json.dumps(sample), http["headers"])
        assert isinstance(err, GraphThrottledError)
        assert err.code == "TooManyRequests"
        assert err.request_id == "94fb3b52-452a-4535-a601-69e0a90e3aa2"
        assert parse_retry_after(http["headers"]["Retry-After"]) == 10.0

    def test_top_limit_body_with_empty_code(self):
        err = parse_graph_error(400, (REAL_GRAPH / "error_top_limit_400.json").read_bytes())
        assert isinstance(err, GraphBadRequestError)
        assert err.code is None
        assert "limit of '50'" in err.message
        assert err.request_id == "65fe78a8-cade-409c-9e18-61374c132118"

    def test_token_error_body(self):
        sample = _load("token_responses.json")["error_400_invalid_scope"]
        assert aadsts_code(sample["error_description"]) == 70011
        err = CredentialError(sample["error_description"].splitlines()[0], code=sample["error"], aadsts=70011)
        assert "AADSTS70011" in str(err)
        assert err.code == "invalid_scope"


class TestParseGraphError:
    @pytest.mark.parametrize(
        ("status", "expected"),
        [
            pytest.param(400, GraphBadRequestError, id="400"),
            pytest.param(401, GraphUnauthorizedError, id="401"),
            pytest.param(403, GraphForbiddenError, id="403"),
            pytest.param(404, GraphNotFoundError, id="404"),
            pytest.param(429, GraphThrottledError, id="429"),
            pytest.param(500, GraphServerError, id="500"),
            pytest.param(503, GraphServerError, id="503"),
            pytest.param(409, GraphError, id="409"),
        ],
    )
    def test_status_maps_to_type(self, status, expected):
        err = parse_graph_error(status, {"error": {"code": "X", "message": "m"}})
        assert type(err) is expected
        assert err.status == status

    def test_html_from_a_proxy(self):
        err = parse_graph_error(502, "<html><body>Bad gateway</body></html>")
        assert isinstance(err, GraphServerError)
        assert "non-JSON" in err.message

    def test_header_request_id_wins(self):
        err = parse_graph_error(404, "{}", {"request-id": "abc"})
        assert err.request_id == "abc"
        assert err.message == "HTTP 404"

    def test_echoed_jwt_is_redacted_and_message_clipped(self):
        token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl"
        err = parse_graph_error(
            401, {"error": {"code": "InvalidAuthenticationToken", "message": f"bad {token} " * 50}}
        )
        assert token not in str(err)
        assert token not in repr(err)
        assert len(err.message) <= 500


class TestParseRetryAfter:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            pytest.param("2.128", 2.128, id="fractional"),
            pytest.param("10", 10.0, id="integer"),
            pytest.param("0", 0.0, id="zero"),
            pytest.param("-3", 0.0, id="negative-clamped"),
            pytest.param("", None, id="empty"),
            pytest.param(None, None, id="absent"),
            pytest.param("soon", None, id="garbage"),
            pytest.param("nan", None, id="nan"),
        ],
    )
    def test_seconds(self, value, expected):
        assert parse_retry_after(value) == expected

    def test_http_date(self):
        assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412480.0) == pytest.approx(30.0)
