"""Synthesised network events for ``benchmarks/correlate.py``, the naive per-story scan, the
hunting plan's size and the benchmark's PostgreSQL database.

Event ``i`` is computed from ``i`` alone (a SplitMix64 hash), like the simulator's generator, so
the even positions of a run of ``E`` events are a run of ``E/2`` over the same span: doubling only
adds. About one event in ``plant_every`` (by its hash) is planted on a story: inside its 24-hour
window, as one of its recipients (with a noise domain) or on one of its URL domains (as a noise
user), so matches exist; the rest are noise over the stories' whole time span, from users and
hosts no story names.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from xops_provider.correlation.facts import NetworkEvent, fact_key
from xops_provider.correlation.keys import StoryKeys
from xops_provider.correlation.kql import HUNTING_BATCH_SIZE, HUNTING_TABLES, expected_call_count
from xops_provider.correlation.matching import MatchPolicy, match_story
from xops_provider.correlation.pipeline import plan_for_stories
from xops_provider.models.timestamps import GraphTime

PG_ADMIN_URL = os.environ.get("XOPS_BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
_MASK = (1 << 64) - 1
NOISE_USERS = 5_000
NOISE_HOSTS = 20_000


def _mix(value: int) -> int:
    value = (value + 0x9E3779B97F4A7C15) & _MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK
    return value ^ (value >> 31)


@dataclass(frozen=True)
class EventPlan:
    """What the events are spread over.

    :param stories: the stories that planted events land on (with a receipt time).
    :param start: the first noise event's time.
    :param end: the last noise event's time.
    :param plant_every: one event in this many is planted on a story.
    """

    stories: Sequence[StoryKeys]
    start: GraphTime
    end: GraphTime
    plant_every: int

    @classmethod
    def for_stories(cls, keys: Sequence[StoryKeys], *, plant_every: int) -> EventPlan:
        timed = [k for k in keys if k.received_at is not None and (k.recipients or k.url_domains)]
        times = [k.received_at.ticks for k in timed if k.received_at is not None]
        return cls(
            stories=sorted(timed, key=lambda k: k.story_id),
            start=GraphTime(min(times)).shift(seconds=-3600),
            end=GraphTime(max(times)).shift(seconds=24 * 3600),
            plant_every=plant_every,
        )

    def event(self, i: int, total: int) -> NetworkEvent:
        """Event ``i``; noise times are spread evenly over the span for ``total`` events."""
        h = _mix(i)
        user = f"u{h % NOISE_USERS}@staff.noise-bench.example"
        domain = f"h{(h >> 16) % NOISE_HOSTS}.cdn{(h >> 40) % 97}.noise-bench.example"
        span = self.end.ticks - self.start.ticks
        time = GraphTime(self.start.ticks + span * i // max(total, 1))
        planted = (h >> 48) % self.plant_every == 0
        if planted:
            story = self.stories[(h >> 8) % len(self.stories)]
            assert story.received_at is not None
            time = story.received_at.shift(seconds=(h >> 20) % (23 * 3600))
            if story.recipients and (h & 1 or not story.url_domains):
                user = sorted(story.recipients)[(h >> 4) % len(story.recipients)]
            else:
                domain = sorted(story.url_domains)[(h >> 4) % len(story.url_domains)]
        fields = {
            "event_type": "Internet Firewall",
            "user_name": user,
            "domain_name": domain,
            "dest_ip": f"198.18.{(h >> 24) % 256}.{(h >> 32) % 256}",
            "dest_port": 443,
            "action": "Block" if h % 50 == 0 else "Allow",
        }
        return NetworkEvent(
            fact_key=fact_key("cato", "bench", i),
            source="cato",
            time=time,
            user=user,
            src_ip=f"10.{(h >> 12) % 256}.{(h >> 28) % 256}.{(h >> 36) % 254 + 1}",
            dest_ip=fields["dest_ip"],
            dest_port=443,
            domain=domain,
            url=None,
            action=fields["action"],
            device=None,
            device_id=None,
            detail="Internet Firewall",
            raw=json.dumps({"time": time.isoformat(), "fieldsMap": fields}, separators=(",", ":")),
        )

    def batches(self, positions: range, total: int, size: int) -> Iterator[list[NetworkEvent]]:
        """The events at ``positions`` in lists of ``size``."""
        for lo in range(0, len(positions), size):
            yield [self.event(i, total) for i in positions[lo : lo + size]]


def naive_scan(
    keys: Sequence[StoryKeys], events: Sequence[NetworkEvent], *, policy: MatchPolicy = MatchPolicy()
) -> int:
    """``match_story`` over every event for each story: the baseline. Returns the matches found."""
    return sum(len(match_story(k, network=events, policy=policy).network) for k in keys)


class BenchDatabase:
    """A uniquely named benchmark database on the local server, dropped afterwards."""

    def __init__(self) -> None:
        self.name = f"xops_bench_corr_{os.getpid()}_{uuid.uuid4().hex[:8]}"

    def __enter__(self) -> str:
        import psycopg
        from psycopg import sql

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))
        return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{self.name}"

    def __exit__(self, *exc: object) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name)))


def hunting_expectation(keys: Sequence[StoryKeys]) -> dict[str, int]:
    """The hunting plan's size: its queries, ``expected_call_count`` and the brief's
    ``tables x ceil(messages / batch)``."""
    plan = plan_for_stories(keys)
    counts: dict[str, set[str]] = {}
    for query in plan.queries if plan else ():
        for kind, value in query.values:
            counts.setdefault(kind, set()).add(value)
    messages = len(counts.get("message_id", ()))
    return {
        "planned_queries": len(plan.queries) if plan else 0,
        "expected_call_count": expected_call_count(value_counts={k: len(v) for k, v in counts.items()}),
        "values": sum(len(v) for v in counts.values()),
        "messages": messages,
        "tables_x_ceil_messages": len(HUNTING_TABLES) * math.ceil(messages / HUNTING_BATCH_SIZE),
    }
