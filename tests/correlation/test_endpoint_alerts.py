"""alerts_v2 alerts -> endpoint detections."""

from __future__ import annotations

import json

import pytest

from tests.correlation.builders import endpoint_alert
from xops_provider.correlation.endpoint_alerts import parse_endpoint_alert
from xops_provider.correlation.facts import FactError


class TestEndpointAlert:
    def test_real_defender_for_endpoint_alert(self, real_fixture_json) -> None:
        alert = real_fixture_json("graph/incidents_expand_alerts_msdocs.json")["value"][0]["alerts"][0]
        detection = parse_endpoint_alert(alert)
        assert detection.source == "microsoftDefenderForEndpoint"
        assert detection.alert_id == "da637551227677560813_-961444813"
        assert detection.incident_id == "28282"
        assert detection.time.isoformat() == "2021-04-26T07:45:50.1160000Z"  # first activity
        assert detection.severity == "low"
        assert detection.devices == ("tempdns",)
        assert detection.device_ids == ("73e7e2de709dff64ef64b1d0c30e67fab63279db",)

    def test_the_mdo_alert_is_not_an_endpoint_detection(self, real_fixture_json) -> None:
        with pytest.raises(FactError, match="'microsoftDefenderForOffice365' is not an endpoint product"):
            parse_endpoint_alert(real_fixture_json("graph/alert_mdo_wazuh_docs.json"))

    def test_users_devices_and_ips(self) -> None:
        detection = parse_endpoint_alert(endpoint_alert(minute=30, upn="Erin@XYZ.example"))
        assert detection.users == ("erin@xyz.example", "xyz\\erin")
        assert detection.devices == ("erin-laptop.xyz.example",)
        assert detection.ips == ("198.51.100.7",)

    def test_key_is_the_alert_id(self) -> None:
        first = parse_endpoint_alert(endpoint_alert(minute=30))
        updated = parse_endpoint_alert(
            {**endpoint_alert(minute=30), "severity": "medium", "status": "resolved"}
        )
        assert first.fact_key == updated.fact_key
        assert first.raw != updated.raw

    def test_created_time_without_activity(self) -> None:
        alert = {**endpoint_alert(minute=30), "firstActivityDateTime": ""}
        assert parse_endpoint_alert(alert).time.isoformat() == alert["createdDateTime"]

    def test_bad_evidence_items_are_skipped(self) -> None:
        alert = {
            **endpoint_alert(minute=30, device=None),
            "evidence": ["x", {"@odata.type": "#x.ipEvidence", "ipAddress": "nope"}],
        }
        assert parse_endpoint_alert(alert).ips == ()

    @pytest.mark.parametrize(
        ("change", "reason"),
        [
            pytest.param({"id": ""}, "alert: missing id", id="no-id"),
            pytest.param({"serviceSource": None}, "None' is not an endpoint product", id="no-source"),
            pytest.param(
                {"firstActivityDateTime": None, "createdDateTime": None},
                "missing createdDateTime",
                id="no-time",
            ),
            pytest.param(
                {"createdDateTime": "soon", "firstActivityDateTime": None}, "not an ISO 8601", id="bad-time"
            ),
            pytest.param({"title": {"a": 1}}, "title is not text", id="title-object"),
        ],
    )
    def test_malformed(self, change: dict, reason: str) -> None:
        with pytest.raises(FactError, match=reason):
            parse_endpoint_alert({**endpoint_alert(minute=30), **change})

    def test_text_is_kept_as_received(self) -> None:
        text = json.dumps(endpoint_alert(minute=30), indent=2)
        assert parse_endpoint_alert(text).raw == text
