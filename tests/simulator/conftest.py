"""Helpers for the simulator's own tests: an HTTPS session that trusts the simulator's CA, a
Graph session holding a fresh token, and certificate credentials for other apps."""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

import jwt
import pytest
import requests

from tests.certificates import app_certificate
from xops_provider.simulator.identity import JWT_BEARER
from xops_provider.simulator.process import SimulatorProcess

INCIDENTS = "/v1.0/security/incidents"


class VerifyingSession(requests.Session):
    """A session that passes ``verify`` on every request: ``REQUESTS_CA_BUNDLE`` on this machine
    would otherwise override ``Session.verify``, for MSAL's requests too.

    :param ca_path: the CA bundle to trust.
    """

    def __init__(self, ca_path: str) -> None:
        super().__init__()
        self.ca_path = ca_path

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs["verify"] = self.ca_path
        kwargs.setdefault("timeout", 60)
        return super().request(method, url, *args, **kwargs)


class Graph:
    """A tiny Graph caller for assertions on raw answers.

    :param simulator: the running simulator.
    :param token: the bearer token, or ``None`` for none.
    """

    def __init__(self, simulator: SimulatorProcess, token: str | None) -> None:
        self.base_url = simulator.base_url
        self.session = VerifyingSession(str(simulator.ca_path))
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str, **params: Any) -> requests.Response:
        url = path if path.startswith("https://") else self.base_url + path
        return self.session.get(url, params=params or None)

    def list(self, **params: Any) -> requests.Response:
        return self.get(INCIDENTS, **params)

    def walk(self, **params: Any) -> list[dict[str, Any]]:
        """Every incident, following ``@odata.nextLink``."""
        items: list[dict[str, Any]] = []
        response = self.list(**params)
        while True:
            assert response.status_code == 200, response.text
            body = response.json()
            items.extend(body["value"])
            if "@odata.nextLink" not in body:
                return items
            response = self.get(body["@odata.nextLink"])

    def patch(self, incident_id: str, body: dict[str, Any]) -> requests.Response:
        return self.session.patch(f"{self.base_url}{INCIDENTS}/{incident_id}", json=body)

    def post(self, path: str, body: dict[str, Any]) -> requests.Response:
        return self.session.post(self.base_url + path, json=body)


def token_request(
    simulator: SimulatorProcess, *, tenant: str | None = None, **overrides: str | None
) -> requests.Response:
    """``POST`` to the token endpoint with the connection's credentials, overridden as given.

    :param simulator: the simulator.
    :param tenant: the tenant in the URL; the simulator's when omitted.
    :param overrides: form fields to replace (``None`` removes one).
    """
    form: dict[str, str | None] = {
        "grant_type": "client_credentials",
        "client_id": simulator.client_id,
        "client_secret": simulator.connection["password"],
        "scope": f"{simulator.base_url}/.default",
    }
    form.update(overrides)
    session = VerifyingSession(str(simulator.ca_path))
    return session.post(
        f"{simulator.base_url}/{tenant or simulator.tenant_id}/oauth2/v2.0/token",
        data={k: v for k, v in form.items() if v is not None},
    )


def fresh_token(simulator: SimulatorProcess) -> str:
    response = token_request(simulator)
    assert response.status_code == 200, response.status_code
    return response.json()["access_token"]


@pytest.fixture
def graph(simulator: SimulatorProcess) -> Graph:
    """A Graph session with a fresh token for the connector app."""
    return Graph(simulator, fresh_token(simulator))


@pytest.fixture(scope="module")
def certificate() -> tuple[str, str, str]:
    """An RSA key and a self-signed certificate, as an app registration would hold."""
    made = app_certificate()
    return made.key_pem, made.cert_pem, made.sha1


def app_token(simulator: SimulatorProcess, client_id: str, certificate: tuple[str, str, str]) -> str:
    """A token for another app registration, ``client_id``, which authenticates with
    ``certificate`` (registered on it here) as MSAL would.

    :param simulator: the simulator.
    :param client_id: the app's client id.
    :param certificate: ``(key PEM, certificate PEM, SHA-1 thumbprint)`` from the fixture.
    """
    key_pem, cert_pem, sha1 = certificate
    simulator.admin.add_certificate(client_id, cert_pem)
    now = int(time.time())
    claims = {
        "aud": f"{simulator.base_url}/{simulator.tenant_id}/oauth2/v2.0/token",
        "iss": client_id,
        "sub": client_id,
        "exp": now + 600,
        "iat": now,
        "jti": str(uuid.uuid4()),
    }
    x5t = base64.urlsafe_b64encode(bytes.fromhex(sha1)).decode()
    assertion = jwt.encode(claims, key_pem, algorithm="RS256", headers={"x5t": x5t})
    response = token_request(
        simulator,
        client_id=client_id,
        client_secret=None,
        client_assertion=assertion,
        client_assertion_type=JWT_BEARER,
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


HUNTING = "/v1.0/security/runHuntingQuery"
ALERTS = "/v1.0/security/alerts_v2"
CATO = "/api/v1/graphql2"
EVENTS_FEED = (
    "query eventsFeed($accountIDs: [ID!], $marker: String, $filters: [EventFeedFieldFilterInput!]) "
    "{ eventsFeed(accountIDs: $accountIDs, marker: $marker, filters: $filters) "
    "{ marker fetchedCount accounts { id records { time fieldsMap } } } }"
)


def hunt(graph: Graph, query: str) -> requests.Response:
    """``runHuntingQuery`` with ``query``.

    :param graph: the Graph session.
    :param query: the KQL.
    """
    return graph.post(HUNTING, {"Query": query})


def hunt_rows(graph: Graph, query: str) -> list[dict[str, Any]]:
    """The ``results`` of a query that must succeed."""
    response = hunt(graph, query)
    assert response.status_code == 200, response.text
    return response.json()["results"]


def kql_string(value: str) -> str:
    """A KQL string literal for ``value``, escaped as the contract says."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Cato:
    """A caller of the simulated Cato GraphQL feed.

    :param simulator: the running simulator.
    :param api_key: the ``x-api-key`` to send; the simulator's when omitted.
    """

    def __init__(self, simulator: SimulatorProcess, api_key: str | None = None) -> None:
        self.url = simulator.cato["endpoint"] + CATO
        self.account_id = simulator.cato["account_id"]
        self.session = VerifyingSession(str(simulator.ca_path))
        self.api_key = simulator.cato["api_key"] if api_key is None else api_key

    def call(
        self, *, marker: str | None = "", account_ids: list[str] | None = None, **variables: Any
    ) -> dict[str, Any]:
        headers = {"x-api-key": self.api_key} if self.api_key else {}
        body = {
            "query": EVENTS_FEED,
            "variables": {"accountIDs": account_ids or [self.account_id], "marker": marker, **variables},
        }
        response = self.session.post(self.url, json=body, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    def page(self, marker: str | None = "", **variables: Any) -> dict[str, Any]:
        """One ``eventsFeed`` page that must succeed."""
        body = self.call(marker=marker, **variables)
        assert "errors" not in body, body
        return body["data"]["eventsFeed"]

    def walk(self, marker: str = "", **variables: Any) -> tuple[list[list[dict[str, Any]]], str]:
        """Every page until caught up: the pages' records and the final marker."""
        pages = []
        while True:
            feed = self.page(marker, **variables)
            if feed["fetchedCount"] == 0:
                assert feed["marker"] == marker or not marker
                return pages, feed["marker"]
            assert feed["fetchedCount"] == len(feed["accounts"][0]["records"])
            pages.append(feed["accounts"][0]["records"])
            marker = feed["marker"]


@pytest.fixture
def cato(simulator: SimulatorProcess) -> Cato:
    """The simulator's Cato feed, with its API key."""
    return Cato(simulator)
