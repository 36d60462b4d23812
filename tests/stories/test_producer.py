"""build_story: golden campaign stories, real fixtures, purity and bad input."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest

from tests.stories.campaign import (
    INTEGRATION,
    MDE,
    TENANT,
    WAVE1_SUBJECT,
    alert,
    at,
    campaign_payloads,
    incident,
    message_evidence,
    received_at,
    version_of,
)
from tests.stories.memory import InMemoryStoryRepository
from xops_provider.models.timestamps import GraphTime
from xops_provider.stories.errors import StoryInputError
from xops_provider.stories.ports import IncidentVersion
from xops_provider.stories.produce import produce
from xops_provider.stories.producer import build_story, story_id


def build(payloads: list[dict[str, Any]], *, incident_id: str | None = None, **kwargs: Any) -> dict | None:
    versions = [version_of(p, version_id=i) for i, p in enumerate(payloads, start=1)]
    return build_story(
        integration=INTEGRATION,
        tenant_id=TENANT,
        incident_id=incident_id or versions[0].incident_id,
        versions=versions,
        folded=kwargs.pop("folded", {}),
        merged_into=kwargs.pop("merged_into", None),
    )


def mdo_incident(incident_id: str = "500", **extra: Any) -> dict[str, Any]:
    evidence = [
        message_evidence("alice@xyz.example", network_message_id="m-500", subject="Hello", received=at(0))
    ]
    return incident(
        incident_id,
        last_update=at(10),
        created=at(5),
        title="Phish",
        alerts=[
            alert("fa500", incident_id=incident_id, title="Phish delivered", created=at(5), evidence=evidence)
        ],
        **extra,
    )


@pytest.fixture
def campaign(repo: InMemoryStoryRepository) -> InMemoryStoryRepository:
    for payload in campaign_payloads():
        repo.ingest(payload, tenant_id=TENANT, received_at=received_at(payload))
    report = produce(repo, integration=INTEGRATION, batch_size=3)
    assert report.failures == []
    return repo


class TestCampaign:
    @pytest.mark.parametrize(
        "incident_id", [pytest.param(i, id=f"incident-{i}") for i in ("101", "102", "103")]
    )
    def test_golden(self, campaign: InMemoryStoryRepository, assert_golden, incident_id: str) -> None:
        assert_golden(f"story_{incident_id}", campaign.stories[story_id(TENANT, incident_id)])

    def test_stories_made(self, campaign: InMemoryStoryRepository) -> None:
        # 104 holds only an endpoint alert: context, no story.
        assert sorted(campaign.stories) == [f"mdo:{TENANT}:{i}" for i in ("101", "102", "103")]

    def test_merged_incident_folds_into_survivor(self, campaign: InMemoryStoryRepository) -> None:
        survivor, merged = campaign.stories["mdo:xyz-tenant:101"], campaign.stories["mdo:xyz-tenant:102"]
        assert merged["status"] == "Closed"
        assert merged["merged_into"] == "mdo:xyz-tenant:101"
        assert merged["vendor_status"] == "redirected"
        assert survivor["merged_into"] is None
        assert survivor["folded_incident_ids"] == ["102"]
        assert {e["alert_id"] for e in survivor["evidence"]} == {
            "fa1010000000000000001",
            "fa1020000000000000001",
        }
        assert ("user", "dave@xyz.example") in {(e["type"], e["value"]) for e in survivor["entities"]}
        assert [(r["incident_id"], r["folded"]) for r in survivor["raw_data"]] == [
            ("101", False),
            ("101", False),
            ("101", False),
            ("102", True),
            ("102", True),
        ]
        merge_entries = [t for t in survivor["timeline"] if t["kind"] == "merged"]
        assert [t["title"] for t in merge_entries] == ["Incident 102 was merged into this incident"]

    def test_entities_deduplicated_across_alerts(self, campaign: InMemoryStoryRepository) -> None:
        entities = campaign.stories["mdo:xyz-tenant:101"]["entities"]
        (email,) = [e for e in entities if e["type"] == "email"]
        assert email["value"] == "9f1c2b7a-0000-4d1e-8f00-000000000001"
        assert email["attributes"]["recipients"] == [
            "alice@xyz.example",
            "bob@xyz.example",
            "carol@xyz.example",
            "dave@xyz.example",
        ]
        assert email["alert_ids"] == ["fa1010000000000000001", "fa1020000000000000001"]
        keys = [(e["type"], e["value"]) for e in entities]
        assert len(keys) == len(set(keys))

    def test_summary_facts(self, campaign: InMemoryStoryRepository) -> None:
        survivor = campaign.stories["mdo:xyz-tenant:101"]
        assert survivor["affected_users"] == [
            "alice@xyz.example",
            "bob@xyz.example",
            "carol@xyz.example",
            "dave@xyz.example",
        ]
        assert survivor["source"] == "alice@xyz.example"
        assert survivor["source_url"] == "https://security.microsoft.com/incidents/101?tid=xyz-tenant"
        assert (survivor["criticality"], survivor["severity"]) == (8, "high")
        assert survivor["indication"] == "Malicious URL click"
        assert survivor["predicted_verdict"] == "Malicious"
        assert survivor["verdict"] is None
        assert survivor["first_signal"] == at(0)  # the mail arrived before the alert
        assert survivor["last_signal"] == at(19)
        assert survivor["created_at"] == at(9)
        assert survivor["updated_at"] == at(120)
        assert survivor["details"]["mitre_techniques"] == ["T1566.002"]
        assert survivor["details"]["tags"] == ["Phish campaign"]
        assert survivor["details"]["assignee"] == "soc-analyst@xyz.example"

    def test_second_wave_is_reopened(self, campaign: InMemoryStoryRepository) -> None:
        wave2 = campaign.stories["mdo:xyz-tenant:103"]
        assert (wave2["status"], wave2["vendor_status"]) == ("Reopened", "active")
        assert wave2["indication"] == "Campaign"
        kinds = [t["kind"] for t in wave2["timeline"]]
        assert kinds.index("status_changed") < kinds.index("alert_added") < kinds.index("reopened")
        assert {e["service_source"] for e in wave2["evidence"]} == {"microsoftDefenderForOffice365", MDE}

    def test_timeline_is_ordered(self, campaign: InMemoryStoryRepository) -> None:
        for story in campaign.stories.values():
            times = [GraphTime.parse(t["time"]) for t in story["timeline"]]
            assert times == sorted(times)

    def test_narrative_says_who_what_whom(self, campaign: InMemoryStoryRepository) -> None:
        text = campaign.stories["mdo:xyz-tenant:101"]["details"]["narrative"]
        assert (
            "4 recipients (alice@xyz.example, bob@xyz.example, carol@xyz.example and dave@xyz.example)"
            in text
        )
        assert f"“{WAVE1_SUBJECT}”" in text
        assert "removed 3 messages after delivery (ZAP)" in text
        assert "have not been correlated yet" in text

    def test_correlation_placeholder(self, campaign: InMemoryStoryRepository) -> None:
        correlation = campaign.stories["mdo:xyz-tenant:103"]["correlation"]
        assert (
            correlation["clicks"] == correlation["network_activity"] == correlation["related_stories"] == []
        )
        assert correlation["affected_users"] == ["erin@xyz.example", "frank@xyz.example"]
        assert all("not run" in answer for answer in correlation["answers"].values())


class TestRealFixtures:
    def test_mdo_alert_inside_an_incident(self, real_fixture, assert_valid_story) -> None:
        raw_alert = real_fixture("graph/alert_mdo_wazuh_docs.json")
        payload = {
            "id": "xx",
            "lastUpdateDateTime": raw_alert["lastUpdateDateTime"],
            "createdDateTime": raw_alert["createdDateTime"],
            "incidentWebUrl": raw_alert["incidentWebUrl"],
            "displayName": raw_alert["title"],
            "status": "active",
            "severity": "high",
            "alerts": [raw_alert],
        }
        story = build([payload])
        assert story is not None
        assert_valid_story(story)
        assert story["indication"] == "Malware"
        assert story["raw_data"][0]["payload"] == payload
        assert story["evidence"][0]["items"][0]["payload"] == raw_alert["evidence"][0]

    def test_mde_only_incident_makes_no_story(self, real_fixture) -> None:
        payload = real_fixture("graph/incidents_expand_alerts_msdocs.json")["value"][0]
        assert build([payload]) is None

    def test_mdo_alert_joining_later_makes_a_story(self, real_fixture, assert_valid_story) -> None:
        first = real_fixture("graph/incidents_expand_alerts_msdocs.json")["value"][0]
        second = copy.deepcopy(first)
        second["lastUpdateDateTime"] = "2021-09-30T09:35:45.1133334Z"
        second["alerts"].append(real_fixture("graph/alert_mdo_wazuh_docs.json"))
        story = build([first, second])
        assert story is not None
        assert_valid_story(story)
        assert story["details"]["tags"] == ["Demo"]
        assert [t["title"] for t in story["timeline"] if t["kind"] == "comment"] == [
            "Comment by DavidS@contoso.onmicrosoft.com: Demo incident"
        ]


class TestPurity:
    def test_order_and_repeats_do_not_matter(self) -> None:
        payloads = [p for p in campaign_payloads() if p["id"] == "103"]
        versions = [version_of(p, version_id=i) for i, p in enumerate(payloads, start=1)]
        expected = build_story(
            integration=INTEGRATION,
            tenant_id=TENANT,
            incident_id="103",
            versions=versions,
            folded={},
            merged_into=None,
        )
        shuffled = versions * 3
        random.Random(7).shuffle(shuffled)
        again = build_story(
            integration=INTEGRATION,
            tenant_id=TENANT,
            incident_id="103",
            versions=shuffled,
            folded={},
            merged_into=None,
        )
        assert again == expected

    def test_input_is_not_mutated_nor_shared(self) -> None:
        payload = mdo_incident()
        snapshot = copy.deepcopy(payload)
        story = build([payload])
        assert payload == snapshot
        story["raw_data"][0]["payload"]["id"] = "changed"
        assert payload["id"] == "500"

    def test_seven_digit_times_order_versions(self) -> None:
        older = mdo_incident(lastUpdateDateTime="2026-03-02T08:10:00.1234567Z", status="active")
        newer = mdo_incident(lastUpdateDateTime="2026-03-02T08:10:00.1234568Z", status="resolved")
        story = build([newer, older])
        assert story["vendor_status"] == "resolved"
        assert story["updated_at"] == "2026-03-02T08:10:00.1234568Z"
        assert [r["last_update"] for r in story["raw_data"]] == [
            "2026-03-02T08:10:00.1234567Z",
            "2026-03-02T08:10:00.1234568Z",
        ]


def _no_evidence(payload: dict[str, Any]) -> None:
    payload["alerts"][0]["evidence"] = []


def _blank_everything(payload: dict[str, Any]) -> None:
    for key in (
        "displayName",
        "assignedTo",
        "classification",
        "determination",
        "severity",
        "status",
        "summary",
    ):
        payload[key] = ""
    payload["alerts"][0].update(title="", severity="", createdDateTime="", category="")
    for evidence in payload["alerts"][0]["evidence"]:
        evidence.update(recipientEmailAddress="", subject="", senderIp="", networkMessageId="", verdict="")


def _pascal_case(payload: dict[str, Any]) -> None:
    payload.update(status="Active", severity="High", classification="TruePositive")
    payload["alerts"][0].update(serviceSource="MicrosoftDefenderForOffice365", severity="High")


def _alerts_as_object(payload: dict[str, Any]) -> None:
    payload["alerts"] = payload["alerts"][0]


def _wrongly_typed_evidence(payload: dict[str, Any]) -> None:
    evidence = payload["alerts"][0]["evidence"]
    evidence[0].update(remediationStatus=[], roles=[1, {"x": 2}], **{"@odata.type": 7})
    evidence.append("not an object")


def _minimal(payload: dict[str, Any]) -> None:
    for key in list(payload):
        if key not in ("id", "lastUpdateDateTime", "alerts"):
            del payload[key]
    payload["alerts"] = [{"id": "fa1", "serviceSource": "microsoftDefenderForOffice365"}]


HOSTILE_SUBJECT = (
    "\u200bInvoice\u202e<script>alert(1)</script> "
    "\u0441\u0447\u0451\u0442 \u8acb\u6c42\u66f8 \u0641\u0627\u062a\u0648\u0631\u0629"
)


def _hostile_text(payload: dict[str, Any]) -> None:
    payload["displayName"] = HOSTILE_SUBJECT
    payload["alerts"][0]["title"] = "<img src=x onerror=alert(1)>"
    payload["alerts"][0]["evidence"][0]["subject"] = HOSTILE_SUBJECT
    payload["alerts"][0]["evidence"][0]["p2Sender"]["displayName"] = "\u202eCEO\u200d<b>"


class TestBadInput:
    @pytest.mark.parametrize(
        "mutate",
        [
            pytest.param(_no_evidence, id="alert-without-evidence"),
            pytest.param(_blank_everything, id="empty-strings"),
            pytest.param(_pascal_case, id="pascal-case-enums"),
            pytest.param(_alerts_as_object, id="alerts-as-object"),
            pytest.param(_minimal, id="missing-fields"),
            pytest.param(_wrongly_typed_evidence, id="wrongly-typed-evidence"),
            pytest.param(_hostile_text, id="zero-width-rtl-html-non-latin"),
        ],
    )
    def test_accepted(self, assert_valid_story, mutate) -> None:
        payload = mdo_incident()
        mutate(payload)
        received = copy.deepcopy(payload)
        story = build([payload])
        assert story is not None
        assert_valid_story(story)
        assert story["raw_data"][0]["payload"] == received

    def test_hostile_text_is_kept_verbatim(self) -> None:
        payload = mdo_incident()
        _hostile_text(payload)
        story = build([payload])
        assert story["title"] == HOSTILE_SUBJECT
        (email,) = [e for e in story["entities"] if e["type"] == "email"]
        assert email["attributes"]["subject"] == HOSTILE_SUBJECT
        assert story["evidence"][0]["title"] == "<img src=x onerror=alert(1)>"
        assert HOSTILE_SUBJECT in story["details"]["narrative"]

    def test_wrongly_typed_evidence_fields_are_read_as_missing(self) -> None:
        payload = mdo_incident()
        _wrongly_typed_evidence(payload)
        story = build([payload])
        assert story["entities"], "the rest of the evidence still gives entities"
        # The evidence widget keeps what Microsoft sent; a non-object item is not evidence and is skipped.
        assert [item["payload"] for item in story["evidence"][0]["items"]] == [
            payload["alerts"][0]["evidence"][0]
        ]
        assert story["raw_data"][0]["payload"]["alerts"][0]["evidence"][1] == "not an object"

    def test_pascal_case_is_understood(self) -> None:
        payload = mdo_incident()
        _pascal_case(payload)
        story = build([payload])
        assert (story["severity"], story["vendor_status"], story["predicted_verdict"]) == (
            "high",
            "active",
            "Malicious",
        )

    @pytest.mark.parametrize(
        ("mutate", "match"),
        [
            pytest.param(
                lambda p: p["alerts"][0].update(id=""),
                r"version 1: unreadable payload \(alerts\.0\.id",
                id="alert-without-id",
            ),
            pytest.param(
                lambda p: p.update(alerts="nope"), r"unreadable payload \(alerts", id="alerts-not-a-list"
            ),
            pytest.param(
                lambda p: p.update(alerts=["nope"]),
                r"unreadable payload \(alerts: .*alert 0 is not an object",
                id="alert-not-an-object",
            ),
            pytest.param(lambda p: p.update(id="999"), "payload id differs", id="wrong-incident"),
            pytest.param(lambda p: p.update(id=None), r"unreadable payload \(id", id="missing-id"),
        ],
    )
    def test_rejected_with_a_reason(self, mutate, match: str) -> None:
        payload = mdo_incident()
        mutate(payload)
        version = IncidentVersion(
            version_id=1,
            tenant_id=TENANT,
            incident_id="500",
            last_update=GraphTime.parse(at(10)),
            received_at=at(11),
            payload=payload,
        )
        with pytest.raises(StoryInputError, match=match) as info:
            build_story(
                integration=INTEGRATION,
                tenant_id=TENANT,
                incident_id="500",
                versions=[version],
                folded={},
                merged_into=None,
            )
        assert info.value.incident_id == "500"
        assert "alert(1)" not in str(info.value)

    def test_version_of_another_incident_is_rejected(self) -> None:
        version = version_of(mdo_incident("501"), version_id=1)
        with pytest.raises(StoryInputError, match="belongs to another tenant or incident"):
            build_story(
                integration=INTEGRATION,
                tenant_id=TENANT,
                incident_id="500",
                versions=[version],
                folded={},
                merged_into=None,
            )

    def test_five_hundred_alerts(self, assert_valid_story) -> None:
        alerts = [
            alert(
                f"fa{i:04d}",
                incident_id="600",
                title="Email messages containing malicious URL removed after delivery",
                created=at(i / 10),
                evidence=[
                    message_evidence(
                        f"user{i % 50}@xyz.example",
                        network_message_id=f"m-{i % 100}",
                        subject="Big wave",
                        received=at(0),
                        urls=[f"https://evil{i % 10}.example/x"],
                    )
                ],
            )
            for i in range(500)
        ]
        first = incident("600", last_update=at(60), created=at(0), alerts=alerts[:250], title="Big")
        second = incident("600", last_update=at(61), created=at(0), alerts=alerts, title="Big")
        story = build([first, second])
        assert_valid_story(story)
        assert story["alert_count"] == 500
        assert len([e for e in story["entities"] if e["type"] == "email"]) == 100
        assert len(story["affected_users"]) == 50
        assert sum(1 for t in story["timeline"] if t["kind"] == "alert_added") == 250
