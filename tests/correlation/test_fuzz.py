"""Any input gives a fact or a FactError: a malformed record never stops a batch with another error."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xops_provider.correlation.endpoint_alerts import parse_endpoint_alert
from xops_provider.correlation.facts import FactError
from xops_provider.correlation.hunting_rows import HUNTING_PARSERS
from xops_provider.correlation.kql import TABLE_COLUMNS
from xops_provider.correlation.network_feeds import NETWORK_PARSERS

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(
        ["2026-03-02T09:14:05Z", "1772442845123", "9f1c2b7a-0000-4d1e-8f00-000000000001", "10.0.0.1"]
    )
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_FIELDS = sorted(
    {column for columns in TABLE_COLUMNS.values() for column in columns}
    | {"time", "fieldsMap", "time_str", "event_timestamp", "vpn_user_email", "src_ip", "dest_ip", "dest_port",
       "domain_name", "url", "device_name", "ts", "uid", "id.orig_h", "id.resp_h", "id.resp_p", "query",
       "server_name", "established", "answers", "id", "serviceSource", "createdDateTime", "evidence", "title"}
)  # fmt: skip
_RECORDS = st.dictionaries(st.sampled_from(_FIELDS), _JSON, max_size=10)
PARSERS = {**HUNTING_PARSERS, **NETWORK_PARSERS, "alert": parse_endpoint_alert}


@pytest.mark.parametrize("name", sorted(PARSERS))
@settings(max_examples=120, deadline=None)
@given(record=_RECORDS | _JSON)
def test_fact_or_fact_error(name: str, record: object) -> None:
    parser = PARSERS[name]
    for value in (record, json.dumps(record, allow_nan=True)):
        reason = None
        try:
            fact = parser(value)
        except FactError as err:
            reason = err.reason
        if reason is None:
            assert fact.fact_key
            assert fact.time.isoformat()
        else:
            assert reason
