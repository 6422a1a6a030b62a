"""Strict JSON reading for request bodies: what `json.loads` accepts, minus its leniencies.

- the body must be UTF-8 (a UTF-8 byte-order mark is allowed); `json.loads(bytes)` would
  also guess UTF-16 and UTF-32;
- `NaN`, `Infinity` and `-Infinity` are not JSON and are refused;
- an object with the same key twice is refused (which value wins is parser-dependent);
- nesting deeper than `MAX_DEPTH` is refused before parsing, so a deep body cannot
  exhaust the parser's recursion;
- a number that does not fit a sane machine value (an integer of more than `MAX_DIGITS`
  digits, a float that overflows to infinity like `1e400`) is not an error of the whole
  body: it becomes an `OutOfRange` marker, which the report validator rejects for the one
  event that holds it.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np

MAX_DEPTH = 32
MAX_DIGITS = 30  # far beyond any count, token total or epoch a report can hold

# A JSON string literal (unrolled loop: no per-character alternation), used to blank out
# strings before counting brackets.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_LIMIT = 10 ** MAX_DIGITS  # the least integer of more than MAX_DIGITS digits


class StrictJSONError(ValueError):
    """The text is not strict JSON, or nests deeper than MAX_DEPTH."""


class OutOfRange:
    """A JSON number too large to be a value: kept as its text, never as a number, so no
    code can compute with it by accident."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        shown = self.text if len(self.text) <= 24 else f"{self.text[:12]}…({len(self.text)} chars)"
        return f"<number {shown} out of range>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OutOfRange) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


def _parse_int(text: str) -> int | OutOfRange:
    digits = len(text) - text.startswith("-")
    return OutOfRange(text) if digits > MAX_DIGITS else int(text)


def _parse_float(text: str) -> float | OutOfRange:
    value = float(text)
    return value if math.isfinite(value) else OutOfRange(text)


def _parse_constant(name: str) -> Any:
    raise StrictJSONError(f"{name} is not allowed in JSON")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _value in pairs:
            if key in seen:
                raise StrictJSONError(f"duplicate key {key[:100]!r} in an object")
            seen.add(key)
    return out


def depth(text: str) -> int:
    """The deepest bracket nesting of `text`, ignoring brackets inside string literals.

    Linear time and no recursion: a cumulative sum over the brackets (numpy)."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub('""', text))
    if not brackets:
        return 0
    codes = np.frombuffer(brackets.encode("ascii"), dtype=np.uint8)
    steps = np.where((codes == ord("[")) | (codes == ord("{")), 1, -1)
    return int(np.cumsum(steps).max())


class _Large(Exception):
    """A number out of range in what the parser's own numbers gave."""


def nesting(value: Any) -> int:
    """The container nesting of a value parsed with the parser's own numbers (what
    `depth` says of its text); raises _Large at a number that `loads` keeps as
    OutOfRange (an integer of more than MAX_DIGITS digits, a float that overflowed)."""
    kind = type(value)
    if kind is dict:
        children: Any = value.values()
    elif kind is list:
        children = value
    else:
        if (kind is float and math.isinf(value)) or (kind is int and not
                                                     -_LIMIT < value < _LIMIT):
            raise _Large
        return 0
    deepest = 0
    for child in children:
        kind = type(child)
        if kind is dict or kind is list:
            inner = nesting(child)
            if inner > deepest:
                deepest = inner
        elif (kind is float and math.isinf(child)) or (kind is int and not
                                                       -_LIMIT < child < _LIMIT):
            raise _Large
    return deepest + 1


def loads(body: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """Parse `body` strictly; raise StrictJSONError saying what is wrong."""
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise StrictJSONError(f"body is not UTF-8 ({exc.reason} at byte {exc.start})"
                                  ) from None
    else:
        text = body
    # The usual body: parsed with the parser's own numbers (no call per number), then its
    # depth and numbers checked on what was parsed. Anything wrong (too deep, a number
    # out of range, not JSON), and the careful path below finds it in its own order and
    # words.
    try:
        value = json.loads(text, object_pairs_hook=_object, parse_constant=_parse_constant)
        if nesting(value) <= max_depth:
            return value
    except (ValueError, RecursionError, _Large):  # StrictJSONError, JSONDecodeError too
        pass
    return careful_loads(text, max_depth)


def careful_loads(text: str, max_depth: int = MAX_DEPTH) -> Any:
    """`loads` the careful way: depth from the text first, then a call per number and
    key, each problem in its own words (what `loads` falls back to)."""
    deepest = depth(text)
    if deepest > max_depth:
        raise StrictJSONError(f"JSON nests {deepest} levels deep; the limit is {max_depth}")
    try:
        return json.loads(text, object_pairs_hook=_object, parse_int=_parse_int,
                          parse_float=_parse_float, parse_constant=_parse_constant)
    except json.JSONDecodeError as exc:
        raise StrictJSONError(f"not valid JSON: {exc}") from None
    except RecursionError:  # unreachable with a sane max_depth; never a 500 either way
        raise StrictJSONError(f"JSON nests deeper than the limit of {max_depth}") from None
