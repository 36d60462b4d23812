"""The canonical JSON text: byte for byte what ``json.dumps`` wrote before, errors included."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import decimal
import enum
import json
import math
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pydantic_core
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.stories.campaign import INTEGRATION, TENANT, alert, at, incident, message_evidence, version_of
from tests.stories.memory import InMemoryStoryRepository
from xops_provider.stories.canonical import CanonicalDocument, canonical_json, plain_copy
from xops_provider.stories.errors import StoryInputError
from xops_provider.stories.produce import produce
from xops_provider.stories.producer import build_story

GOLDEN = Path(__file__).parent / "golden"


def reference(value: Any) -> bytes:
    """What the store wrote before msgspec: the definition of the canonical text."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def outcome(encode: Any, value: Any) -> Any:
    try:
        return encode(value)
    except Exception as err:  # the error is part of the behaviour being compared
        return type(err)


class Colour(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


class Status(enum.StrEnum):
    ACTIVE = "active"


class Text(str):
    pass


@dataclasses.dataclass
class Point:
    x: int


TEXT = {
    "ascii": "plain",
    "non-ascii": "café “quoted” 請求書 счёт",
    "controls": "".join(chr(c) for c in range(32)) + '"\\\x7f',
    "line-separators": "a\u2028b\u2029c\u0085d",
    "bom-and-zero-width": "\ufeff\u200b\u200d\u202e",
    "astral": "\U0001f600\U0001f4e7\U00010000\U0010ffff",
    "bmp-edges": "\ud7ff\ue000\uffff",
}
SAME_AS_JSON = {
    **{f"text-{name}": {"s": text, text: 1} for name, text in TEXT.items()},
    "key-order-by-code-point": {"b": 1, "a": 2, "é": 3, "\U0001f600": 4, "\uffff": 5, "Z": 6, "": 7},
    "nested": {"z": [{"b": [], "a": {}}, [[["deep"]]]], "a": None},
    "ints": [0, -1, 2**31, 2**63 - 1, -(2**63), 2**64, -(2**64) - 1, 10**40],
    "booleans-and-null": [True, False, None],
    "floats": [0.0, -0.0, 0.1, 1.0, 100.0, 1e15, 1e16, 1e-7, 1.5e300, 5e-324, 1e22, 123456789.123],
    "nan-and-infinities": [math.nan, math.inf, -math.inf],
    "tuple": {"t": (1, "two", (3,))},
    "int-keys": {2: "b", 10: "a", 1: "c"},
    "bool-keys": {True: 1, False: 2},
    "none-key": {None: 2},
    "float-keys": {1.5: "x"},
    "str-enum": {"s": Status.ACTIVE},
    "int-enum": {"level": Level.HIGH},
    "str-subclass": {Text("k"): Text("v")},
    "ordered-dict": OrderedDict([("b", 1), ("a", 2)]),
    "empty": {},
}
REFUSED = {
    "set": {"s": {1, 2}},
    "frozenset": {"s": frozenset()},
    "datetime": {"t": dt.datetime(2026, 3, 1)},
    "date": {"t": dt.date(2026, 3, 1)},
    "plain-enum": {"c": Colour.RED},
    "dataclass": {"p": Point(1)},
    "uuid": {"u": uuid.UUID(int=1)},
    "decimal": {"d": decimal.Decimal("1.5")},
    "bytes": {"b": b"ab"},
    "object": {"o": object()},
    "tuple-key": {(1, 2): 3},
    "mixed-keys": {1: "a", "b": 2},
    "lone-surrogate": {"s": "a\ud800b"},
}


class TestCanonicalJson:
    @pytest.mark.parametrize("value", list(SAME_AS_JSON.values()), ids=list(SAME_AS_JSON))
    def test_writes_what_json_wrote(self, value: Any) -> None:
        assert canonical_json(value) == reference(value)

    @pytest.mark.parametrize("value", list(REFUSED.values()), ids=list(REFUSED))
    def test_refuses_what_json_refused(self, value: Any) -> None:
        assert outcome(canonical_json, value) == outcome(reference, value)
        assert isinstance(outcome(canonical_json, value), type)

    def test_refuses_a_circular_document(self) -> None:
        circular: dict[str, Any] = {}
        circular["self"] = circular
        with pytest.raises(ValueError, match="Circular reference"):
            canonical_json(circular)

    @pytest.mark.parametrize("name", ["story_101", "story_102", "story_103", "entities_swimlane"])
    def test_golden_stories(self, name: str) -> None:
        document = json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))
        assert canonical_json(document) == reference(document)

    @given(
        st.recursive(
            st.none()
            | st.booleans()
            | st.integers()
            | st.floats()
            | st.text(alphabet=st.characters(exclude_categories=["Cs"])),
            lambda children: (
                st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
            ),
            max_leaves=12,
        )
    )
    def test_any_json_value(self, value: Any) -> None:
        assert canonical_json(value) == reference(value)


class TestCanonicalDocument:
    def test_remembers_its_text(self) -> None:
        document = plain_copy({"b": [1, "x"], "a": {"é": None}})
        assert document.canonical == reference(document)
        assert canonical_json(document) == document.canonical

    def test_a_change_after_the_build_is_encoded_again(self) -> None:
        document = plain_copy({"a": [1], "b": {"c": "d"}})
        document["b"]["c"] = "changed"
        document["a"].append(2)
        assert canonical_json(document) == reference(document)
        assert b"changed" in canonical_json(document)

    def test_a_non_json_value_added_after_the_build_is_refused(self) -> None:
        document = plain_copy({"a": []})
        document["a"].append(dt.date(2026, 3, 1))
        with pytest.raises(TypeError):
            canonical_json(document)

    def test_a_float_added_after_the_build_is_written_as_json_writes_it(self) -> None:
        document = plain_copy({"a": []})
        document["a"].extend([1e16, math.nan])
        assert canonical_json(document) == b'{"a":[1e+16,NaN]}'

    def test_an_unchanged_document_gives_its_built_text(self) -> None:
        document = plain_copy({"a": [1]})
        assert canonical_json(document) == document.canonical == reference({"a": [1]})

    def test_copies_survive_deepcopy(self) -> None:
        document = plain_copy({"a": [1]})
        again = copy.deepcopy(document)
        assert again == document
        assert canonical_json(again) == reference(document)


class TestPlainCopy:
    @pytest.mark.parametrize("value", list(SAME_AS_JSON.values()), ids=list(SAME_AS_JSON))
    def test_is_what_json_reads_back(self, value: Any) -> None:
        document = {"value": value, "z": 1, "a": 2}
        copied = plain_copy(document)
        expected = json.loads(json.dumps(document, ensure_ascii=False))
        # NaN is not equal to itself: compare the texts, which hold every value.
        assert json.dumps(copied, sort_keys=True) == json.dumps(expected, sort_keys=True)
        assert copied.canonical == reference(expected)

    @pytest.mark.parametrize("value", list(REFUSED.values()), ids=list(REFUSED))
    def test_refuses_what_the_round_trip_refused(self, value: Any) -> None:
        document = {"value": value}
        before = outcome(lambda d: pydantic_core.from_json(json.dumps(d, ensure_ascii=False)), document)
        after = outcome(plain_copy, document)
        if isinstance(before, type):
            assert after is before
        else:  # mixed keys: only sorting them fails, which the store does, not the round trip
            assert after == before

    def test_shares_nothing_with_the_input(self) -> None:
        inner = {"list": [1, {"x": "y"}]}
        copied = plain_copy({"inner": inner})
        copied["inner"]["list"][1]["x"] = "changed"
        copied["inner"]["list"].append(3)
        assert inner == {"list": [1, {"x": "y"}]}

    def test_is_a_dict(self) -> None:
        copied = plain_copy({"a": 1})
        assert isinstance(copied, dict)
        assert isinstance(copied, CanonicalDocument)
        assert copied == {"a": 1}


def _payload(**alert_extra: Any) -> dict[str, Any]:
    evidence = [message_evidence("alice@xyz.example", network_message_id="m-1", subject="Hi", received=at(0))]
    made = alert("fa1", incident_id="700", title="Phish", created=at(5), evidence=evidence)
    made.update(alert_extra)
    return incident("700", last_update=at(10), created=at(5), title="Phish", alerts=[made])


def _build(payload: dict[str, Any]) -> dict[str, Any] | None:
    return build_story(
        integration=INTEGRATION,
        tenant_id=TENANT,
        incident_id="700",
        versions=[version_of(payload, version_id=1)],
        folded={},
        merged_into=None,
    )


class TestStories:
    @pytest.mark.parametrize(
        "value",
        [
            pytest.param({1, 2}, id="set"),
            pytest.param(dt.datetime(2026, 3, 1), id="datetime"),
            pytest.param(Colour.RED, id="enum"),
            pytest.param(uuid.UUID(int=7), id="uuid"),
            pytest.param("a\udc00", id="lone-surrogate"),
        ],
    )
    def test_a_payload_that_is_not_plain_json_fails_its_story(self, value: Any) -> None:
        with pytest.raises(StoryInputError, match="payload is not plain JSON") as info:
            _build(_payload(vendorField=value))
        assert info.value.incident_id == "700"

    def test_floats_nan_and_large_numbers_are_kept_as_json_wrote_them(self) -> None:
        story = _build(_payload(score=1e16, ratio=0.25, missing=math.nan, big=2**70))
        assert story is not None
        raw = story["raw_data"][0]["payload"]["alerts"][0]
        assert (raw["score"], raw["ratio"], raw["big"]) == (1e16, 0.25, 2**70)
        assert math.isnan(raw["missing"])
        text = canonical_json(story)
        assert text == reference(story)
        assert b'"score":1e+16' in text
        assert b'"missing":NaN' in text

    def test_produce_hands_the_store_its_documents_unchanged(self) -> None:
        handed: list[Any] = []

        class Recording(InMemoryStoryRepository):
            def save_stories(self, **kwargs: Any) -> None:
                handed.append(kwargs["stories"])
                super().save_stories(**kwargs)

        repo = Recording()
        repo.ingest(_payload(), tenant_id=TENANT, received_at=at(11))
        produce(repo, integration=INTEGRATION, batch_size=10)
        (stories,) = handed
        (document,) = stories
        assert isinstance(document, CanonicalDocument)
        assert document.canonical == reference(document)

    def test_deep_nesting_is_plain_json(self) -> None:
        # pydantic-core's decoder, which the round trip used before, refused more than ~200 levels.
        deep: Any = "leaf"
        for _ in range(300):
            deep = [deep]
        copied = plain_copy({"deep": deep})
        assert copied.canonical == reference({"deep": deep})

    def test_a_bad_payload_is_quarantined_and_the_batch_goes_on(self) -> None:
        repo = InMemoryStoryRepository()
        good = _payload()
        good["id"] = "701"
        good["alerts"][0]["incidentId"] = "701"
        repo.ingest(good, tenant_id=TENANT, received_at=at(11))
        repo.store_raw(
            _payload(vendorField={1, 2}),
            tenant_id=TENANT,
            incident_id="700",
            last_update=at(10),
            received_at=at(11),
        )
        report = produce(repo, integration=INTEGRATION, batch_size=10)
        assert [failure.incident_id for failure in report.failures] == ["700"]
        assert "payload is not plain JSON" in report.failures[0].reason
        assert list(repo.stories) == [f"mdo:{TENANT}:701"]
