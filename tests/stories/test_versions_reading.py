"""The story reads a version with its evidence as received: every other reading, and every error, is
the full model's."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tests.stories.campaign import INTEGRATION, TENANT, at, campaign_payloads
from xops_provider.models.incident import Incident
from xops_provider.models.timestamps import GraphTime
from xops_provider.stories import versions
from xops_provider.stories.errors import StoryInputError
from xops_provider.stories.ports import IncidentVersion
from xops_provider.stories.producer import build_story


def _reading(read: Any, payload: Any) -> Any:
    try:
        incident = read(payload)
    except ValidationError as err:
        return "error", err.errors(include_url=False, include_context=False)
    alerts = [alert.model_dump(exclude={"evidence"}) for alert in incident.alerts]
    return "read", incident.model_dump(exclude={"alerts"}), alerts


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.sampled_from(["", " ", "2026-03-02T08:00:00.1234567Z", "Malicious", "#microsoft.graph.security.x"]),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=5,
)
_EVIDENCE_KEYS = st.sampled_from(
    ["@odata.type", "createdDateTime", "verdict", "remediationStatus", "roles", "detailedRoles", "tags", "x"]
)
_EVIDENCE_ITEM = st.one_of(
    st.dictionaries(_EVIDENCE_KEYS, _VALUES, max_size=6),
    st.dictionaries(st.one_of(_EVIDENCE_KEYS, st.integers()), _VALUES, max_size=3),
    _SCALARS,
)
_ALERT = st.fixed_dictionaries(
    {"id": st.one_of(st.text(max_size=4), st.integers(), st.none())},
    optional={
        "serviceSource": st.sampled_from(["microsoftDefenderForOffice365", "x", ""]),
        "createdDateTime": _SCALARS,
        "title": _SCALARS,
        "evidence": st.one_of(st.lists(_EVIDENCE_ITEM, max_size=3), _EVIDENCE_ITEM),
        "comments": st.lists(_VALUES, max_size=2),
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    alerts=st.one_of(st.lists(st.one_of(_ALERT, _SCALARS), max_size=3), _ALERT, _SCALARS),
    last_update=st.sampled_from(["2026-03-02T08:00:00Z", "", "nope"]),
)
def test_any_payload_reads_as_the_full_model_reads_it(alerts: Any, last_update: str) -> None:
    payload = {"id": "1", "lastUpdateDateTime": last_update, "alerts": alerts}
    assert _reading(versions._read_incident, payload) == _reading(Incident.model_validate, payload)


@pytest.mark.parametrize(
    "evidence",
    [
        pytest.param([{1: "int key"}], id="int-key"),
        pytest.param({None: "none key"}, id="lone-object-none-key"),
        pytest.param([{"ok": 1}, {(1, 2): "tuple key"}], id="second-item"),
    ],
)
def test_a_key_that_is_not_text_is_refused_as_before(evidence: Any) -> None:
    payload = {
        "id": "1",
        "lastUpdateDateTime": "2026-03-02T08:00:00Z",
        "alerts": [{"id": "a", "evidence": evidence}],
    }
    assert _reading(versions._read_incident, payload) == _reading(Incident.model_validate, payload)
    assert _reading(versions._read_incident, payload)[0] == "error"
    with pytest.raises(StoryInputError, match="unreadable payload"):
        build_story(
            integration=INTEGRATION,
            tenant_id=TENANT,
            incident_id="1",
            versions=[
                IncidentVersion(
                    version_id=1,
                    tenant_id=TENANT,
                    incident_id="1",
                    last_update=GraphTime.parse(at(10)),
                    received_at=at(11),
                    payload=payload,
                )
            ],
            folded={},
            merged_into=None,
        )


def test_campaign_versions_read_alike() -> None:
    for payload in campaign_payloads():
        assert _reading(versions._read_incident, payload) == _reading(Incident.model_validate, payload)
