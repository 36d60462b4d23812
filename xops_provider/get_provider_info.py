"""Provider discovery: what Airflow learns about this package through its entry point.

Airflow 3.3 draws connection forms from ``connection-types[].conn-fields`` and
``ui-field-behaviour`` alone; the hook's legacy form methods are not shown. An optional field needs
``"null"`` in its type list, or the UI marks it required. The ``config`` section declares the
``[xops]`` options, so ``airflow config list`` shows them with their defaults.
"""

from __future__ import annotations

from typing import Any

_DEFENDER = "Microsoft Defender for Office 365"
_STORIES = "XOps Stories"
_CATO = "Cato Networks"


def _optional(kind: str, **schema: Any) -> dict[str, Any]:
    return {"type": [kind, "null"], **schema}


_MS_TENANT_FIELDS: dict[str, dict[str, Any]] = {
    "tenant_id": {
        "label": "Tenant (directory) ID",
        "description": "The Microsoft Entra tenant: its directory GUID or a verified domain.",
        "schema": {"type": "string", "minLength": 1},
    },
    "cloud": {
        "label": "Cloud",
        "description": "public (login.microsoftonline.com), usgov (GCC High) or usgov-dod (DoD).",
        "schema": _optional("string", enum=["public", "usgov", "usgov-dod"], default="public"),
    },
    "authority_host": {
        "label": "Authority host",
        "description": "Overrides the cloud's Microsoft identity host (https:// URL).",
        "schema": _optional("string"),
    },
    "graph_endpoint": {
        "label": "Graph endpoint",
        "description": "Overrides the cloud's Microsoft Graph host (https:// URL).",
        "schema": _optional("string"),
    },
    "verify": {
        "label": "Verify TLS",
        "description": "true, false, or the path of a CA bundle to trust.",
        "schema": _optional("string", default="true"),
    },
    "certificate_path": {
        "label": "Certificate path",
        "description": "A PEM file with the app's private key and certificate, used instead of a secret.",
        "schema": _optional("string"),
    },
    "certificate_thumbprint": {
        "label": "Certificate thumbprint",
        "description": "The certificate's SHA-1 thumbprint as shown on the app registration.",
        "schema": _optional("string"),
    },
    "use_workload_identity": {
        "label": "Use workload identity",
        "description": (
            "Authenticate with Azure workload identity (AZURE_FEDERATED_TOKEN_FILE) "
            "or, without it, the managed identity."
        ),
        "schema": _optional("boolean", default=False),
    },
}

_CATO_FIELDS: dict[str, dict[str, Any]] = {
    "account_id": {
        "label": "Account ID",
        "description": "The Cato account id; used instead of the login when set.",
        "schema": _optional("string"),
    },
    "endpoint": {
        "label": "API endpoint",
        "description": "Cato's API (https:// URL); used instead of the host. Default https://api.catonetworks.com.",
        "schema": _optional("string"),
    },
    "verify": {
        "label": "Verify TLS",
        "description": "true, false, or the path of a CA bundle to trust.",
        "schema": _optional("string", default="true"),
    },
}


#: ``[xops]``: every option the provider and its DAGs read (``conf.get*("xops", ...)``).
_XOPS_CONFIG: dict[str, Any] = {
    "description": "Scheduling of the ``xops_email_security`` DAG and its Defender incident sensor.\n",
    "options": {
        "poll_interval_minutes": {
            "description": (
                "Minutes between runs of the ``xops_email_security`` DAG: its schedule interval, and\n"
                "how long each run's sensor waits for a new Defender incident before the run ends\n"
                "skipped. Read when the DAG file is parsed.\n"
            ),
            "version_added": "0.1.0",
            "type": "integer",
            "example": "15",
            "default": "5",
        },
        "check_interval_seconds": {
            "description": (
                "Seconds between the waiting sensor's checks of Microsoft Graph for a new or\n"
                "updated incident (a ``$top=1`` query run in the triggerer). Each check counts\n"
                "against the app's Graph quota for security incidents.\n"
            ),
            "version_added": "0.1.0",
            "type": "integer",
            "example": "30",
            "default": "60",
        },
        "network_retention_days": {
            "description": (
                "How many days of network events (Cato's feed, imported Zeek and Cato logs) the store\n"
                "keeps for correlation; ``xops network purge`` deletes older ones by event time.\n"
            ),
            "version_added": "0.1.0",
            "type": "integer",
            "example": "90",
            "default": "30",
        },
    },
}


def get_provider_info() -> dict[str, Any]:
    """The provider's description, validated by Airflow against ``provider_info.schema.json``."""
    return {
        "package-name": "xops-provider",
        "name": "XOps",
        "description": (
            "Microsoft Defender for Office 365 incidents from Microsoft Graph, as XOps investigation stories."
        ),
        "integrations": [
            {
                "integration-name": _DEFENDER,
                "external-doc-url": "https://learn.microsoft.com/en-us/graph/api/resources/security-incident",
                "tags": ["security", "microsoft"],
            },
            {
                "integration-name": _STORIES,
                "external-doc-url": "https://airflow.apache.org/docs/apache-airflow-providers/",
                "tags": ["security"],
            },
            {
                "integration-name": _CATO,
                "external-doc-url": "https://api.catonetworks.com/documentation/#query-eventsFeed",
                "tags": ["security"],
            },
        ],
        "hooks": [
            {
                "integration-name": _DEFENDER,
                "python-modules": ["xops_provider.hooks.ms_tenant", "xops_provider.hooks.defender"],
            },
            {"integration-name": _STORIES, "python-modules": ["xops_provider.hooks.store"]},
            {"integration-name": _CATO, "python-modules": ["xops_provider.hooks.cato"]},
        ],
        "sensors": [{"integration-name": _DEFENDER, "python-modules": ["xops_provider.sensors.defender"]}],
        "triggers": [{"integration-name": _DEFENDER, "python-modules": ["xops_provider.triggers.defender"]}],
        "operators": [
            {"integration-name": _DEFENDER, "python-modules": ["xops_provider.operators.ingest"]},
            {
                "integration-name": _STORIES,
                "python-modules": ["xops_provider.operators.stories", "xops_provider.operators.correlate"],
            },
            {"integration-name": _CATO, "python-modules": ["xops_provider.operators.network"]},
        ],
        "connection-types": [
            {
                "connection-type": "ms_tenant",
                "hook-class-name": "xops_provider.hooks.ms_tenant.MsTenantHook",
                "hook-name": "Microsoft tenant (Entra app)",
                "conn-fields": _MS_TENANT_FIELDS,
                "ui-field-behaviour": {
                    "hidden-fields": ["host", "port", "schema"],
                    "relabeling": {"login": "Client (application) ID", "password": "Client secret"},
                    "placeholders": {
                        "login": "00000000-0000-0000-0000-000000000000",
                        "password": "the secret's value (empty with a certificate or workload identity)",
                        "tenant_id": "contoso.onmicrosoft.com or the directory GUID",
                        "cloud": "public",
                        "authority_host": "https://login.microsoftonline.com",
                        "graph_endpoint": "https://graph.microsoft.com",
                        "verify": "true",
                        "certificate_path": "/opt/airflow/secrets/xops-app.pem",
                        "certificate_thumbprint": "SHA-1 hex, e.g. 3F2504E04F8911D39A0C0305E82C3301A1B2C3D4",
                    },
                },
            },
            {
                "connection-type": "xops_store",
                "hook-class-name": "xops_provider.hooks.store.StoreHook",
                "hook-name": "XOps story store",
                "conn-fields": {
                    "backend": {
                        "label": "Database",
                        "description": "postgres, or sqlite for a file; postgres when a host is set.",
                        "schema": _optional("string", enum=["postgres", "sqlite", None]),
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": [],
                    "relabeling": {"host": "Host (or the SQLite file's path)", "schema": "Database name"},
                    "placeholders": {
                        "host": "db.example.com, or /opt/airflow/xops/stories.db",
                        "schema": "xops",
                        "port": "5432",
                    },
                },
            },
            {
                "connection-type": "cato",
                "hook-class-name": "xops_provider.hooks.cato.CatoEventsHook",
                "hook-name": "Cato Networks (events feed)",
                "conn-fields": _CATO_FIELDS,
                "ui-field-behaviour": {
                    "hidden-fields": ["port", "schema"],
                    "relabeling": {"host": "API endpoint", "login": "Account ID", "password": "API key"},
                    "placeholders": {
                        "host": "https://api.catonetworks.com",
                        "login": "4172",
                        "password": "the API key (x-api-key)",
                        "verify": "true",
                    },
                },
            },
        ],
        "config": {"xops": _XOPS_CONFIG},
    }
