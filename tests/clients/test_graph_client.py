"""The Graph client against the Defender simulator, over real TLS, with real MSAL tokens."""

from __future__ import annotations

import logging

import pytest

from tests.clients.simulator_support import secret_of, tokens_issued
from xops_provider.clients.errors import (
    GraphBadRequestError,
    GraphError,
    GraphForbiddenError,
    GraphInvalidResponseError,
    GraphNotFoundError,
    GraphServerError,
    GraphThrottledError,
    GraphTimeoutError,
)
from xops_provider.clients.graph import INCIDENTS_PATH, GraphClient
from xops_provider.clients.identity import MsalTokenProvider, TenantConfig
from xops_provider.models.incident import Incident


def _config(sim, **overrides) -> TenantConfig:
    extra = sim.connection["extra"]
    values = {
        "tenant_id": extra["tenant_id"],
        "client_id": sim.client_id,
        "client_secret": secret_of(sim),
        "authority_host": extra["authority_host"],
        "graph_endpoint": extra["graph_endpoint"],
        "verify": extra["verify"],
    }
    values.update(overrides)
    return TenantConfig(**values)


@pytest.fixture
def tokens(sim) -> MsalTokenProvider:
    return MsalTokenProvider(config=_config(sim))


@pytest.fixture
def client(sim, tokens):
    graph = GraphClient(
        base_url=sim.base_url,
        token_provider=tokens,
        verify=str(sim.ca_path),
        timeout=(5.0, 10.0),
        max_retries=4,
        backoff=0.01,
        max_backoff=0.05,
    )
    yield graph
    graph.close()


class TestPaging:
    def test_follows_next_links_to_the_end(self, sim, client):
        sim.admin.load_scenario("generated", incidents=120)
        ids = [
            item["id"] for page in client.iter_pages(INCIDENTS_PATH, {"$top": 50}) for item in page["value"]
        ]
        assert len(ids) == len(set(ids)) == 120
        assert client.counters.requests == 3  # 50 + 50 + 20

    def test_expanded_alerts_parse(self, sim, client):
        sim.admin.load_scenario("company-xyz")
        pages = client.iter_pages(INCIDENTS_PATH, {"$top": 10, "$expand": "alerts"})
        incidents = [Incident.model_validate(item) for page in pages for item in page["value"]]
        assert incidents
        assert any(incident.has_mdo_alert for incident in incidents)

    def test_top_above_fifty_is_graphs_bad_request(self, sim, client):
        with pytest.raises(GraphBadRequestError, match="limit of '50'") as info:
            client.get(INCIDENTS_PATH, {"$top": 100})
        assert info.value.status == 400
        assert info.value.request_id
        assert client.counters.retries == 0

    def test_not_found(self, sim, client):
        with pytest.raises(GraphNotFoundError) as info:
            client.get(f"{INCIDENTS_PATH}/999999999")
        assert info.value.status == 404


class TestTokens:
    def test_one_token_for_many_calls(self, sim, client, tokens):
        sim.admin.load_scenario("generated", incidents=120)
        sim.admin.reset_counters()
        for _ in range(3):
            list(client.iter_pages(INCIDENTS_PATH, {"$top": 50}))
        assert client.counters.requests == 9
        assert tokens_issued(sim) == 1
        assert tokens.tokens_acquired == 1

    def test_revoked_token_is_replaced_once(self, sim, client, tokens):
        client.get(INCIDENTS_PATH, {"$top": 1})
        assert sim.admin.revoke_tokens() == 1
        sim.admin.reset_counters()
        assert client.get(INCIDENTS_PATH, {"$top": 1}) is not None
        assert client.counters.token_refreshes == 1
        assert tokens_issued(sim) == 1
        assert tokens.tokens_acquired == 2

    def test_short_lived_tokens_are_renewed_by_msal(self, sim, client, tokens):
        # MSAL renews a token with less than five minutes left; a 60 s token is never reused.
        sim.admin.set_token_lifetime(60)
        client.get(INCIDENTS_PATH, {"$top": 1})
        client.get(INCIDENTS_PATH, {"$top": 1})
        assert tokens.tokens_acquired == 2
        assert client.counters.token_refreshes == 0


class TestRetries:
    def test_429_storm_with_fractional_retry_after(self, sim):
        waits: list[float] = []
        graph = GraphClient(
            base_url=sim.base_url,
            token_provider=MsalTokenProvider(config=_config(sim)),
            verify=str(sim.ca_path),
            max_retries=5,
            backoff=0.01,
            sleep=waits.append,
        )
        sim.admin.set_faults("429=3x,retry_after=0.128")
        assert "value" in graph.get(INCIDENTS_PATH, {"$top": 1})
        assert waits == [0.128, 0.128, 0.128]
        assert graph.counters.throttled_waits == 3
        assert graph.counters.throttled_seconds == pytest.approx(0.384)
        assert graph.counters.requests == 4
        assert graph.counters.throttled_429 == 3

    def test_retry_after_is_capped(self, sim):
        waits: list[float] = []
        graph = GraphClient(
            base_url=sim.base_url,
            token_provider=MsalTokenProvider(config=_config(sim)),
            verify=str(sim.ca_path),
            max_retries=2,
            max_retry_after=0.05,
            sleep=waits.append,
        )
        sim.admin.set_faults("429=1x,retry_after=3600")
        graph.get(INCIDENTS_PATH, {"$top": 1})
        assert waits == [0.05]

    def test_throttled_after_retries_exhausted(self, sim, client):
        sim.admin.set_faults("429=1.0,retry_after=0.01")
        with pytest.raises(GraphThrottledError) as info:
            client.get(INCIDENTS_PATH, {"$top": 1})
        assert info.value.status == 429
        assert info.value.code == "TooManyRequests"
        assert info.value.retry_after == pytest.approx(0.01)
        assert client.counters.requests == 5
        assert client.counters.retries == 4
        assert client.counters.throttled_429 == 5

    def test_503_is_retried(self, sim, client):
        sim.admin.set_faults("503=2x,retry_after=0.01")
        assert "value" in client.get(INCIDENTS_PATH, {"$top": 1})
        assert client.counters.retries == 2
        assert client.counters.throttled_waits == 2
        assert client.counters.throttled_429 == 0

    def test_persistent_500_on_expand(self, sim, client):
        sim.admin.load_scenario("company-xyz")
        sim.admin.set_faults("expand500=0")
        with pytest.raises(GraphServerError) as info:
            client.get(INCIDENTS_PATH, {"$top": 50, "$expand": "alerts"})
        assert info.value.status == 500
        assert client.counters.retries == 4
        # Without $expand the same page is fine: the caller's fallback has something to stand on.
        assert client.get(INCIDENTS_PATH, {"$top": 50})["value"]

    def test_truncated_body_is_retried(self, sim, client):
        sim.admin.load_scenario("generated", incidents=5)
        sim.admin.set_faults("truncate=2x")
        assert len(client.get(INCIDENTS_PATH, {"$top": 5})["value"]) == 5
        assert client.counters.retries == 2

    def test_truncated_body_every_time(self, sim, client):
        sim.admin.load_scenario("generated", incidents=5)
        sim.admin.set_faults("truncate=1.0")
        with pytest.raises(GraphInvalidResponseError, match="not valid JSON"):
            client.get(INCIDENTS_PATH, {"$top": 5})

    def test_slow_answer_is_a_read_timeout(self, sim):
        graph = GraphClient(
            base_url=sim.base_url,
            token_provider=MsalTokenProvider(config=_config(sim)),
            verify=str(sim.ca_path),
            timeout=(5.0, 0.3),
            max_retries=1,
            backoff=0.01,
        )
        graph._token_provider.get_token()  # the identity endpoints are never slowed
        sim.admin.set_faults("slow=1.5s")
        with pytest.raises(GraphTimeoutError, match="read timeout"):
            graph.get(INCIDENTS_PATH, {"$top": 1})
        assert graph.counters.requests == 2


class TestSecretsStaySecret:
    def test_no_secret_or_token_in_logs_or_errors(self, sim, tokens, caplog):
        caplog.set_level(logging.DEBUG)
        graph = GraphClient(
            base_url=sim.base_url, token_provider=tokens, verify=str(sim.ca_path), max_retries=1, backoff=0.01
        )
        errors: list[GraphError] = []
        graph.get(INCIDENTS_PATH, {"$top": 1})
        token = tokens.get_token()
        sim.admin.set_faults("429=1.0,retry_after=0.01")
        with pytest.raises(GraphError) as throttled:
            graph.get(INCIDENTS_PATH, {"$top": 1})
        errors.append(throttled.value)
        sim.admin.set_faults("")
        sim.admin.revoke_tokens()
        graph.get(INCIDENTS_PATH, {"$top": 1})  # 401, refresh, retry
        with pytest.raises(GraphError) as bad:
            graph.get(INCIDENTS_PATH, {"$top": 500})
        errors.append(bad.value)
        wrong = MsalTokenProvider(config=_config(sim, client_secret="not-the-secret-123"))
        with pytest.raises(GraphError) as refused:
            wrong.get_token()
        errors.append(refused.value)

        new_token = tokens.get_token()
        assert new_token != token
        texts = [caplog.text, *(str(e) for e in errors), *(repr(e) for e in errors)]
        for text in texts:
            for secret in (secret_of(sim), token, new_token, "not-the-secret-123"):
                assert secret not in text
        assert "Graph GET /v1.0/security/incidents -> 429" in caplog.text


class TestWrites:
    def test_patch_and_comment(self, sim, client):
        incident = sim.admin.create_incident(displayName="Phish wave")
        path = f"{INCIDENTS_PATH}/{incident['id']}"
        updated = client.patch(path, {"status": "inProgress", "assignedTo": "analyst@contoso.com"})
        assert updated["status"] == "inProgress"
        assert updated["assignedTo"] == "analyst@contoso.com"
        comments = client.post(
            f"{path}/comments",
            {"@odata.type": "microsoft.graph.security.alertComment", "comment": "triaged by XOps"},
        )
        assert comments["value"][-1]["comment"] == "triaged by XOps"
        assert sim.admin.incident(incident["id"])["status"] == "inProgress"

    def test_post_is_retried_on_429(self, sim, client):
        incident = sim.admin.create_incident()
        sim.admin.set_faults("429=1x,retry_after=0.01")
        comments = client.post(f"{INCIDENTS_PATH}/{incident['id']}/comments", {"comment": "once"})
        assert [c["comment"] for c in comments["value"]].count("once") == 1
        assert client.counters.throttled_waits == 1

    def test_write_without_write_permission(self, sim, client):
        incident = sim.admin.create_incident()
        sim.admin.set_roles(sim.client_id, ["SecurityIncident.Read.All"], revoke_tokens=True)
        with pytest.raises(GraphForbiddenError) as info:
            client.patch(f"{INCIDENTS_PATH}/{incident['id']}", {"status": "resolved"})
        assert info.value.status == 403
        assert client.counters.retries == 0

    def test_invalid_patch_is_a_bad_request(self, sim, client):
        incident = sim.admin.create_incident()
        with pytest.raises(GraphBadRequestError, match="does not exist or cannot be updated"):
            client.patch(f"{INCIDENTS_PATH}/{incident['id']}", {"severity": "high"})
