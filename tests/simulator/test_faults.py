from __future__ import annotations

import json
import time

import pytest

from tests.simulator.conftest import INCIDENTS, Graph, fresh_token, token_request
from xops_provider.simulator.scenarios.company_xyz import MAIN_INCIDENT_ID


class TestThrottling:
    @pytest.mark.parametrize(
        ("spec", "status", "code"),
        [
            pytest.param("429=2x,retry_after=0.2", 429, "TooManyRequests", id="429"),
            pytest.param("503=2x,retry_after=0.2", 503, "ServiceUnavailable", id="503"),
        ],
    )
    def test_next_requests_fail_with_fractional_retry_after(self, simulator, graph, spec, status, code):
        simulator.admin.set_faults(spec)
        first, second, third = graph.list(), graph.list(), graph.list()
        for response in (first, second):
            assert response.status_code == status
            assert response.headers["Retry-After"] == "0.2"
            error = response.json()["error"]
            assert error["code"] == code
            assert error["innerError"]["request-id"] == response.headers["request-id"]
        assert third.status_code == 200

    def test_rate_is_reproducible_from_the_seed(self, simulator, graph):
        def statuses():
            simulator.admin.set_faults("429=0.5")
            return [graph.list(**{"$top": "1"}).status_code for _ in range(16)]

        first = statuses()
        assert set(first) == {200, 429}
        assert statuses() == first

    def test_counted_per_route_and_status(self, simulator, graph):
        simulator.admin.reset_counters()
        simulator.admin.set_faults("429=1x")
        graph.list()
        graph.list()
        assert simulator.admin.count(route=INCIDENTS, status=429) == 1
        assert simulator.admin.count(route=INCIDENTS, status=200) == 1

    def test_never_on_admin_or_identity(self, simulator):
        simulator.admin.set_faults("429=1,503=1,truncate=1,slow=10ms")
        assert simulator.admin.health()["status"] == "ok"
        assert token_request(simulator).status_code == 200


@pytest.mark.simulator(scenario="company-xyz")
class TestExpandFailure:
    def test_page_with_too_many_alerts_fails_only_with_expand(self, simulator, graph):
        simulator.admin.set_faults("expand500=1")
        expanded = graph.list(**{"$expand": "alerts"})
        assert expanded.status_code == 500
        assert expanded.json()["error"]["code"] == "UnknownError"
        assert graph.list().status_code == 200
        alerts = graph.get(f"{INCIDENTS}/{MAIN_INCIDENT_ID}/alerts")
        assert alerts.status_code == 200
        assert len(alerts.json()["value"]) == 2

    def test_page_under_the_limit_passes(self, simulator, graph):
        simulator.admin.set_faults("expand500=2")
        assert graph.list(**{"$expand": "alerts"}).status_code == 200


@pytest.mark.simulator(scenario="company-xyz")
class TestTruncation:
    def test_body_is_cut_short_with_a_consistent_length(self, simulator, graph):
        simulator.admin.set_faults("truncate=1x")
        response = graph.list(**{"$expand": "alerts"})
        assert response.status_code == 200
        assert int(response.headers["Content-Length"]) == len(response.content)
        with pytest.raises(json.JSONDecodeError):
            json.loads(response.content)
        assert graph.list(**{"$expand": "alerts"}).json()["value"]


@pytest.mark.simulator(scenario="generated", incidents=120)
class TestSkipCeiling:
    def test_skip_past_the_ceiling_is_refused(self, simulator, graph):
        simulator.admin.set_faults("skip_ceiling=100")
        first = graph.list(**{"$top": "50"}).json()
        second = graph.get(first["@odata.nextLink"])
        assert second.status_code == 200
        third = graph.get(second.json()["@odata.nextLink"])
        assert third.status_code == 400
        assert third.json()["error"]["code"] == "BadRequest"
        assert "$skip" in third.json()["error"]["message"]


class TestTokens:
    def test_revocation_makes_the_next_request_401(self, simulator, graph):
        assert graph.list().status_code == 200
        assert simulator.admin.revoke_tokens() >= 1
        response = graph.list()
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "InvalidAuthenticationToken"
        assert Graph(simulator, fresh_token(simulator)).list().status_code == 200

    def test_token_lifetime_fault_sets_expires_in(self, simulator):
        simulator.admin.set_faults("token_lifetime=5")
        body = token_request(simulator).json()
        assert (body["expires_in"], body["ext_expires_in"]) == (5, 5)

    def test_expired_token_is_refused(self, simulator):
        simulator.admin.set_token_lifetime(1)
        graph = Graph(simulator, fresh_token(simulator))
        time.sleep(1.1)  # let the one-second token lapse
        response = graph.list()
        assert response.status_code == 401
        assert "expired" in response.json()["error"]["message"]

    def test_reset_restores_the_default_lifetime(self, simulator):
        assert token_request(simulator).json()["expires_in"] == 3599


class TestSlow:
    def test_slow_answers_still_answer(self, simulator, graph):
        simulator.admin.set_faults("slow=20ms")
        assert graph.list().status_code == 200
        assert simulator.admin.faults()["slow"] == pytest.approx(0.02)
