"""Properties: stories depend on the set of stored versions only, and any evidence gives a valid story."""

from __future__ import annotations

import functools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.stories.campaign import (
    INTEGRATION,
    TENANT,
    alert,
    at,
    campaign_payloads,
    chain_payloads,
    incident,
    received_at,
    version_of,
)
from tests.stories.memory import InMemoryStoryRepository
from xops_provider.models.timestamps import GraphTime
from xops_provider.stories.ports import IncidentVersion
from xops_provider.stories.produce import produce
from xops_provider.stories.producer import build_story

POOL = campaign_payloads() + chain_payloads()


@functools.cache
def reference_stories() -> dict[str, dict[str, Any]]:
    repo = InMemoryStoryRepository()
    for payload in POOL:
        repo.ingest(payload, tenant_id=TENANT, received_at=received_at(payload))
    produce(repo, integration=INTEGRATION, batch_size=100)
    return repo.stories


@st.composite
def arrivals(draw: st.DrawFn) -> tuple[list[int], list[bool], int]:
    sequence = list(draw(st.permutations(range(len(POOL)))))
    for repeat in draw(st.lists(st.integers(0, len(POOL) - 1), max_size=6)):
        sequence.insert(draw(st.integers(0, len(sequence))), repeat)
    produce_after = draw(st.lists(st.booleans(), min_size=len(sequence), max_size=len(sequence)))
    return sequence, produce_after, draw(st.integers(1, 4))


class TestOrderIndependence:
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(arrivals())
    def test_any_arrival_order_with_repeats_ends_in_the_same_stories(
        self, plan: tuple[list[int], list[bool], int]
    ) -> None:
        sequence, produce_after, batch_size = plan
        repo = InMemoryStoryRepository()
        for index, run in zip(sequence, produce_after, strict=True):
            payload = POOL[index]
            repo.ingest(payload, tenant_id=TENANT, received_at=received_at(payload))
            if run:
                produce(repo, integration=INTEGRATION, batch_size=batch_size)
        produce(repo, integration=INTEGRATION, batch_size=batch_size)
        assert repo.stories == reference_stories()

    @settings(max_examples=40, deadline=None)
    @given(st.lists(st.sampled_from([p for p in POOL if p["id"] == "101"]), min_size=1, max_size=8))
    def test_build_story_is_a_function_of_the_version_set(self, payloads: list[dict[str, Any]]) -> None:
        unique = {p["lastUpdateDateTime"]: p for p in payloads}
        in_order = [unique[key] for key in sorted(unique)]

        def build(items: list[dict[str, Any]]) -> dict[str, Any] | None:
            ids = {key: number for number, key in enumerate(sorted(unique), start=1)}
            versions = [version_of(p, version_id=ids[p["lastUpdateDateTime"]]) for p in items]
            return build_story(
                integration=INTEGRATION,
                tenant_id=TENANT,
                incident_id="101",
                versions=versions,
                folded={},
                merged_into=None,
            )

        assert build(payloads) == build(in_order)


_KINDS = [
    "analyzedMessageEvidence",
    "mailboxEvidence",
    "mailClusterEvidence",
    "urlEvidence",
    "userEvidence",
    "ipEvidence",
    "fileEvidence",
    "deviceEvidence",
    "processEvidence",
    "cloudApplicationEvidence",
    "registryKeyEvidence",
    "somethingNewEvidence",
]
_FIELDS = [
    "networkMessageId",
    "internetMessageId",
    "subject",
    "senderIp",
    "recipientEmailAddress",
    "p1Sender",
    "p2Sender",
    "receivedDateTime",
    "createdDateTime",
    "urls",
    "urlCount",
    "threats",
    "deliveryAction",
    "remediationStatus",
    "verdict",
    "roles",
    "primaryAddress",
    "upn",
    "userAccount",
    "clusterByValue",
    "networkMessageIds",
    "emailCount",
    "url",
    "ipAddress",
    "fileDetails",
    "deviceDnsName",
    "loggedOnUsers",
    "imageFile",
    "processCommandLine",
    "displayName",
    "appId",
]
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(
        ["", " ", "2026-03-02T08:00:00.1234567Z", "a@b.example", "http://x.example/", "Malicious"]
    ),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.sampled_from(_FIELDS), children, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def evidence_items(draw: st.DrawFn) -> dict[str, Any]:
    item = draw(st.dictionaries(st.sampled_from(_FIELDS), _VALUES, max_size=8))
    item["@odata.type"] = "#microsoft.graph.security." + draw(st.sampled_from(_KINDS))
    return item


class TestHostileEvidence:
    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(evidence=st.lists(evidence_items(), max_size=6))
    def test_any_evidence_gives_a_valid_story(
        self, evidence: list[dict[str, Any]], assert_valid_story
    ) -> None:
        payload = incident(
            "900",
            last_update=at(10),
            created=at(1),
            title="Fuzz",
            alerts=[alert("fa900", incident_id="900", title="Fuzz", created=at(1), evidence=evidence)],
        )
        version = IncidentVersion(
            version_id=1,
            tenant_id=TENANT,
            incident_id="900",
            last_update=GraphTime.parse(at(10)),
            received_at=at(11),
            payload=payload,
        )
        story = build_story(
            integration=INTEGRATION,
            tenant_id=TENANT,
            incident_id="900",
            versions=[version],
            folded={},
            merged_into=None,
        )
        assert story is not None
        assert_valid_story(story)
        assert [item["payload"] for item in story["evidence"][0]["items"]] == evidence
