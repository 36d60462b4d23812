"""A client for the simulator's ``/_admin/`` API, shared by tests, benchmarks and the demo."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import requests

from xops_provider.simulator.admin_correlation import CorrelationAdmin


class SimulatorAdminError(RuntimeError):
    """The admin API refused a request.

    :param status: HTTP status.
    :param detail: the server's explanation.
    """

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"simulator admin API answered {status}: {detail}")
        self.status = status
        self.detail = detail


class SimulatorAdmin(CorrelationAdmin):
    """Drive a running simulator.

    ``verify`` is passed on every request because ``REQUESTS_CA_BUNDLE`` would otherwise override a
    session-level setting.

    :param base_url: ``https://127.0.0.1:PORT``.
    :param ca_path: the simulator's ``ca.pem``.
    :param timeout: seconds per request.
    """

    def __init__(self, *, base_url: str, ca_path: str, timeout: float = 120.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.ca_path = str(ca_path)
        self.timeout = timeout
        self._session = requests.Session()

    def close(self) -> None:
        self._session.close()

    def _call(self, method: str, path: str, *, json: Any = None, params: Any = None) -> Any:
        response = self._session.request(
            method,
            f"{self.base_url}/_admin{path}",
            json=json,
            params=params,
            verify=self.ca_path,
            timeout=self.timeout,
        )
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise SimulatorAdminError(response.status_code, str(detail))
        return response.json()

    # -- tenant --------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/health")

    def reset(
        self,
        *,
        scenario: str = "empty",
        incidents: int | None = None,
        seed: int | None = None,
        faults: str = "",
    ) -> dict[str, Any]:
        """Reset everything: scenario, app roles and certificates, tokens, token lifetime, faults and
        counters.

        :param scenario: ``empty``, ``company-xyz`` or ``generated``.
        :param incidents: the count for ``generated``.
        :param seed: the content seed; the server's when omitted.
        :param faults: faults to apply afterwards (``--faults`` syntax).
        """
        body = {"scenario": scenario, "incidents": incidents, "seed": seed, "faults": faults}
        return self._call("POST", "/reset", json=body)

    def load_scenario(
        self, scenario: str, *, incidents: int | None = None, seed: int | None = None
    ) -> dict[str, Any]:
        """Replace the incidents only (identities, faults and counters are kept).

        :param scenario: the scenario.
        :param incidents: the count for ``generated``.
        :param seed: the content seed.
        """
        return self._call(
            "POST", "/scenario", json={"scenario": scenario, "incidents": incidents, "seed": seed}
        )

    # -- faults and identity -------------------------------------------------------------------

    def set_faults(self, spec: str) -> dict[str, Any]:
        """Replace the faults, e.g. ``"429=2x,retry_after=0.2"``.

        :param spec: the ``--faults`` syntax.
        """
        return self._call("PUT", "/faults", json={"spec": spec})

    def clear_faults(self) -> dict[str, Any]:
        return self._call("DELETE", "/faults")

    def faults(self) -> dict[str, Any]:
        return self._call("GET", "/faults")

    def revoke_tokens(self, client_id: str | None = None) -> int:
        """Revoke current tokens; the next Graph request with one gets 401.

        :param client_id: only this app's tokens.
        """
        return self._call("POST", "/tokens/revoke", json={"client_id": client_id})["revoked"]

    def set_token_lifetime(self, seconds: int) -> None:
        """``expires_in`` of tokens issued from now on.

        :param seconds: the lifetime.
        """
        self._call("PUT", "/tokens/lifetime", json={"seconds": seconds})

    def set_roles(
        self, client_id: str, roles: Iterable[str], *, revoke_tokens: bool = False
    ) -> dict[str, Any]:
        """Set an app's application permissions (fixed in each token when it is issued).

        :param client_id: the app.
        :param roles: e.g. ``["SecurityIncident.Read.All"]``.
        :param revoke_tokens: also revoke the app's current tokens.
        """
        return self._call(
            "PUT", f"/apps/{client_id}/roles", json={"roles": list(roles), "revoke_tokens": revoke_tokens}
        )

    def set_consent(
        self, client_id: str, decision: str, *, redirect_uris: list[str] | None = None
    ) -> dict[str, Any]:
        """How ``/{tenant}/v2.0/adminconsent`` answers for an app.

        :param client_id: the app.
        :param decision: ``grant`` or ``deny``.
        :param redirect_uris: registered redirect URIs (empty accepts any loopback URI).
        """
        body = {"decision": decision, "redirect_uris": redirect_uris}
        return self._call("PUT", f"/apps/{client_id}/consent", json=body)

    def add_certificate(self, client_id: str, pem: str | bytes) -> dict[str, str]:
        """Register a certificate credential; returns its thumbprints.

        :param client_id: the app.
        :param pem: the certificate in PEM.
        """
        text = pem.decode() if isinstance(pem, bytes) else pem
        return self._call("POST", f"/apps/{client_id}/certificates", json={"pem": text})

    def apps(self) -> list[dict[str, Any]]:
        return self._call("GET", "/apps")

    # -- counters ------------------------------------------------------------------------------

    def counters(self) -> dict[str, Any]:
        """``{"requests": [{"method", "route", "status", "count"}], "total", "tokens_issued"}``."""
        return self._call("GET", "/counters")

    def reset_counters(self) -> None:
        self._call("DELETE", "/counters")

    def count(self, *, route: str | None = None, status: int | None = None, method: str | None = None) -> int:
        """How many requests matched (every argument optional).

        :param route: the route template, e.g. ``/v1.0/security/incidents``.
        :param status: the HTTP status.
        :param method: the HTTP method.
        """
        return sum(
            row["count"]
            for row in self.counters()["requests"]
            if (route is None or row["route"] == route)
            and (status is None or row["status"] == status)
            and (method is None or row["method"] == method)
        )

    # -- incidents -----------------------------------------------------------------------------

    def incidents(self) -> list[dict[str, Any]]:
        """Every incident with its alerts, in ``(lastUpdateDateTime, id)`` order."""
        return self._call("GET", "/incidents")["value"]

    def incident(self, incident_id: str) -> dict[str, Any]:
        """One incident with its alerts.

        :param incident_id: the incident.
        """
        return self._call("GET", f"/incidents/{incident_id}")

    def create_incident(self, **fields: Any) -> dict[str, Any]:
        """Create a realistic MDO incident; any property may be given (``alerts`` replaces them).

        :param fields: incident properties.
        """
        return self._call("POST", "/incidents", json=fields)

    def bulk_create(self, count: int, *, last_update: str | None = None) -> dict[str, Any]:
        """Create ``count`` incidents sharing one ``lastUpdateDateTime``; ``{"ids", "lastUpdateDateTime"}``.

        :param count: how many.
        :param last_update: the shared timestamp; a fresh unique one when omitted.
        """
        return self._call("POST", "/incidents/bulk", json={"count": count, "lastUpdateDateTime": last_update})

    def update_incident(self, incident_id: str, **changes: Any) -> dict[str, Any]:
        """Change any properties; ``lastUpdateDateTime`` moves to a new unique "now".

        :param incident_id: the incident.
        :param changes: the properties.
        """
        return self._call("PATCH", f"/incidents/{incident_id}", json=changes)

    def resolve(
        self,
        incident_id: str,
        *,
        classification: str = "truePositive",
        determination: str = "phishing",
        comment: str | None = None,
    ) -> dict[str, Any]:
        """Resolve an incident.

        :param incident_id: the incident.
        :param classification: its classification.
        :param determination: its determination.
        :param comment: the resolving comment.
        """
        body = {"classification": classification, "determination": determination, "resolvingComment": comment}
        return self._call("POST", f"/incidents/{incident_id}/resolve", json=body)

    def reopen(self, incident_id: str) -> dict[str, Any]:
        """Make an incident active again.

        :param incident_id: the incident.
        """
        return self._call("POST", f"/incidents/{incident_id}/reopen")

    def merge(self, incident_id: str, *, into: str) -> dict[str, Any]:
        """Redirect ``incident_id`` into ``into``; ``{"source", "target"}``.

        :param incident_id: the absorbed incident.
        :param into: the survivor.
        """
        return self._call("POST", f"/incidents/{incident_id}/merge", json={"into": into})

    def add_alert(self, incident_id: str, **fields: Any) -> dict[str, Any]:
        """Add an alert (realistic MDO defaults, any field overridable); returns the incident.

        :param incident_id: the incident.
        :param fields: alert properties.
        """
        return self._call("POST", f"/incidents/{incident_id}/alerts", json=fields)

    def remove_alert(self, alert_id: str) -> dict[str, Any]:
        """Remove an alert; returns its (bumped) incident.

        :param alert_id: the alert.
        """
        return self._call("DELETE", f"/alerts/{alert_id}")
