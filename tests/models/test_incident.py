from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from tests.paths import REAL_GRAPH as REAL
from xops_provider.models.incident import Alert, Incident, evidence_kind

T0 = "2026-03-01T10:00:00.1234567Z"


class TestRealPayloads:
    def test_msdocs_incident_page(self):
        page = json.loads((REAL / "incidents_expand_alerts_msdocs.json").read_text())
        incident = Incident.model_validate(page["value"][0])
        assert incident.custom_tags == ["Demo"]  # older payloads say "tags"
        assert incident.alerts[0].incident_id != incident.id  # alerts can move between incidents
        assert not incident.has_mdo_alert
        assert [e.kind for e in incident.alerts[0].evidence] == [
            "deviceEvidence",
            "fileEvidence",
            "processEvidence",
            "registryKeyEvidence",
        ]

    def test_mdo_alert_with_trailing_space_url(self):
        alert = Alert.model_validate(json.loads((REAL / "alert_mdo_wazuh_docs.json").read_text()))
        assert alert.is_mdo
        assert alert.alert_web_url == "https://security.microsoft.com/alerts/xxxx-xxxx-xxxx-xxxx-xxxx"
        assert alert.last_update.isoformat() == "2026-08-01T03:49:55.5233333Z"


class TestLenience:
    def test_pascal_case_enums_and_blank_values(self):
        incident = Incident.model_validate(
            {
                "id": 552,
                "lastUpdateDateTime": T0,
                "status": "Resolved",
                "severity": "Informational",
                "classification": "",
                "assignedTo": "   ",
                "alerts": {
                    "id": "fa1",
                    "serviceSource": "MicrosoftDefenderForOffice365",
                    "status": "InProgress",
                },
            }
        )
        assert (incident.id, incident.status, incident.severity) == ("552", "resolved", "informational")
        assert incident.classification is None
        assert incident.assigned_to is None
        assert incident.alerts[0].status == "inProgress"  # a lone object became a list
        assert incident.has_mdo_alert

    def test_wrongly_typed_optional_fields_read_as_missing(self):
        incident = Incident.model_validate(
            {
                "id": "7",
                "lastUpdateDateTime": T0,
                "displayName": {"nested": True},
                "customTags": "solo",
                "alerts": [
                    {
                        "id": "fa1",
                        "title": 42,
                        "mitreTechniques": "T1566",
                        "evidence": [
                            {
                                "@odata.type": "#microsoft.graph.security.mailboxEvidence",
                                "remediationStatus": [],
                            },
                            "not an object",
                        ],
                    },
                ],
            }
        )
        assert incident.display_name is None
        assert incident.custom_tags == ["solo"]
        alert = incident.alerts[0]
        assert (alert.title, alert.mitre_techniques) == ("42", ["T1566"])
        assert [e.remediation_status for e in alert.evidence] == [None]

    def test_unknown_keys_are_kept(self):
        incident = Incident.model_validate({"id": "1", "lastUpdateDateTime": T0, "brandNewField": {"x": 1}})
        assert incident.model_extra == {"brandNewField": {"x": 1}}


class TestRefusals:
    @pytest.mark.parametrize(
        ("record", "match"),
        [
            pytest.param({"lastUpdateDateTime": T0}, "id", id="no-id"),
            pytest.param({"id": {"x": 1}, "lastUpdateDateTime": T0}, "incident id", id="object-id"),
            pytest.param({"id": "1"}, "lastUpdateDateTime", id="no-time"),
            pytest.param(
                {"id": "1", "lastUpdateDateTime": ""}, "lastUpdateDateTime is missing", id="blank-time"
            ),
            pytest.param({"id": "1", "lastUpdateDateTime": "soon"}, "ISO 8601", id="bad-time"),
            pytest.param(
                {"id": "1", "lastUpdateDateTime": T0, "alerts": [{"title": "x"}]}, "id", id="alert-no-id"
            ),
        ],
    )
    def test_identity_problems_refuse_the_record(self, record, match):
        with pytest.raises(ValidationError, match=match):
            Incident.model_validate(record)


class TestEvidenceKind:
    @pytest.mark.parametrize(
        ("odata_type", "kind"),
        [
            pytest.param("#microsoft.graph.security.urlEvidence", "urlEvidence", id="canonical"),
            pytest.param("microsoft.graph.security.URLEVIDENCE", "urlEvidence", id="no-hash-upper"),
            pytest.param("#microsoft.graph.security.quantumEvidence", "quantumEvidence", id="unknown-kept"),
            pytest.param(None, "unknown", id="missing"),
        ],
    )
    def test_dispatch_is_case_insensitive(self, odata_type, kind):
        assert evidence_kind(odata_type) == kind
