"""The evidence readers' fast paths answer exactly as the general readers do."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xops_provider.models import normalize
from xops_provider.models.incident import blank_to_none, evidence_kind, normalize_enum
from xops_provider.models.normalize import scalar_text
from xops_provider.stories import entities
from xops_provider.stories.evidence import kind_of, verdict_of


class Text(str):
    def strip(self, chars: str | None = None) -> str:
        return "overridden"


ODATA_TYPES = {
    "full": "#microsoft.graph.security.analyzedMessageEvidence",
    "no-hash": "microsoft.graph.security.urlEvidence",
    "lower-case": "#microsoft.graph.security.urlevidence",
    "padded": "  #microsoft.graph.security.ipEvidence  ",
    "unknown-type": "#microsoft.graph.security.somethingNewEvidence",
    "blank": "   ",
    "empty": "",
    "missing": None,
    "number": 7,
    "list": ["#microsoft.graph.security.urlEvidence"],
    "object": {"a": 1},
    "str-subclass": Text("#microsoft.graph.security.urlEvidence"),
    "long": "#microsoft.graph.security." + "x" * 500,
}
VERDICTS = {
    "member": "malicious",
    "pascal-case": "Malicious",
    "padded": " suspicious ",
    "unknown": "veryBad",
    "blank": " ",
    "missing": None,
    "number": 3,
    "bool": True,
    "list": ["malicious"],
    "str-subclass": Text("malicious"),
    "long": "m" * 500,
}


@pytest.mark.parametrize("odata_type", list(ODATA_TYPES.values()), ids=list(ODATA_TYPES))
def test_kind_of_is_evidence_kind(odata_type: Any) -> None:
    evidence = {} if odata_type is None else {"@odata.type": odata_type}
    for _ in range(2):  # the second answer comes from the memo
        assert kind_of(evidence) == evidence_kind(odata_type)


@pytest.mark.parametrize("verdict", list(VERDICTS.values()), ids=list(VERDICTS))
def test_verdict_of_is_normalize_enum(verdict: Any) -> None:
    evidence = {} if verdict is None else {"verdict": verdict}
    for _ in range(2):
        assert verdict_of(evidence) == normalize_enum("verdict", verdict)


def _general_scalar_text(value: Any) -> str | None:
    value = blank_to_none(value)
    if value is None or isinstance(value, dict | list):
        return None
    return str(value).strip()


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("alice@xyz.example", id="text"),
        pytest.param("  padded\t", id="padded"),
        pytest.param(" \n\t ", id="blank"),
        pytest.param("", id="empty"),
        pytest.param("\u00a0\u2003", id="unicode-spaces"),
        pytest.param("\u200b", id="zero-width-space-is-not-blank"),
        pytest.param(Text(" x "), id="str-subclass"),
        pytest.param(12, id="number"),
        pytest.param(0, id="zero"),
        pytest.param(False, id="false"),
        pytest.param(None, id="none"),
        pytest.param([], id="list"),
        pytest.param({"a": 1}, id="object"),
    ],
)
def test_scalar_text_reads_as_before(value: Any) -> None:
    assert scalar_text(value) == _general_scalar_text(value)


@given(st.text())
def test_scalar_text_reads_any_text_as_before(value: str) -> None:
    assert scalar_text(value) == _general_scalar_text(value)


@pytest.mark.parametrize(
    "item",
    [
        pytest.param("alice@xyz.example", id="ascii"),
        pytest.param('quote " and backslash \\', id="escapes"),
        pytest.param("café 請求書 \U0001f600", id="non-ascii"),
        pytest.param("\x00\x1f\x7f\u2028", id="controls"),
        pytest.param(Text("x"), id="str-subclass"),
        pytest.param({"b": 1, "a": [2]}, id="object"),
        pytest.param(3, id="number"),
        pytest.param(None, id="none"),
    ],
)
def test_list_items_are_keyed_as_json_wrote_them(item: Any) -> None:
    assert entities._item_key(item) == json.dumps(item, sort_keys=True, default=str)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("10.0.0.1", id="ipv4"),
        pytest.param(" 10.0.0.1 ", id="padded"),
        pytest.param("2001:0db8:0000:0000:0000:0000:0000:0001", id="ipv6-long"),
        pytest.param("::ffff:10.0.0.1", id="ipv4-mapped"),
        pytest.param("fe80::1%eth0", id="scoped"),
        pytest.param("010.000.000.001", id="leading-zeros"),
        pytest.param("not an address", id="words"),
        pytest.param("1" * 300, id="long"),
        pytest.param(167772161, id="number"),
        pytest.param("", id="empty"),
        pytest.param(None, id="none"),
    ],
)
def test_normalize_ip_reads_as_before(value: Any) -> None:
    text = _general_scalar_text(value)
    expected = normalize._parse_ip(text) if text else None
    for _ in range(2):  # the second answer comes from the memo
        assert normalize.normalize_ip(value) == expected


class _Items(list):
    pass


class _Frozen(dict):
    pass


@pytest.mark.parametrize(
    "evidence",
    [
        pytest.param([{"a": 1}, "text", 3, None, _Frozen(b=2), [{"c": 3}]], id="mixed-list"),
        pytest.param(_Items([{"a": 1}, "x"]), id="list-subclass"),
        pytest.param({"a": 1}, id="lone-object"),
        pytest.param(_Frozen(a=1), id="lone-mapping"),
        pytest.param("text", id="text"),
        pytest.param(None, id="none"),
    ],
)
def test_alert_evidence_reads_as_before(evidence: Any) -> None:
    def general(value: Any) -> list[Any]:
        if isinstance(value, Mapping):
            return [value]
        if not isinstance(value, list):
            return []
        return [item for item in value if isinstance(item, Mapping)]

    assert entities.alert_evidence({"evidence": evidence}) == general(evidence)
