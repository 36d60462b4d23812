"""The canonical JSON text of a story document, and the proof that a document is plain JSON.

The store saves a story as the text :func:`canonical_json` gives and keys its digest on it; the
producer proves that each document it builds is plain JSON (exportable as JSON lines) by encoding it.
Both are this module: a built document remembers its text (:class:`CanonicalDocument`), and the store
checks it with one msgspec encoding instead of decoding and comparing again. With the faster
``GraphTime`` and entity readers, this made the producer 2.2x faster (``benchmarks/sync_ingest.py``).

The text is, byte for byte, ``json.dumps(value, ensure_ascii=False, sort_keys=True,
separators=(",", ":"))``: the store's format from the start, so digests of stories saved before stay
valid and an unchanged story is not rewritten. msgspec writes the same bytes several times faster for
strings, integers, booleans, null, lists and objects with string keys. It differs elsewhere, so those
documents take the standard library's path, with its output and its errors: floats (msgspec writes
``1e16`` where ``json`` writes ``1e+16``, and ``null`` for NaN), and types ``json`` refuses but msgspec
encodes (dataclasses, sets, datetimes, enums, UUIDs, bytes, ...). A msgspec encoding is accepted only
once decoding it gives back a document equal to the input with no float in it, which rules all of
those out. Real story documents hold no floats, so the standard path is for hostile or unusual input.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pydantic_core

_SORTED = msgspec.json.Encoder(order="sorted")


class _FloatMet(Exception):
    """Raised from the decoder at the first float: its text may differ from what ``json`` writes."""


def _refuse_float(_: str) -> Any:
    raise _FloatMet


_DECODER = msgspec.json.Decoder(float_hook=_refuse_float)


class CanonicalDocument(dict[str, Any]):
    """A plain-JSON document that remembers its canonical text, as :func:`plain_copy` returns it.

    :func:`canonical_json` returns the remembered text while the document still encodes to it (one
    msgspec encoding, no decoding): a document changed after it was built is encoded and checked
    again, never saved stale.
    """

    __slots__ = ("canonical",)

    def __init__(self, document: dict[str, Any], canonical: bytes) -> None:
        super().__init__(document)
        #: ``canonical_json`` of the document when it was built, as UTF-8.
        self.canonical = canonical


def _reference_text(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def _fast_copy(value: Any) -> tuple[Any, bytes] | None:
    """``value`` decoded from msgspec's encoding, and that encoding; ``None`` where ``json`` would
    write something else or refuse the value."""
    try:
        encoded = _SORTED.encode(value)
        copy = _DECODER.decode(encoded)
        # Equal means every value was a str, int, bool, None, list or str-keyed dict (or a subclass
        # ``json`` encodes alike, such as a str enum): a set, datetime, dataclass or UUID decodes to a
        # list, str or dict that is not equal to it, and NaN (written as null) is not equal to None.
        return (copy, encoded) if copy == value else None
    except Exception:
        # Whatever msgspec refuses (a float, an int key, a lone surrogate, a str subclass, depth) the
        # standard path decides, with the error it has always raised.
        return None


def canonical_json(value: Any) -> bytes:
    """The canonical JSON text of a value, UTF-8 encoded.

    Exactly ``json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()``,
    errors included: :class:`TypeError` for a value that is not JSON, :class:`ValueError` for a
    circular one or a lone surrogate.

    A :class:`CanonicalDocument` that still encodes to the text it was built with is not decoded
    again. (A value swapped in after the build for a non-JSON one that msgspec writes alike, a set
    for a list, would pass that test: such a document is saved as its JSON reading, not refused.)

    :param value: the value, usually a story document.
    """
    if isinstance(value, CanonicalDocument):
        try:
            current = _SORTED.encode(value)
        except Exception:
            current = None
        if current == value.canonical:
            return current
    fast = _fast_copy(value)
    return _reference_text(value) if fast is None else fast[1]


def plain_copy(document: dict[str, Any]) -> CanonicalDocument:
    """A copy of a document that shares nothing with it and holds nothing but plain JSON, with its
    canonical text.

    The copy is what ``json`` reads back from the document's JSON: tuples become lists, and keys that
    are not strings become strings. It is decoded from the canonical text, so its keys are sorted as in
    every document read back from the store (except on the standard library's path, a document with
    floats for instance, where they keep their order).

    :param document: the document.
    :raises TypeError: when a value is not JSON (``json.dumps`` refuses it).
    :raises ValueError: when the document is circular or holds a lone surrogate.
    """
    fast = _fast_copy(document)
    if fast is None:
        copy = pydantic_core.from_json(json.dumps(document, ensure_ascii=False))
        return CanonicalDocument(copy, _reference_text(copy))
    return CanonicalDocument(*fast)
