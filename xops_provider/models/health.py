"""An integration's health: what one run's outcome says about the connector.

``Connected`` after a good run; ``Pending consent`` when the token works but Microsoft refuses the
data for a missing application permission (an administrator has not granted or consented it yet);
``Error: <reason>`` otherwise. The reason is short and built from the error's type, HTTP status and
codes only, never from its message: a message may quote a connection string or a server's answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from xops_provider.clients.errors import (
    CredentialError,
    ForeignNextLinkError,
    GraphError,
    GraphForbiddenError,
    GraphServerError,
    GraphThrottledError,
    GraphTimeoutError,
    GraphTLSError,
    GraphUnauthorizedError,
    GraphUnreachableError,
    TenantNotFoundError,
)
from xops_provider.models.timestamps import TICKS_PER_SECOND, GraphTime

CONNECTED = "Connected"
PENDING_CONSENT = "Pending consent"
ERROR_PREFIX = "Error: "

#: AADSTS codes that mean "nobody consented to this app in the tenant yet", not "wrong credentials".
_CONSENT_AADSTS = frozenset({65001, 7000229})

# Most specific first: the first matching class names the reason.
_REASONS: tuple[tuple[type[BaseException], str], ...] = (
    (TenantNotFoundError, "tenant not found"),
    (CredentialError, "credentials refused"),
    (GraphUnauthorizedError, "token refused by Graph"),
    (GraphForbiddenError, "application permission missing"),
    (GraphThrottledError, "throttled by Graph"),
    (GraphTimeoutError, "Graph timed out"),
    (GraphUnreachableError, "Graph unreachable"),
    (GraphTLSError, "TLS certificate not trusted"),
    (GraphServerError, "Graph server error"),
    (ForeignNextLinkError, "foreign nextLink refused"),
)


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """One run as the integration's health records it.

    :param ok: the run finished.
    :param status: ``Connected``, ``Pending consent`` or ``Error: <reason>``.
    :param error: the short reason of a failed run (no secret, no server text).
    :param throttled: 429 answers Graph gave during the run.
    :param quarantined: records the run refused.
    """

    ok: bool
    status: str
    error: str | None = None
    throttled: int = 0
    quarantined: int = 0


def classify(error: BaseException | None) -> str:
    """The health status a run's outcome gives.

    :param error: what the run raised; ``None`` for a good run.
    """
    if error is None:
        return CONNECTED
    if isinstance(error, GraphForbiddenError):
        return PENDING_CONSENT
    if isinstance(error, CredentialError) and getattr(error, "aadsts", None) in _CONSENT_AADSTS:
        return PENDING_CONSENT
    return ERROR_PREFIX + error_reason(error)


def error_reason(error: BaseException) -> str:
    """A short reason for a failure, from its type and codes only.

    :param error: what the run raised.
    """
    reason = next((text for kind, text in _REASONS if isinstance(error, kind)), None)
    if reason is None:
        reason = "Graph request failed" if isinstance(error, GraphError) else type(error).__name__
    details = []
    if isinstance(error, GraphError):
        if error.status is not None:
            details.append(str(error.status))
        if isinstance(error, CredentialError) and error.aadsts is not None:
            details.append(f"AADSTS{error.aadsts}")
        elif error.code:
            details.append(_token(error.code))
    return f"{reason} ({', '.join(details)})" if details else reason


def run_outcome(
    error: BaseException | None = None, *, throttled: int = 0, quarantined: int = 0
) -> RunOutcome:
    """The outcome of a run that finished (``error`` is ``None``) or raised ``error``.

    :param error: what the run raised.
    :param throttled: 429 answers during the run.
    :param quarantined: records the run refused.
    """
    return RunOutcome(
        ok=error is None,
        status=classify(error),
        error=None if error is None else error_reason(error),
        throttled=throttled,
        quarantined=quarantined,
    )


def _token(code: str) -> str:
    # Graph's codes are identifiers; anything else a server put there is cut to one.
    kept = "".join(c for c in str(code) if c.isalnum() or c in "._-")
    return kept[:64] or "?"


def lag_seconds(watermark: GraphTime | None, *, now: GraphTime) -> float | None:
    """How far the integration's data is behind: ``now`` minus its sync watermark.

    :param watermark: the sync watermark; ``None`` before the first batch.
    :param now: the clock.
    """
    if watermark is None:
        return None
    return max(0.0, (now.ticks - watermark.ticks) / TICKS_PER_SECOND)


def format_duration(seconds: float | None) -> str:
    """``1d 2h``, ``3h 4m``, ``5m 6s`` or ``7s``; ``unknown`` for ``None``.

    :param seconds: a duration.
    """
    if seconds is None:
        return "unknown"
    whole = int(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"
