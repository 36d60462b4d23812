"""The ``cato`` connection and its client: fields, and the real simulator's feed over TLS."""

from __future__ import annotations

import json
import logging

import pytest

from tests.fixtures.simulator import cato_connection_of
from xops_provider.clients.cato import (
    GRAPHQL_PATH,
    CatoClient,
    CatoPermissionError,
    CatoRateLimitError,
    CatoUnreachableError,
    graphql_url,
)
from xops_provider.hooks.cato import CatoEventsHook
from xops_provider.simulator.tls import ensure_tls

CONN_ID = "cato_hook_test"


def _use(monkeypatch, connection: dict, conn_id: str = CONN_ID) -> CatoEventsHook:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))
    return CatoEventsHook(cato_conn_id=conn_id, backoff=0.01)


def _client(connection: dict, **kwargs) -> CatoClient:
    return CatoClient(
        endpoint=connection["host"],
        api_key=connection["password"],
        account_id=connection["login"],
        verify=connection["extra"]["verify"],
        **{"backoff": 0.01, **kwargs},
    )


class TestConfig:
    @pytest.mark.parametrize(
        ("connection", "endpoint", "account"),
        [
            pytest.param(
                {"host": "https://api.catonetworks.com", "login": "4172"},
                "https://api.catonetworks.com/api/v1/graphql2",
                "4172",
                id="host-url-and-login",
            ),
            pytest.param(
                {"host": "api.catonetworks.com", "login": " 4172 "},
                "https://api.catonetworks.com/api/v1/graphql2",
                "4172",
                id="bare-host",
            ),
            pytest.param(
                {"login": "1", "extra": {"endpoint": "https://127.0.0.1:8443/", "account_id": "99"}},
                "https://127.0.0.1:8443/api/v1/graphql2",
                "99",
                id="extras-win",
            ),
            pytest.param(
                {"login": "4172"},
                "https://api.catonetworks.com/api/v1/graphql2",
                "4172",
                id="default-endpoint",
            ),
            pytest.param(
                {"host": "https://cato.example/api/v1/graphql2", "login": "4172"},
                "https://cato.example/api/v1/graphql2",
                "4172",
                id="full-graphql-url",
            ),
        ],
    )
    def test_fields(self, monkeypatch, connection, endpoint, account):
        config = _use(monkeypatch, {"conn_type": "cato", "password": "k", **connection}).config
        assert (config.endpoint, config.account_id, config.verify) == (endpoint, account, True)

    @pytest.mark.parametrize(
        ("connection", "message"),
        [
            pytest.param({"login": "4172"}, "API key is missing", id="no-key"),
            pytest.param({"password": "k"}, "account id is missing", id="no-account"),
            pytest.param(
                {"password": "k", "login": "1", "host": "http://cato.example"}, "https://", id="plain-http"
            ),
            pytest.param(
                {"password": "k", "login": "1", "extra": {"verify": "/nonexistent/ca.pem"}},
                "does not exist",
                id="missing-ca",
            ),
        ],
    )
    def test_bad_fields(self, monkeypatch, connection, message):
        hook = _use(monkeypatch, {"conn_type": "cato", **connection})
        with pytest.raises(ValueError, match=message):
            hook.config
        ok, text = hook.test_connection()
        assert not ok
        assert text.startswith("Invalid connection")

    def test_key_is_not_in_repr(self, monkeypatch):
        hook = _use(monkeypatch, {"conn_type": "cato", "password": "s3cret-key", "login": "1"})
        assert "s3cret-key" not in repr(hook.config)
        assert "s3cret-key" not in repr(hook.get_conn())

    @pytest.mark.parametrize(
        ("endpoint", "url"),
        [
            pytest.param("https://h:1", f"https://h:1{GRAPHQL_PATH}", id="origin"),
            pytest.param("https://h/custom/", "https://h/custom", id="path-kept"),
        ],
    )
    def test_graphql_url(self, endpoint, url):
        assert graphql_url(endpoint) == url


class TestAgainstSimulator:
    def test_connection_ok(self, simulator, monkeypatch):
        ok, message = _use(monkeypatch, cato_connection_of(simulator)).test_connection()
        assert ok, message
        assert "4172" in message

    def test_bad_key_is_explained_without_the_key(self, simulator, monkeypatch, caplog):
        connection = {**cato_connection_of(simulator), "password": "wrong-key-0123456789"}
        caplog.set_level(logging.DEBUG)
        ok, message = _use(monkeypatch, connection).test_connection()
        assert not ok
        assert message.startswith("Permission denied")
        assert "API key" in message
        with pytest.raises(CatoPermissionError, match="permission denied") as raised:
            _client(connection).events_feed(marker=None)
        for text in (message, str(raised.value), caplog.text):
            assert "wrong-key-0123456789" not in text
            assert simulator.cato["api_key"] not in text

    def test_foreign_account_is_refused(self, simulator):
        connection = {**cato_connection_of(simulator), "login": "9999"}
        with pytest.raises(CatoPermissionError, match="account 9999"):
            _client(connection).events_feed(marker=None)

    def test_tls_failure(self, simulator, monkeypatch, tmp_path):
        connection = cato_connection_of(simulator)
        connection["extra"] = {"verify": str(ensure_tls(tmp_path).ca_path)}
        ok, message = _use(monkeypatch, connection).test_connection()
        assert not ok
        assert message.startswith("TLS failure")

    def test_environment_ca_bundle_does_not_override_verify(self, simulator, monkeypatch):
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
        monkeypatch.setenv("CURL_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
        ok, message = _use(monkeypatch, cato_connection_of(simulator)).test_connection()
        assert ok, message

    def test_unreachable(self, simulator, monkeypatch):
        connection = {**cato_connection_of(simulator), "host": "https://127.0.0.1:9"}
        ok, message = _use(monkeypatch, connection).test_connection()
        assert not ok
        assert message.startswith("Unreachable")
        client = _client(connection, max_retries=2)
        with pytest.raises(CatoUnreachableError, match=r"cannot reach 127\.0\.0\.1:9"):
            client.events_feed(marker=None)
        assert (client.counters.requests, client.counters.retries) == (3, 2)

    def test_rate_limit_is_retried(self, simulator, caplog):
        simulator.admin.set_faults("cato_error=2x")
        client = _client(cato_connection_of(simulator))
        caplog.set_level(logging.WARNING)
        page = client.events_feed(marker=None)
        assert page["data"]["eventsFeed"]["fetchedCount"] == 0
        assert (client.counters.rate_limited, client.counters.retries, client.counters.requests) == (2, 2, 3)
        assert "CatoRateLimitError" in caplog.text
        assert simulator.cato["api_key"] not in caplog.text

    def test_rate_limit_beyond_the_retries_is_raised(self, simulator):
        simulator.admin.set_faults("cato_error=5x")
        with pytest.raises(CatoRateLimitError, match="rate limit"):
            _client(cato_connection_of(simulator), max_retries=2).events_feed(marker=None)
