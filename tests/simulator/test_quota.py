"""``quota=N/P``: Graph's request ceiling per app, over the real simulator.

Quotas here are either small per second, where a test waits, or per hour, where nothing in a test
can leave the window; so the assertions are on counts and headers, never on how fast things ran.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.simulator.conftest import (
    INCIDENTS,
    Graph,
    VerifyingSession,
    app_token,
    fresh_token,
    token_request,
)
from xops_provider.simulator.admin import SimulatorAdminError
from xops_provider.simulator.process import SimulatorProcess

OTHER_APP = "0d6b7a52-41c3-4e8f-9a27-c35e1f84b690"


def _retry_after(response: requests.Response, *, period: float) -> float:
    """The ``Retry-After`` of a quota refusal, checked against Graph's 429 shape."""
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert error["code"] == "TooManyRequests"
    assert set(error["innerError"]) == {"date", "request-id", "client-request-id"}
    assert error["innerError"]["request-id"] == response.headers["request-id"]
    wait = float(response.headers["Retry-After"])
    assert 0 < wait <= period
    return wait


def _graph_count(simulator: SimulatorProcess, status: int) -> int:
    return simulator.admin.count(route=INCIDENTS, status=status)


class TestQuota:
    def test_burst_over_the_quota_is_refused(self, simulator, graph):
        simulator.admin.set_faults("quota=5/h")
        responses = [graph.list() for _ in range(8)]
        assert [r.status_code for r in responses] == [200] * 5 + [429] * 3
        waits = [_retry_after(r, period=3600) for r in responses[5:]]
        # The wait counts down to the first admission leaving the window.
        assert waits == sorted(waits, reverse=True)
        assert (_graph_count(simulator, 200), _graph_count(simulator, 429)) == (5, 3)
        assert simulator.admin.count(status=429) == 3

    def test_a_client_honouring_retry_after_sustains_the_quota(self, simulator, graph):
        simulator.admin.set_faults("quota=5/s")
        refusals = 0
        for _ in range(15):
            response = graph.list(**{"$top": "1"})
            if response.status_code == 429:
                refusals += 1
                time.sleep(_retry_after(response, period=1))
                response = graph.list(**{"$top": "1"})
            # Never refused twice: Retry-After ends when the oldest admission leaves the window.
            assert response.status_code == 200, response.text
        assert (_graph_count(simulator, 200), _graph_count(simulator, 429)) == (15, refusals)
        assert refusals <= 10

    def test_refusals_cost_no_quota(self, simulator, graph):
        simulator.admin.set_faults("quota=1/s")
        statuses: list[int] = []
        waits: list[float] = []
        deadline = time.monotonic() + 30
        # Retry early, without honouring Retry-After, until admitted again: were refusals counted,
        # the window would never empty while the client keeps knocking.
        while not (429 in statuses and statuses[-1] == 200):
            assert time.monotonic() < deadline, statuses
            response = graph.list(**{"$top": "1"})
            statuses.append(response.status_code)
            if response.status_code == 429:
                waits.append(_retry_after(response, period=1))
                time.sleep(0.02)
        # One run of refusals, all waiting for the same admission to leave the window.
        assert waits == sorted(waits, reverse=True)

    def test_each_app_has_its_own_quota(self, simulator, graph, certificate):
        simulator.admin.set_faults("quota=2/h")
        assert [graph.list().status_code for _ in range(3)] == [200, 200, 429]
        other = Graph(simulator, app_token(simulator, OTHER_APP, certificate))
        assert [other.list().status_code for _ in range(3)] == [200, 200, 429]
        # The quota belongs to the app, not to one of its tokens.
        assert Graph(simulator, fresh_token(simulator)).list().status_code == 429

    def test_concurrent_requests_admit_exactly_the_quota(self, simulator, graph):
        simulator.admin.set_faults("quota=5/h")
        authorization = graph.session.headers["Authorization"]

        def status(_: int) -> int:
            with VerifyingSession(str(simulator.ca_path)) as session:
                url = simulator.base_url + INCIDENTS
                return session.get(url, headers={"Authorization": authorization}).status_code

        with ThreadPoolExecutor(max_workers=12) as pool:
            statuses = list(pool.map(status, range(24)))
        assert (statuses.count(200), statuses.count(429)) == (5, 19)
        assert (_graph_count(simulator, 200), _graph_count(simulator, 429)) == (5, 19)

    def test_clearing_faults_lifts_the_quota(self, simulator, graph):
        simulator.admin.set_faults("quota=1/h")
        assert [graph.list().status_code for _ in range(2)] == [200, 429]
        simulator.admin.clear_faults()
        assert [graph.list().status_code for _ in range(3)] == [200, 200, 200]
        # Setting it again starts from an empty window.
        simulator.admin.set_faults("quota=1/h")
        assert [graph.list().status_code for _ in range(2)] == [200, 429]

    def test_reset_starts_a_fresh_quota(self, simulator, graph):
        simulator.admin.set_faults("quota=1/h")
        assert [graph.list().status_code for _ in range(2)] == [200, 429]
        simulator.admin.reset(faults="quota=1/h")
        again = Graph(simulator, fresh_token(simulator))
        assert [again.list().status_code for _ in range(2)] == [200, 429]

    def test_only_authenticated_graph_requests_count(self, simulator, graph):
        simulator.admin.set_faults("quota=1/h")
        anonymous = Graph(simulator, None)
        assert [anonymous.list().status_code for _ in range(3)] == [401, 401, 401]
        assert [token_request(simulator).status_code for _ in range(3)] == [200, 200, 200]
        assert simulator.admin.health()["faults"] == "quota=1/h"
        assert [graph.list().status_code for _ in range(2)] == [200, 429]
        assert token_request(simulator).status_code == 200

    def test_shown_by_the_admin_api(self, simulator):
        assert simulator.admin.set_faults("quota=150/min")["quota"] == "150/min"
        assert simulator.admin.faults()["spec"] == "quota=150/min"
        assert simulator.admin.clear_faults()["quota"] is None


class TestQuotaWithOtherFaults:
    def test_throttle_dice_refusals_cost_no_quota(self, simulator, graph):
        simulator.admin.set_faults("429=2x,retry_after=0.2,quota=2/h")
        responses = [graph.list() for _ in range(5)]
        assert [r.status_code for r in responses] == [429, 429, 200, 200, 429]
        assert [r.headers["Retry-After"] for r in responses[:2]] == ["0.2", "0.2"]
        _retry_after(responses[4], period=3600)
        assert _graph_count(simulator, 429) == 3

    def test_a_503_has_reached_the_service_and_counts(self, simulator, graph):
        simulator.admin.set_faults("503=1x,quota=2/h,slow=10ms")
        assert [graph.list().status_code for _ in range(3)] == [503, 200, 429]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param("quota=0/min", "at least 1 request", id="zero"),
        pytest.param("quota=x", "quota needs N/s, N/min or N/h", id="not-a-quota"),
        pytest.param("quota=5/day", "quota needs N/s, N/min or N/h", id="day"),
    ],
)
def test_bad_quota_is_refused_by_the_admin_api(simulator, spec, message):
    simulator.admin.set_faults("quota=5/s")
    with pytest.raises(SimulatorAdminError, match=message) as raised:
        simulator.admin.set_faults(spec)
    assert raised.value.status == 400
    assert simulator.admin.faults()["quota"] == "5/s"
