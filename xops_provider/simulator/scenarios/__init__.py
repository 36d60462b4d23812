"""Scenarios: what the simulated tenant holds after a reset.

``empty`` holds nothing; ``company-xyz`` is the Company XYZ phishing campaign (see
:mod:`~xops_provider.simulator.scenarios.company_xyz` for its facts); ``generated`` is N realistic MDO
incidents (:mod:`~xops_provider.simulator.scenarios.generated`). Content depends only on the seed and
the reference time.
"""

from __future__ import annotations

from xops_provider.models.timestamps import GraphTime
from xops_provider.simulator.scenarios.builders import Dice
from xops_provider.simulator.store import IncidentStore
from xops_provider.simulator.telemetry import Telemetry

SCENARIOS = ("empty", "company-xyz", "generated")
DEFAULT_GENERATED_COUNT = 100


class UnknownScenario(ValueError):
    """A scenario name that does not exist."""


def load(
    store: IncidentStore,
    *,
    name: str,
    seed: int,
    now: GraphTime,
    incidents: int | None = None,
    telemetry: Telemetry | None = None,
) -> None:
    """Empty ``store`` (and ``telemetry``) and fill them with a scenario.

    :param store: the store.
    :param name: one of :data:`SCENARIOS`.
    :param seed: makes the content reproducible.
    :param now: the reference time the scenario's times are relative to.
    :param incidents: how many incidents ``generated`` makes (default 100).
    :param telemetry: hunting tables and Cato feed to fill too, when given.
    """
    if name not in SCENARIOS:
        raise UnknownScenario(f"unknown scenario {name!r}; choose one of {', '.join(SCENARIOS)}")
    store.clear()
    if telemetry is not None:
        telemetry.clear()
    dice = Dice(f"{name}:{seed}")
    if name == "company-xyz":
        from xops_provider.simulator.scenarios import company_xyz

        company_xyz.build(store, dice=dice, now=now, telemetry=telemetry)
    elif name == "generated":
        from xops_provider.simulator.scenarios import generated

        count = DEFAULT_GENERATED_COUNT if incidents is None else incidents
        if count < 0:
            raise ValueError("incidents cannot be negative")
        generated.build(store, dice=dice, now=now, count=count)
