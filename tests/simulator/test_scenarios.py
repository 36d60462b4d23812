from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections import Counter

import pytest

from xops_provider.models.incident import Incident, evidence_kind
from xops_provider.models.timestamps import GraphTime
from xops_provider.simulator import TENANT_ID, scenarios
from xops_provider.simulator.scenarios import company_xyz as xyz
from xops_provider.simulator.scenarios.generated import EVIDENCE_TYPES
from xops_provider.simulator.store import Clock, IncidentStore

NOW = GraphTime.parse("2026-11-28T12:00:00.0000000Z")


def _load(name, *, seed=0, incidents=None, now=NOW):
    store = IncidentStore(tenant_id=TENANT_ID, clock=Clock())
    scenarios.load(store, name=name, seed=seed, now=now, incidents=incidents)
    return [store.incident_dict(incident) for incident in store.scan()]


@pytest.fixture(scope="module")
def generated():
    return _load("generated", seed=5, incidents=400)


@pytest.fixture(scope="module")
def company():
    return {incident["id"]: incident for incident in _load("company-xyz")}


def _evidence(incidents):
    return [e for i in incidents for a in i["alerts"] for e in a["evidence"]]


class TestGenerated:
    def test_count_ids_and_alert_shape(self, generated):
        assert len(generated) == 400
        assert all(i["id"].isdigit() for i in generated)
        alerts = [a for i in generated for a in i["alerts"]]
        assert all(
            a["id"].startswith("fa") and a["serviceSource"] == "microsoftDefenderForOffice365" for a in alerts
        )
        live = [i for i in generated if i["status"].lower() != "redirected"]
        assert 1.7 <= len(alerts) / len(live) <= 2.6
        per_incident = [len(e) for e in ([ev for a in i["alerts"] for ev in a["evidence"]] for i in live)]
        assert 8 <= sum(per_incident) / len(per_incident) <= 14

    def test_every_evidence_type_is_present(self, generated):
        kinds = Counter(evidence_kind(e["@odata.type"]) for e in _evidence(generated))
        assert set(EVIDENCE_TYPES) <= set(kinds)

    def test_about_one_in_ten_is_redirected_to_an_existing_incident(self, generated):
        ids = {i["id"] for i in generated}
        redirected = [i for i in generated if i["status"] == "redirected"]
        assert 0.05 <= len(redirected) / len(generated) <= 0.16
        assert all(i["redirectIncidentId"] in ids and not i["alerts"] for i in redirected)

    def test_survivor_is_updated_after_the_incident_it_absorbed(self, generated):
        by_id = {i["id"]: i for i in generated}
        for incident in generated:
            if incident["status"] == "redirected":
                survivor = by_id[incident["redirectIncidentId"]]
                assert GraphTime.parse(survivor["lastUpdateDateTime"]) > GraphTime.parse(
                    incident["lastUpdateDateTime"]
                )

    def test_real_world_quirks_are_present(self, generated):
        stamps = [i["lastUpdateDateTime"] for i in generated] + [i["createdDateTime"] for i in generated]
        fractions = {len(s[:-1].split(".")[1]) if "." in s else 0 for s in stamps}
        assert 7 in fractions
        assert fractions - {7}
        assert any(a["alertWebUrl"].endswith(" ") for i in generated for a in i["alerts"])
        assert any(i["status"][0].isupper() or i["severity"][0].isupper() for i in generated)
        assert any(v == "" for i in generated for v in i.values())
        assert any(e.get("language") == "" for e in _evidence(generated))

    def test_all_within_the_last_three_days(self, generated):
        start = NOW.shift(seconds=-3.5 * 86400)
        for incident in generated:
            assert (
                start
                < GraphTime.parse(incident["createdDateTime"])
                <= GraphTime.parse(incident["lastUpdateDateTime"])
                < NOW
            )

    def test_the_lenient_models_accept_every_incident(self, generated):
        for raw in generated:
            model = Incident.model_validate(raw)
            assert model.id == raw["id"]

    def test_deterministic_under_the_seed(self, generated):
        again = _load("generated", seed=5, incidents=400)
        assert json.dumps(again) == json.dumps(generated)
        assert json.dumps(_load("generated", seed=6, incidents=400)) != json.dumps(generated)

    def test_times_follow_the_reference(self):
        later = GraphTime.from_datetime(NOW.to_datetime() + dt.timedelta(days=1))
        first, second = _load("generated", incidents=3), _load("generated", incidents=3, now=later)
        assert [i["displayName"] for i in first] == [i["displayName"] for i in second]
        assert first[0]["lastUpdateDateTime"] != second[0]["lastUpdateDateTime"]


class TestCompanyXyz:
    def test_incidents(self, company):
        assert set(company) == set(xyz.INCIDENT_IDS)
        assert company[xyz.CLICK_INCIDENT_ID]["status"] == "redirected"
        assert company[xyz.CLICK_INCIDENT_ID]["redirectIncidentId"] == xyz.MAIN_INCIDENT_ID
        assert company[xyz.CLICK_INCIDENT_ID]["alerts"] == []

    def test_one_message_per_recipient_with_one_sender_subject_and_url(self, company):
        zap = company[xyz.MAIN_INCIDENT_ID]["alerts"][0]
        assert zap["title"] == "Email messages containing malicious URL removed after delivery"
        messages = [
            e for e in zap["evidence"] if evidence_kind(e["@odata.type"]) == "analyzedMessageEvidence"
        ]
        assert sorted(m["recipientEmailAddress"] for m in messages) == sorted(xyz.WAVE1_RECIPIENTS)
        assert {m["p1Sender"]["emailAddress"] for m in messages} == {xyz.CAMPAIGN_SENDER}
        assert {m["subject"] for m in messages} == {xyz.CAMPAIGN_SUBJECT}
        assert {u for m in messages for u in m["urls"]} == {xyz.CAMPAIGN_URL}
        assert len({m["networkMessageId"] for m in messages}) == len(xyz.WAVE1_RECIPIENTS)
        cluster = [e for e in zap["evidence"] if evidence_kind(e["@odata.type"]) == "mailClusterEvidence"]
        assert cluster[0]["networkMessageIds"] == [m["networkMessageId"] for m in messages]

    def test_the_click_alert_moved_into_the_main_incident(self, company):
        titles = [a["title"] for a in company[xyz.MAIN_INCIDENT_ID]["alerts"]]
        assert "A potentially malicious URL click was detected" in titles
        click = company[xyz.MAIN_INCIDENT_ID]["alerts"][1]
        users = [e for e in click["evidence"] if evidence_kind(e["@odata.type"]) == "userEvidence"]
        assert users[0]["userAccount"]["userPrincipalName"] == xyz.CLICKER

    def test_endpoint_context_is_not_mdo(self, company):
        endpoint = company[xyz.ENDPOINT_INCIDENT_ID]
        model = Incident.model_validate(endpoint)
        assert not model.has_mdo_alert
        assert endpoint["alerts"][0]["id"].startswith("da")
        kinds = {evidence_kind(e["@odata.type"]) for e in endpoint["alerts"][0]["evidence"]}
        assert {"deviceEvidence", "processEvidence", "userEvidence"} <= kinds

    def test_second_wave_comes_later_from_the_same_sender(self, company):
        wave2 = company[xyz.WAVE2_INCIDENT_ID]
        messages = [
            e
            for a in wave2["alerts"]
            for e in a["evidence"]
            if evidence_kind(e["@odata.type"]) == "analyzedMessageEvidence"
        ]
        assert {m["p1Sender"]["emailAddress"] for m in messages} == {xyz.CAMPAIGN_SENDER}
        assert {m["recipientEmailAddress"] for m in messages} == set(xyz.WAVE2_RECIPIENTS)
        assert GraphTime.parse(wave2["createdDateTime"]) > GraphTime.parse(
            company[xyz.MAIN_INCIDENT_ID]["lastUpdateDateTime"]
        )
        assert Incident.model_validate(wave2).status == "active"  # written "Active"

    def test_attacker_text_carries_markup_to_escape(self, company):
        assert "<" in xyz.CAMPAIGN_SENDER_NAME
        assert "&" in xyz.CAMPAIGN_SUBJECT
        assert "<b>" in xyz.WAVE2_SUBJECT


class TestEmpty:
    def test_empty(self):
        assert _load("empty") == []

    def test_unknown(self):
        with pytest.raises(scenarios.UnknownScenario, match="company-xyz"):
            _load("nope")


_DIGEST = """
import hashlib, json
from xops_provider.models.timestamps import GraphTime
from xops_provider.simulator import scenarios
from xops_provider.simulator.store import Clock, IncidentStore
store = IncidentStore(tenant_id="t", clock=Clock())
for name in ("company-xyz", "generated"):
    scenarios.load(store, name=name, seed=4, now=GraphTime.parse("2026-11-28T12:00:00Z"), incidents=50)
    print(hashlib.sha256(json.dumps([store.incident_dict(i) for i in store.scan()]).encode()).hexdigest())
"""


class TestAcrossProcesses:
    def test_content_does_not_depend_on_hash_randomisation(self):
        def digest(hash_seed):
            env = {**os.environ, "PYTHONHASHSEED": hash_seed}
            return subprocess.run(
                [sys.executable, "-c", _DIGEST],
                capture_output=True,
                text=True,
                env=env,
                check=True,
                timeout=120,
            ).stdout

        assert digest("1") == digest("2")
