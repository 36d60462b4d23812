"""Health classification: a run's outcome as ``Connected``, ``Pending consent`` or ``Error: ...``."""

from __future__ import annotations

import pytest

from xops_provider.clients.errors import (
    CredentialError,
    GraphError,
    GraphForbiddenError,
    GraphServerError,
    GraphThrottledError,
    GraphUnreachableError,
    TenantNotFoundError,
)
from xops_provider.models.health import (
    CONNECTED,
    PENDING_CONSENT,
    classify,
    format_duration,
    lag_seconds,
    run_outcome,
)
from xops_provider.models.timestamps import GraphTime

SECRET = "s3cr3t-value-in-a-message"


class TestClassify:
    def test_good_run(self):
        assert classify(None) == CONNECTED

    @pytest.mark.parametrize(
        "error",
        [
            pytest.param(GraphForbiddenError("Missing role", status=403, code="Forbidden"), id="403"),
            pytest.param(CredentialError("AADSTS65001: no consent", aadsts=65001), id="aadsts-65001"),
            pytest.param(CredentialError("AADSTS7000229: no service principal", aadsts=7000229), id="no-sp"),
        ],
    )
    def test_pending_consent(self, error):
        assert classify(error) == PENDING_CONSENT

    @pytest.mark.parametrize(
        ("error", "expected"),
        [
            pytest.param(
                CredentialError(f"AADSTS7000215: bad secret {SECRET}", aadsts=7000215, status=401),
                "Error: credentials refused (401, AADSTS7000215)",
                id="wrong-secret",
            ),
            pytest.param(
                TenantNotFoundError(SECRET, status=400), "Error: tenant not found (400)", id="tenant"
            ),
            pytest.param(
                GraphThrottledError(SECRET, status=429, code="TooManyRequests"),
                "Error: throttled by Graph (429, TooManyRequests)",
                id="throttled",
            ),
            pytest.param(GraphServerError(SECRET, status=503), "Error: Graph server error (503)", id="5xx"),
            pytest.param(GraphUnreachableError(SECRET), "Error: Graph unreachable", id="unreachable"),
            pytest.param(
                GraphError(SECRET, status=418, code="<b>odd code</b>"),
                "Error: Graph request failed (418, boddcodeb)",
                id="odd-code-kept-to-identifier",
            ),
            pytest.param(RuntimeError(f"postgresql://u:{SECRET}@db"), "Error: RuntimeError", id="other"),
        ],
    )
    def test_error_reason_is_short_and_secret_free(self, error, expected):
        status = classify(error)
        assert status == expected
        assert SECRET not in status


class TestRunOutcome:
    def test_good(self):
        outcome = run_outcome(throttled=2, quarantined=1)
        assert (outcome.ok, outcome.status, outcome.error) == (True, CONNECTED, None)
        assert (outcome.throttled, outcome.quarantined) == (2, 1)

    def test_pending_consent_keeps_a_reason(self):
        outcome = run_outcome(GraphForbiddenError("x", status=403))
        assert (outcome.ok, outcome.status) == (False, PENDING_CONSENT)
        assert outcome.error == "application permission missing (403)"


class TestLag:
    NOW = GraphTime.parse("2026-03-01T12:00:00Z")

    def test_none_before_the_first_batch(self):
        assert lag_seconds(None, now=self.NOW) is None

    def test_seconds_behind(self):
        assert lag_seconds(self.NOW.shift(seconds=-90.5), now=self.NOW) == 90.5

    def test_never_negative(self):
        assert lag_seconds(self.NOW.shift(seconds=5), now=self.NOW) == 0.0

    @pytest.mark.parametrize(
        ("seconds", "text"),
        [
            pytest.param(None, "unknown", id="unknown"),
            pytest.param(7.9, "7s", id="seconds"),
            pytest.param(306, "5m 6s", id="minutes"),
            pytest.param(3 * 3600 + 240, "3h 4m", id="hours"),
            pytest.param(86_400 + 7200, "1d 2h", id="days"),
        ],
    )
    def test_format(self, seconds, text):
        assert format_duration(seconds) == text
