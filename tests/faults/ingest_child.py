"""The ingestion as its own process, for the crash test: ``python -m tests.faults.ingest_child STORE_URL``.

Reads the ``ms_tenant`` connection from ``AIRFLOW_CONN_MS_TENANT_DEFAULT`` and prints the sync
report's counts as JSON when it finishes (a killed run prints nothing).
"""

from __future__ import annotations

import json
import sys

from tests.faults.helpers import synced


def main(argv: list[str]) -> int:
    url, integration = argv[0], (argv[1] if len(argv) > 1 else "default")
    report = synced(url, integration=integration)
    print(json.dumps({"versions_stored": report.versions_stored, "pages": report.pages}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
