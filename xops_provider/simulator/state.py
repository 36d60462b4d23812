"""Everything the simulator holds while it runs: the tenant's incidents, hunting tables and Cato
feed, identities, faults and request counters. One instance per server, reached from handlers as
``request.app.state.sim``."""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass

from xops_provider.simulator import scenarios
from xops_provider.simulator.constants import CLIENT_ID, TENANT_ID
from xops_provider.simulator.faults import FaultInjector, FaultSpec
from xops_provider.simulator.identity import Identity
from xops_provider.simulator.store import Clock, IncidentStore
from xops_provider.simulator.telemetry import Telemetry


@dataclass(frozen=True, slots=True, kw_only=True)
class ScenarioChoice:
    """The scenario last loaded.

    :param name: scenario name.
    :param incidents: requested count (``generated`` only).
    :param seed: its seed.
    :param reference_time: the time its timestamps are relative to.
    """

    name: str
    incidents: int | None
    seed: int
    reference_time: str


class SimulatorState:
    """The simulator's whole state.

    :param secret: the connector app's client secret.
    :param seed: seeds scenarios and the fault dice.
    :param faults: faults to inject from the start.
    :param cato_key: the Cato API key the feed accepts; a random one when omitted.
    """

    def __init__(
        self, *, secret: str, seed: int = 0, faults: FaultSpec | None = None, cato_key: str | None = None
    ) -> None:
        self.base_seed = seed
        self.seed = seed
        self.clock = Clock()
        self.store = IncidentStore(tenant_id=TENANT_ID, clock=self.clock)
        self.telemetry = Telemetry()
        self.cato_key = cato_key or secrets.token_hex(24)
        self.identity = Identity(tenant_id=TENANT_ID, client_id=CLIENT_ID, secret=secret)
        self.faults = FaultInjector(spec=faults or FaultSpec(), seed=seed)
        self.counters: Counter[tuple[str, str, int]] = Counter()
        self.scenario = ScenarioChoice(name="empty", incidents=None, seed=seed, reference_time="")

    def load(self, *, name: str, seed: int | None = None, incidents: int | None = None) -> ScenarioChoice:
        """Replace the incidents, hunting rows and Cato events with a scenario, its times relative
        to now.

        :param name: scenario name.
        :param seed: defaults to the server's seed.
        :param incidents: count for ``generated``.
        """
        seed = self.seed if seed is None else seed
        # Scenario times all lie before this instant, and every later change after it.
        now = self.clock.now()
        scenarios.load(
            self.store, name=name, seed=seed, now=now, incidents=incidents, telemetry=self.telemetry
        )
        self.scenario = ScenarioChoice(
            name=name, incidents=incidents, seed=seed, reference_time=now.isoformat()
        )
        return self.scenario

    def reset(
        self,
        *,
        name: str = "empty",
        seed: int | None = None,
        incidents: int | None = None,
        faults: FaultSpec | None = None,
    ) -> ScenarioChoice:
        """Back to a clean tenant: a scenario, default identities and roles, no tokens, the given
        faults (none by default), counters and the hunting log at zero.

        :param name: scenario name.
        :param seed: scenario and fault seed; the server's ``--seed`` when omitted.
        :param incidents: count for ``generated``.
        :param faults: faults to inject afterwards.
        """
        # Without a seed, a reset goes back to the server's own: never to an earlier test's.
        self.seed = self.base_seed if seed is None else seed
        choice = self.load(name=name, seed=seed, incidents=incidents)
        self.identity.reset()
        self.faults = FaultInjector(spec=faults or FaultSpec(), seed=self.seed)
        self.counters.clear()
        self.telemetry.queries.clear()
        return choice

    def count(self, *, method: str, route: str, status: int) -> None:
        """Count one answered request.

        :param method: the HTTP method.
        :param route: the route template (or the raw path when nothing matched).
        :param status: the status sent.
        """
        self.counters[(method, route, status)] += 1
