"""Attributes and values of OTLP records: lookups, text and type-tagged forms, the
identity attributes a point carries, digests, and the checks every counted value passes."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry.proto.common.v1 import common_pb2

from bot.sources.otlp.model import IDENTITY_KEYS

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def by_key(kvs: Iterable[common_pb2.KeyValue]) -> dict[str, common_pb2.AnyValue]:
    """Attributes as a dict."""
    return {kv.key: kv.value for kv in kvs}  # a repeated key: the last one wins


def tagged(value: common_pb2.AnyValue) -> Any:
    """A JSON-able, type-tagged form of an AnyValue: 1, "1" and 1.0 stay distinct."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return ["s", value.string_value]
    if kind == "bool_value":
        return ["b", value.bool_value]
    if kind == "int_value":
        return ["i", str(value.int_value)]
    if kind == "double_value":
        return ["d", repr(value.double_value)]
    if kind == "bytes_value":
        return ["x", value.bytes_value.hex()]
    if kind == "array_value":
        return ["a", [tagged(v) for v in value.array_value.values]]
    if kind == "kvlist_value":
        return ["k", canonical(by_key(value.kvlist_value.values))]
    return ["n"]


def read_point(kvs: Iterable[common_pb2.KeyValue]) -> tuple[str, dict[str, str | None]]:
    """A data point's attributes read once: the JSON text of `canonical` of them (as
    `digest` writes it: what `digest_with_text` takes), and each as text (`as_text`; a
    repeated key: the last one wins, as in `by_key`)."""
    tags: dict[str, str] = {}  # key → its ["key",tag] pair as JSON
    texts: dict[str, str | None] = {}
    for kv in kvs:
        key, value = kv.key, kv.value
        if value.WhichOneof("value") == "string_value":
            text = value.string_value
            tags[key] = f'[{_string(key)},["s",{_string(text)}]]'
            texts[key] = text
        else:
            tags[key] = f"[{_string(key)},{_JSON.encode(tagged(value))}]"
            texts[key] = as_text(value)
    return f"[{','.join([tags[key] for key in sorted(tags)])}]", texts


def identity_texts(texts: Mapping[str, str | None]) -> dict[str, str]:
    """`identity_attrs` of one layer read by `read_point`."""
    merged: dict[str, str] = {}
    for key in IDENTITY_KEYS:
        text = texts.get(key)
        if text:
            merged[key] = text
    return merged


def canonical(attrs: Mapping[str, common_pb2.AnyValue]) -> list[Any]:
    """Attributes in one order and type-tagged: what a series digest is taken of."""
    return [[key, tagged(attrs[key])] for key in sorted(attrs)]


def as_text(value: common_pb2.AnyValue) -> str | None:
    """An attribute as text (identity values are strings; others are rendered)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "int_value":
        return str(value.int_value)
    if kind == "double_value":
        return repr(value.double_value)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    if kind is None:
        return None
    return json.dumps(tagged(value), separators=(",", ":"), ensure_ascii=False)


def str_attr(attrs: Mapping[str, common_pb2.AnyValue], key: str) -> str | None:
    """Attribute `key` as text, None when absent."""
    value = attrs.get(key)
    return as_text(value) if value is not None else None


def identity_attrs(*layers: Mapping[str, common_pb2.AnyValue]) -> dict[str, str]:
    """The IDENTITY_KEYS found in `layers` (resource, scope, point), as text."""
    merged: dict[str, str] = {}
    for layer in layers:  # later layers win
        merged.update(identity_texts({key: as_text(layer[key]) for key in IDENTITY_KEYS
                                      if key in layer}))
    return merged


_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)  # as json.dumps with these
_string = json.encoder.encode_basestring  # a str as _JSON writes it (ensure_ascii=False)


def digest(*parts: Any) -> str:
    """A 128-bit hex digest of JSON-able `parts` (series and record ids)."""
    return _blake(_JSON.encode(parts))


def digest_head(*parts: Any) -> str:
    """What `digest(*parts, last)` hashes, up to `last`: written once for many `last`s
    (`digest_with_text`), as the points of one metric share their resource, scope and name."""
    return _JSON.encode(parts)[:-1] + ("," if parts else "")


def digest_more(head: str, *parts: Any) -> str:
    """`digest_head(*before, *parts)` from `head = digest_head(*before)`."""
    return head + _JSON.encode(parts)[1:-1] + "," if parts else head


def digest_with_text(head: str, last: str) -> str:
    """`digest(*parts, x)` from `head = digest_head(*parts)` and `last`, x's JSON text as
    `digest` writes it (`read_point`'s): the same value."""
    return _blake(f"{head}{last}]")


def _blake(blob: str) -> str:
    return hashlib.blake2b(blob.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


class Reject(Exception):
    """One data point or log record is refused; the message says why."""


def checked_value(value: float) -> float:
    """`value` if it can be counted (finite, not negative), else Reject."""
    if math.isnan(value):
        raise Reject("NaN values are not counted")
    if math.isinf(value):
        raise Reject("infinite values are not counted")
    if value < 0:
        raise Reject(f"negative values are not counted ({value:g})")
    return value + 0.0  # -0.0 → 0.0


def number_attr(attrs: Mapping[str, common_pb2.AnyValue], key: str) -> float | None:
    """Attribute `key` as a countable number (an int, a double, or a number written as
    text), None when absent; Reject when it is not a number or cannot be counted."""
    value = attrs.get(key)
    if value is None:
        return None
    kind = value.WhichOneof("value")
    if kind == "int_value":
        number = float(value.int_value)
    elif kind == "double_value":
        number = value.double_value
    elif kind == "string_value" and _NUMBER.fullmatch(value.string_value.strip()):
        number = float(value.string_value)
    else:
        raise Reject(f"{key} is not a number ({as_text(value)!r})")
    try:
        return checked_value(number)
    except Reject as exc:
        raise Reject(f"{key}: {exc}") from None
