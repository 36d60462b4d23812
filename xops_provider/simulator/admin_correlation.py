"""The :class:`~xops_provider.simulator.admin.SimulatorAdmin` calls for what correlation reads:
hunting rows, Cato events, generated network traffic, alerts and the scenario's truth."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class CorrelationAdmin:
    """Mixed into :class:`~xops_provider.simulator.admin.SimulatorAdmin`; see ``/_admin/`` in
    ``docs/simulator.md``."""

    def _call(self, method: str, path: str, *, json: Any = None, params: Any = None) -> Any:
        raise NotImplementedError

    # -- hunting -------------------------------------------------------------------------------

    def hunting_tables(self) -> dict[str, int]:
        """Rows per hunting table, and ``CatoEvents`` for the feed's length."""
        return self._call("GET", "/hunting")["tables"]

    def hunting_rows(self, table: str, *, limit: int | None = None) -> list[dict[str, Any]]:
        """A table's rows, oldest first, as ``runHuntingQuery`` writes them.

        :param table: e.g. ``UrlClickEvents``.
        :param limit: at most this many (10,000 when omitted).
        """
        params = None if limit is None else {"limit": limit}
        return self._call("GET", f"/hunting/{table}", params=params)["value"]

    def add_hunting_rows(self, table: str, rows: Iterable[dict[str, Any]]) -> int:
        """Add rows (column -> value, datetimes as ISO text); returns the table's row count.

        :param table: the table.
        :param rows: the rows; missing columns are blank, a missing ``Timestamp`` is now.
        """
        return self._call("POST", f"/hunting/{table}", json={"rows": list(rows)})["count"]

    def hunting_queries(self) -> list[dict[str, Any]]:
        """The ``runHuntingQuery`` calls answered, oldest first: ``time``, ``client_id``, ``query``,
        ``status``, ``rows``."""
        return self._call("GET", "/hunting/queries")["value"]

    def clear_hunting_queries(self) -> None:
        self._call("DELETE", "/hunting/queries")

    # -- Cato and generated traffic --------------------------------------------------------------

    def cato_events(self, *, offset: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        """The Cato feed's records in feed order.

        :param offset: the first position.
        :param limit: at most this many (10,000 when omitted).
        """
        params: dict[str, int] = {"offset": offset}
        if limit is not None:
            params["limit"] = limit
        return self._call("GET", "/cato/events", params=params)["value"]

    def add_cato_events(self, records: Iterable[dict[str, Any]]) -> dict[str, Any]:
        """Append ``{"time"?, "fieldsMap"}`` records; ``{"added", "count", "first_position"}``.

        :param records: the records, in arrival order.
        """
        return self._call("POST", "/cato/events", json={"records": list(records)})

    def generate_network_events(self, count: int, **options: Any) -> dict[str, Any]:
        """Add ``count`` computed network events to the Cato feed and ``DeviceNetworkEvents``.

        :param count: how many.
        :param options: ``start``, ``end``, ``hours``, ``seed``, ``users``, ``domains``, ``user_domain``,
            ``plant_domain``, ``plant_every``, ``plant_user``, ``cato``, ``device``.
        """
        return self._call("POST", "/network/generate", json={"count": count, **options})

    # -- alerts and truth ------------------------------------------------------------------------

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert as ``alerts_v2`` serves it, oldest ``createdDateTime`` first."""
        return self._call("GET", "/alerts")["value"]

    def create_alert(self, **fields: Any) -> dict[str, Any]:
        """Add an alert (realistic MDO defaults, any field overridable) and return it.

        :param fields: alert properties; ``incidentId`` files it in that incident, else a new one.
        """
        return self._call("POST", "/alerts", json=fields)

    def correlation_truth(self) -> dict[str, Any]:
        """The loaded scenario's correlation truth with its times (``{}`` when it has none)."""
        return self._call("GET", "/correlation/truth")
