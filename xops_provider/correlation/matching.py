"""The matching rules: which facts belong to a story. They are the specification the store's
set-based SQL must reproduce, and the naive per-story baseline the benchmark compares it with.

All comparisons are exact on normalised values (:class:`~xops_provider.correlation.keys.StoryKeys`).
The window is ``[received_at, received_at + window]`` (both ends included; 24 hours by default).

- **Click**: its ``NetworkMessageId`` is one of the story's messages (at any time); or, within the
  window, its URL is one of the story's URLs (whoever clicked), or a recipient clicked a URL whose
  host is one of the story's URL domains (a personalised link differs per recipient).
- **Post-delivery action**: its ``NetworkMessageId`` is one of the story's messages.
- **Network event**, within the window: its user is a recipient (``user``), or its destination is
  one of the story's URLs (``url``), URL domains (``domain``) or destination IPs (``ip``).
- **Endpoint detection**, with its activity within the window: it names a recipient (``user``) or
  a recipient's device (``device``): a device of the story, or one a recipient used in a network
  event matched on ``user``.

A domain matches itself and its subdomains, never a parent or a lookalike: ``a.evil.example``
matches ``evil.example``; ``evil.example.net``, ``notevil.example`` and ``example`` do not.
Users are compared as addresses: an account known only as ``DOMAIN\\name`` joins no recipient.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from xops_provider.correlation.facts import Click, EndpointDetection, NetworkEvent, PostDeliveryAction
from xops_provider.correlation.keys import StoryKeys
from xops_provider.models.timestamps import GraphTime

DEFAULT_WINDOW_HOURS = 24
F = TypeVar("F", Click, PostDeliveryAction, NetworkEvent, EndpointDetection)


@dataclass(frozen=True, slots=True)
class MatchPolicy:
    """The matching parameters.

    :param window_seconds: how long after receipt network, endpoint and URL matches count.
    """

    window_seconds: int = DEFAULT_WINDOW_HOURS * 3600

    def window(self, keys: StoryKeys) -> tuple[GraphTime, GraphTime] | None:
        """The story's window, or ``None`` when its receipt time is unknown.

        :param keys: the story's keys.
        """
        if keys.received_at is None:
            return None
        return keys.received_at, keys.received_at.shift(seconds=self.window_seconds)


@dataclass(frozen=True, slots=True)
class Match(Generic[F]):
    """A fact matched to a story, and what it matched on.

    :param fact: the fact.
    :param matched_on: the rules it met, sorted: ``message``, ``url``, ``domain``, ``ip``,
        ``user``, ``device``.
    """

    fact: F
    matched_on: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StoryMatches:
    """Everything matched to one story, each list ordered by time then fact key."""

    clicks: tuple[Match[Click], ...] = ()
    post_delivery: tuple[Match[PostDeliveryAction], ...] = ()
    network: tuple[Match[NetworkEvent], ...] = ()
    detections: tuple[Match[EndpointDetection], ...] = ()


def domain_in(host: str | None, domains: frozenset[str]) -> bool:
    """Whether a host is one of the domains or a subdomain of one.

    :param host: a normalised host name.
    :param domains: normalised domains.
    """
    if not host or not domains:
        return False
    labels = host.split(".")
    return any(".".join(labels[i:]) in domains for i in range(len(labels)))


def _within(time: GraphTime, window: tuple[GraphTime, GraphTime] | None) -> bool:
    return window is not None and window[0] <= time <= window[1]


def click_matched_on(keys: StoryKeys, click: Click, *, policy: MatchPolicy) -> tuple[str, ...]:
    """The click rules a click meets for a story (empty: no match).

    :param keys: the story's keys.
    :param click: the click.
    :param policy: the window.
    """
    reasons = []
    if click.message_id is not None and click.message_id in keys.message_ids:
        reasons.append("message")
    if _within(click.time, policy.window(keys)):
        if click.url in keys.urls:
            reasons.append("url")
        if click.user in keys.recipients and domain_in(click.domain, keys.url_domains):
            reasons.append("domain")
    return tuple(reasons)


def post_delivery_matched_on(keys: StoryKeys, action: PostDeliveryAction) -> tuple[str, ...]:
    """``("message",)`` when the action concerns one of the story's messages.

    :param keys: the story's keys.
    :param action: the post-delivery action.
    """
    return ("message",) if action.message_id in keys.message_ids else ()


def network_matched_on(keys: StoryKeys, event: NetworkEvent, *, policy: MatchPolicy) -> tuple[str, ...]:
    """The network rules an event meets for a story (empty: no match).

    :param keys: the story's keys.
    :param event: the network event.
    :param policy: the window.
    """
    if not _within(event.time, policy.window(keys)):
        return ()
    reasons = []
    if event.url is not None and event.url in keys.urls:
        reasons.append("url")
    if domain_in(event.domain, keys.url_domains):
        reasons.append("domain")
    if event.dest_ip is not None and event.dest_ip in keys.ips:
        reasons.append("ip")
    if event.user is not None and event.user in keys.recipients:
        reasons.append("user")
    return tuple(reasons)


def recipient_devices(keys: StoryKeys, network: Iterable[Match[NetworkEvent]]) -> frozenset[str]:
    """The recipients' devices: the story's own, and those of network events matched on ``user``.

    :param keys: the story's keys.
    :param network: the story's matched network events.
    """
    devices = set(keys.devices)
    for match in network:
        if "user" in match.matched_on:
            devices.update(d for d in (match.fact.device, match.fact.device_id) if d)
    return frozenset(devices)


def detection_matched_on(
    keys: StoryKeys, detection: EndpointDetection, *, devices: frozenset[str], policy: MatchPolicy
) -> tuple[str, ...]:
    """The endpoint rules a detection meets for a story (empty: no match).

    :param keys: the story's keys.
    :param detection: the endpoint detection.
    :param devices: the recipients' devices (:func:`recipient_devices`).
    :param policy: the window.
    """
    if not _within(detection.time, policy.window(keys)):
        return ()
    reasons = []
    if keys.recipients.intersection(detection.users):
        reasons.append("user")
    if devices.intersection(detection.devices) or devices.intersection(detection.device_ids):
        reasons.append("device")
    return tuple(reasons)


def unique_facts(facts: Iterable[F]) -> list[F]:
    """One fact per key, whatever the input order: of two copies, the one with the smaller raw text.

    The store keeps one row per key, so this only matters to callers that pass repeats.

    :param facts: facts, repeats allowed.
    """
    chosen: dict[str, F] = {}
    for fact in facts:
        kept = chosen.get(fact.fact_key)
        if kept is None or fact.raw < kept.raw:
            chosen[fact.fact_key] = fact
    return sorted(chosen.values(), key=lambda f: (f.time.ticks, f.fact_key))


def _matches(facts: Iterable[F], rule: Callable[[F], tuple[str, ...]]) -> tuple[Match[F], ...]:
    return tuple(Match(fact, on) for fact in unique_facts(facts) if (on := rule(fact)))


def match_story(
    keys: StoryKeys,
    *,
    clicks: Iterable[Click] = (),
    post_delivery: Iterable[PostDeliveryAction] = (),
    network: Iterable[NetworkEvent] = (),
    detections: Iterable[EndpointDetection] = (),
    policy: MatchPolicy = MatchPolicy(),
) -> StoryMatches:
    """Every fact that belongs to a story, by this module's rules; a fact given twice counts once.

    :param keys: the story's keys.
    :param clicks: candidate clicks.
    :param post_delivery: candidate post-delivery actions.
    :param network: candidate network events.
    :param detections: candidate endpoint detections.
    :param policy: the window.
    """
    matched_network = _matches(network, lambda e: network_matched_on(keys, e, policy=policy))
    devices = recipient_devices(keys, matched_network)
    return StoryMatches(
        clicks=_matches(clicks, lambda c: click_matched_on(keys, c, policy=policy)),
        post_delivery=_matches(post_delivery, lambda a: post_delivery_matched_on(keys, a)),
        network=matched_network,
        detections=_matches(
            detections, lambda d: detection_matched_on(keys, d, devices=devices, policy=policy)
        ),
    )
