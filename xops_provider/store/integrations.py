"""The integrations' repository: which tenants are read, through which connection, and their health.

An integration is data, not code: a row names its product, its parent ``ms_tenant`` connection and
that connection's tenant, one integration per tenant and product. The ``default`` integration on
``ms_tenant_default`` is implicit: it has no row until one is written for it (``disable`` does), and
the callers that know the connection exists pass its tenant as ``default_tenant_id``. Nothing is
written when a DAG file is parsed.

Health (:class:`IntegrationHealth`) lives in its own table, keyed by name, so the implicit
integration's runs are recorded too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from xops_provider.models.health import RunOutcome
from xops_provider.store import tables as t
from xops_provider.store.base import Repository, chunks, transient_errors, utc_now

#: The only product for now.
DEFENDER_FOR_OFFICE = "Microsoft Defender for Office 365"
PRODUCTS = (DEFENDER_FOR_OFFICE,)
DEFAULT_INTEGRATION = "default"
DEFAULT_CONN_ID = "ms_tenant_default"


class IntegrationNotFound(LookupError):
    """No integration has that name."""


class IntegrationConflict(ValueError):
    """The name is taken, or the tenant already has an integration for the product."""


@dataclass(frozen=True, slots=True)
class Integration:
    """An integration.

    :param name: its name (the sync state's, the stories' and the lock's key).
    :param product: what it reads.
    :param conn_id: the parent ``ms_tenant`` connection.
    :param tenant_id: that connection's tenant.
    :param description: free text.
    :param enabled: whether runs read it.
    :param options: per-integration settings.
    :param created_at: when it was added; ``None`` for the implicit default.
    :param implicit: the ``default`` integration, present because its connection exists.
    """

    name: str
    product: str
    conn_id: str
    tenant_id: str
    description: str | None = None
    enabled: bool = True
    options: dict[str, Any] = field(default_factory=dict)
    created_at: str | None = None
    implicit: bool = False


@dataclass(frozen=True, slots=True)
class IntegrationHealth:
    """What the runs of an integration recorded.

    :param integration: the integration.
    :param status: ``Connected``, ``Pending consent`` or ``Error: <reason>``.
    :param last_run_at: when the last run ended.
    :param last_good_sync: when the last good run ended.
    :param last_error: the last failure's short reason.
    :param last_error_at: when it happened.
    :param throttled_429: 429 answers over every run.
    :param quarantined: records refused over every run.
    :param failed_runs: runs that failed.
    :param runs: runs recorded.
    """

    integration: str
    status: str
    last_run_at: str
    last_good_sync: str | None
    last_error: str | None
    last_error_at: str | None
    throttled_429: int
    quarantined: int
    failed_runs: int
    runs: int


def implicit_default(tenant_id: str) -> Integration:
    """The ``default`` integration of ``ms_tenant_default``'s tenant.

    :param tenant_id: the connection's tenant.
    """
    return Integration(
        name=DEFAULT_INTEGRATION,
        product=DEFENDER_FOR_OFFICE,
        conn_id=DEFAULT_CONN_ID,
        tenant_id=tenant_id,
        implicit=True,
    )


class IntegrationStore(Repository):
    """The ``integrations`` and ``integration_health`` tables.

    :param engine: the store's engine.
    """

    # -- reads ------------------------------------------------------------------------------------

    def list(self, *, default_tenant_id: str | None = None) -> list[Integration]:
        """Every integration by name, the implicit default included when it applies.

        :param default_tenant_id: the tenant of ``ms_tenant_default`` when that connection exists.
            The implicit default is listed unless a row is named ``default`` or already reads that
            tenant's product.
        """
        with transient_errors(), self.engine.connect() as conn:
            rows = [_integration(row) for row in conn.execute(select(t.integrations))]
        if default_tenant_id and not any(
            r.name == DEFAULT_INTEGRATION
            or (r.tenant_id, r.product) == (default_tenant_id, DEFENDER_FOR_OFFICE)
            for r in rows
        ):
            rows.append(implicit_default(default_tenant_id))
        return sorted(rows, key=lambda r: r.name)

    def get(self, name: str, *, default_tenant_id: str | None = None) -> Integration:
        """One integration.

        :param name: its name.
        :param default_tenant_id: as for :meth:`list`.
        :raises IntegrationNotFound: no such integration.
        """
        found = next((r for r in self.list(default_tenant_id=default_tenant_id) if r.name == name), None)
        if found is None:
            raise IntegrationNotFound(f"integration {name!r} does not exist")
        return found

    def enabled(self, *, default_tenant_id: str | None = None) -> list[Integration]:
        """The integrations that runs read.

        :param default_tenant_id: as for :meth:`list`.
        """
        return [r for r in self.list(default_tenant_id=default_tenant_id) if r.enabled]

    def health(self, name: str) -> IntegrationHealth | None:
        """What the integration's runs recorded; ``None`` before its first.

        :param name: the integration.
        """
        h = t.integration_health
        with transient_errors(), self.engine.connect() as conn:
            row = conn.execute(select(h).where(h.c.integration == name)).first()
        return None if row is None else IntegrationHealth(**row._asdict())

    # -- writes -----------------------------------------------------------------------------------

    def add(
        self,
        *,
        name: str,
        conn_id: str,
        tenant_id: str,
        product: str = DEFENDER_FOR_OFFICE,
        description: str | None = None,
        enabled: bool = True,
        options: Mapping[str, Any] | None = None,
        default_tenant_id: str | None = None,
    ) -> Integration:
        """Add an integration.

        :param name: its name.
        :param conn_id: the parent ``ms_tenant`` connection.
        :param tenant_id: that connection's tenant.
        :param product: what it reads; one of :data:`PRODUCTS`.
        :param description: free text.
        :param enabled: whether runs read it.
        :param options: per-integration settings (JSON-ready).
        :param default_tenant_id: as for :meth:`list`: the implicit default holds its tenant too,
            unless the new integration is on ``ms_tenant_default`` itself (it then replaces it).
        :raises IntegrationConflict: the name is taken, or the tenant has one for the product.
        """
        if product not in PRODUCTS:
            raise ValueError(f"unknown product {product!r}; known: {', '.join(PRODUCTS)}")
        if not name or not tenant_id:
            raise ValueError("an integration needs a name and a tenant id")
        for existing in self.list(default_tenant_id=default_tenant_id):
            if existing.implicit and conn_id == DEFAULT_CONN_ID:
                continue  # a row on ms_tenant_default replaces the implicit default
            _refuse_conflict(existing, name=name, tenant_id=tenant_id, product=product)
        integration = Integration(
            name=name,
            product=product,
            conn_id=conn_id,
            tenant_id=tenant_id,
            description=description,
            enabled=enabled,
            options=dict(options or {}),
            created_at=utc_now(),
        )
        row = {
            "name": name,
            "product": product,
            "conn_id": conn_id,
            "tenant_id": tenant_id,
            "description": description,
            "enabled": enabled,
            "options": json.dumps(integration.options, sort_keys=True),
            "created_at": integration.created_at,
        }
        try:
            with self._write() as conn:
                conn.execute(t.integrations.insert().values(**row))
        except IntegrityError:
            # A concurrent add won the race between the check above and the insert.
            for existing in self.list():
                _refuse_conflict(existing, name=name, tenant_id=tenant_id, product=product)
            raise
        return integration

    def enable(self, name: str) -> None:
        """Let runs read the integration.

        :param name: the integration (it needs a row; see :meth:`add`).
        :raises IntegrationNotFound: no such row.
        """
        self._set_enabled(name, enabled=True)

    def disable(self, name: str) -> None:
        """Stop runs from reading the integration; its data stays.

        :param name: the integration (it needs a row; see :meth:`add`).
        :raises IntegrationNotFound: no such row.
        """
        self._set_enabled(name, enabled=False)

    def _set_enabled(self, name: str, *, enabled: bool) -> None:
        i = t.integrations
        with self._write() as conn:
            changed = conn.execute(update(i).where(i.c.name == name).values(enabled=enabled)).rowcount
        if not changed:
            raise IntegrationNotFound(f"integration {name!r} does not exist")

    def remove(self, name: str, *, purge: bool = False) -> dict[str, int]:
        """Remove an integration and its health; with ``purge``, everything it stored as well.

        Without ``purge`` the stories, versions and sync state stay (a later ``add`` of the same
        name resumes from its watermark). With it, the integration's stories (entities and
        correlation inputs included), incident versions, heads, sync state and quarantine go, in
        one transaction.

        :param name: the integration.
        :param purge: delete its data too.
        :returns: rows deleted per table.
        :raises IntegrationNotFound: no row has that name.
        """
        deleted: dict[str, int] = {}
        with self._write() as conn:
            deleted["integrations"] = conn.execute(
                delete(t.integrations).where(t.integrations.c.name == name)
            ).rowcount
            if not deleted["integrations"]:
                raise IntegrationNotFound(f"integration {name!r} does not exist")
            deleted["integration_health"] = conn.execute(
                delete(t.integration_health).where(t.integration_health.c.integration == name)
            ).rowcount
            if purge:
                deleted.update(_purge(conn, name))
        return deleted

    def record_run(self, name: str, outcome: RunOutcome) -> IntegrationHealth:
        """Record one run's outcome: status, times and counters, in one statement.

        :param name: the integration.
        :param outcome: the run's outcome (:func:`xops_provider.models.health.run_outcome`).
        """
        h = t.integration_health
        now = utc_now()
        statement = self._insert(h)
        ex = statement.excluded
        statement = statement.on_conflict_do_update(
            index_elements=["integration"],
            set_={
                "status": ex.status,
                "last_run_at": ex.last_run_at,
                # A failure keeps the last good time; a success keeps the last error for the record.
                "last_good_sync": func.coalesce(ex.last_good_sync, h.c.last_good_sync),
                "last_error": func.coalesce(ex.last_error, h.c.last_error),
                "last_error_at": func.coalesce(ex.last_error_at, h.c.last_error_at),
                "throttled_429": h.c.throttled_429 + ex.throttled_429,
                "quarantined": h.c.quarantined + ex.quarantined,
                "failed_runs": h.c.failed_runs + ex.failed_runs,
                "runs": h.c.runs + 1,
            },
        )
        values = {
            "integration": name,
            "status": outcome.status[:300],
            "last_run_at": now,
            "last_good_sync": now if outcome.ok else None,
            "last_error": None if outcome.ok else (outcome.error or outcome.status)[:300],
            "last_error_at": None if outcome.ok else now,
            "throttled_429": outcome.throttled,
            "quarantined": outcome.quarantined,
            "failed_runs": 0 if outcome.ok else 1,
            "runs": 1,
        }
        with self._write() as conn:
            conn.execute(statement, values)
        health = self.health(name)
        assert health is not None
        return health


def _refuse_conflict(existing: Integration, *, name: str, tenant_id: str, product: str) -> None:
    if existing.name == name:
        raise IntegrationConflict(f"integration {name!r} already exists")
    if (existing.tenant_id, existing.product) == (tenant_id, product):
        raise IntegrationConflict(
            f"tenant {tenant_id!r} already has a {product} integration: {existing.name!r} "
            f"(on connection {existing.conn_id!r}); one integration per tenant and product"
        )


def _purge(conn: Connection, name: str) -> dict[str, int]:
    s, inc, raw = t.stories, t.incidents, t.raw_incident_versions
    story_ids = [row.story_id for row in conn.execute(select(s.c.story_id).where(s.c.integration == name))]
    counts = {"story_entities": 0, "story_correlation": 0}
    for chunk in chunks(story_ids):
        counts["story_entities"] += conn.execute(
            delete(t.story_entities).where(t.story_entities.c.story_id.in_(chunk))
        ).rowcount
        counts["story_correlation"] += conn.execute(
            delete(t.story_correlation).where(t.story_correlation.c.story_id.in_(chunk))
        ).rowcount
    counts["stories"] = conn.execute(delete(s).where(s.c.integration == name)).rowcount
    counts["incidents"] = conn.execute(delete(inc).where(inc.c.integration == name)).rowcount
    # A version another integration's head still points at stays (the foreign key needs it).
    counts["raw_incident_versions"] = conn.execute(
        delete(raw).where(raw.c.integration == name, raw.c.id.not_in(select(inc.c.latest_version_id)))
    ).rowcount
    counts["sync_state"] = conn.execute(
        delete(t.sync_state).where(t.sync_state.c.integration == name)
    ).rowcount
    counts["quarantine"] = conn.execute(
        delete(t.quarantine).where(t.quarantine.c.integration == name)
    ).rowcount
    return counts


def _integration(row: Any) -> Integration:
    return Integration(
        name=row.name,
        product=row.product,
        conn_id=row.conn_id,
        tenant_id=row.tenant_id,
        description=row.description,
        enabled=bool(row.enabled),
        options=json.loads(row.options or "{}"),
        created_at=row.created_at,
    )
