"""Fixtures of the operator tests."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest


@pytest.fixture
def statsd_listener() -> Iterator[socket.socket]:
    """A UDP socket on loopback standing in for a StatsD server; its port is ``getsockname()[1]``."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    # A safeguard against a hang when a metric never comes, not a timing assertion.
    listener.settimeout(30)
    try:
        yield listener
    finally:
        listener.close()
