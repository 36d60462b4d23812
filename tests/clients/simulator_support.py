"""The Defender simulator as the client, hook and CLI tests use it.

The simulator process and its per-test reset come from ``tests/fixtures/simulator.py``; ``sim`` adds
what these tests need on top: no token cached in this process from an earlier test (the simulator
forgets its tokens on reset, and token counts must start from zero).
"""

from __future__ import annotations

import pytest

from xops_provider.clients import identity
from xops_provider.simulator.process import SimulatorProcess


@pytest.fixture
def sim(simulator: SimulatorProcess, monkeypatch: pytest.MonkeyPatch) -> SimulatorProcess:
    """The reset simulator, with this process's shared token providers forgotten."""
    monkeypatch.setattr(identity, "_shared_providers", {})
    return simulator


def secret_of(simulator: SimulatorProcess) -> str:
    """The simulated app's client secret (tests assert it never leaks).

    :param simulator: the running simulator.
    """
    return simulator.connection["password"]


def tokens_issued(simulator: SimulatorProcess) -> int:
    """How many tokens the simulated identity endpoint has issued since the counters were reset.

    :param simulator: the running simulator.
    """
    return simulator.admin.counters()["tokens_issued"]
