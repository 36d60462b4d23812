"""Each story's candidate facts, looked up by key instead of scanned.

:func:`~xops_provider.correlation.matching.match_story` checks every fact it is given against one
story, so giving it all of a run's facts costs ``stories x facts``: the naive baseline of
``benchmarks/correlate.py``. :class:`FactIndex` hands it, per story, only the facts that share one
of its message ids, URLs, users, domains (or a parent domain), destination IPs or devices: a
superset of its matches, which ``match_story`` still decides. The result is identical (a property
test pins it); the cost grows with the matches, not with the run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from xops_provider.correlation.facts import Click, EndpointDetection, NetworkEvent, PostDeliveryAction
from xops_provider.correlation.keys import StoryKeys
from xops_provider.correlation.matching import MatchPolicy, StoryMatches, match_story
from xops_provider.correlation.pipeline import FactSet


def _suffixes(host: str | None) -> Iterator[str]:
    if host:
        labels = host.split(".")
        for i in range(len(labels)):
            yield ".".join(labels[i:])


@dataclass
class _Postings:
    by_key: dict[tuple[str, str], list[int]]

    @classmethod
    def empty(cls) -> _Postings:
        return cls(by_key=defaultdict(list))

    def add(self, kind: str, value: str | None, position: int) -> None:
        if value:
            self.by_key[(kind, value)].append(position)

    def find(self, kind: str, values: Iterable[str]) -> set[int]:
        found: set[int] = set()
        for value in values:
            found.update(self.by_key.get((kind, value), ()))
        return found


class FactIndex:
    """A run's facts, indexed by what a story can join them on.

    :param facts: every fact of the run.
    """

    def __init__(self, facts: FactSet) -> None:
        self.facts = facts
        self._clicks = _Postings.empty()
        for i, c in enumerate(facts.clicks):
            self._clicks.add("message", c.message_id, i)
            self._clicks.add("url", c.url, i)
            self._clicks.add("user", c.user, i)
        self._post = _Postings.empty()
        for i, a in enumerate(facts.post_delivery):
            self._post.add("message", a.message_id, i)
        self._network = _Postings.empty()
        for i, e in enumerate(facts.network):
            self._network.add("url", e.url, i)
            self._network.add("ip", e.dest_ip, i)
            self._network.add("user", e.user, i)
            for suffix in _suffixes(e.domain):
                self._network.add("domain", suffix, i)
        self._detections = _Postings.empty()
        for i, d in enumerate(facts.detections):
            for user in d.users:
                self._detections.add("user", user, i)
            for device in (*d.devices, *d.device_ids):
                self._detections.add("device", device, i)

    def match(self, keys: StoryKeys, *, policy: MatchPolicy = MatchPolicy()) -> StoryMatches:
        """What :func:`match_story` finds for a story among all the run's facts, from its candidates.

        :param keys: the story's keys.
        :param policy: the window.
        """
        f = self.facts
        clicks: list[Click] = [
            f.clicks[i]
            for i in sorted(
                self._clicks.find("message", keys.message_ids)
                | self._clicks.find("url", keys.urls)
                | self._clicks.find("user", keys.recipients)
            )
        ]
        post: list[PostDeliveryAction] = [
            f.post_delivery[i] for i in sorted(self._post.find("message", keys.message_ids))
        ]
        network_ids = (
            self._network.find("url", keys.urls)
            | self._network.find("ip", keys.ips)
            | self._network.find("user", keys.recipients)
            | self._network.find("domain", keys.url_domains)
        )
        network: list[NetworkEvent] = [f.network[i] for i in sorted(network_ids)]
        devices = set(keys.devices)
        for event in network:
            devices.update(d for d in (event.device, event.device_id) if d)
        detections: list[EndpointDetection] = [
            f.detections[i]
            for i in sorted(
                self._detections.find("user", keys.recipients) | self._detections.find("device", devices)
            )
        ]
        return match_story(
            keys, clicks=clicks, post_delivery=post, network=network, detections=detections, policy=policy
        )
