"""The Cato pull as its own process, for the crash test: ``python -m tests.faults.cato_child STORE_URL``.

Reads the ``cato`` connection from ``AIRFLOW_CONN_CATO_DEFAULT`` and prints the pull's counts as JSON
when it finishes (a killed run prints nothing).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

from xops_provider.hooks.cato import CatoEventsHook
from xops_provider.operators.network import pull_cato_events
from xops_provider.store import Store


def main(argv: list[str]) -> int:
    hook = CatoEventsHook(backoff=0.01)
    with Store.open(argv[0]) as store:
        report = pull_cato_events(hook.get_conn(), store, feed_id=hook.feed_id)
    hook.close()
    print(json.dumps(asdict(report)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
