"""bot.sources.strict_json: the usual body takes the parser's own numbers and has its depth
measured after parsing; whatever it holds, `loads` answers what the careful path (depth
first, a call per number) answers."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from bot.sources.strict_json import (
    OutOfRange,
    StrictJSONError,
    careful_loads,
    depth,
    loads,
    nesting,
)


def outcome(read: Any, text: str) -> tuple[str, str]:
    try:
        return "ok", repr(read(text))
    except StrictJSONError as exc:
        return "error", str(exc)


EDGES = ["1e400", "-1e400", '{"a": [1e400, {"b": 1}]}', "9" * 31, "-" + "9" * 30,
         "[" + "1" * 5000 + "]", "[" * 33 + "]" * 33, "[" * 32 + "]" * 32,
         "[" * 5000 + "]" * 5000, '{"a": 1, "a": 2}', "[NaN]", '{"a": [1, 2', "[-0]",
         "[1.7976931348623157e308]", '["\\ud800"]', '{"events": [{"id": "e999"}]}']


@pytest.mark.parametrize("text", EDGES)
def test_edges_answer_as_the_careful_path(text: str) -> None:
    assert outcome(loads, text) == outcome(careful_loads, text)


def test_random_bodies_answer_as_the_careful_path() -> None:
    rng = random.Random(7)
    leaves = [0, -1, 1.5, -2.5e-10, 1e300, 10**29, 10**30, 10**40, "s", "é", "[{", None,
              True]

    def value(level: int = 0) -> Any:
        pick = rng.random()
        if level > 36 or pick < 0.4:
            return rng.choice(leaves)
        if pick < 0.7:
            return [value(level + 1) for _ in range(rng.randrange(4))]
        return {f"k{i}": value(level + 1) for i in range(rng.randrange(4))}

    for _ in range(3000):
        text = json.dumps(value())
        if rng.random() < 0.1:
            text = text[:rng.randrange(len(text) + 1)]
        assert outcome(loads, text) == outcome(careful_loads, text), text[:200]


def test_a_number_out_of_range_stays_a_marker_in_its_event() -> None:
    events = loads('{"events": [{"tokens": 1e999}, {"tokens": 5}]}')["events"]
    assert events == [{"tokens": OutOfRange("1e999")}, {"tokens": 5}]


def test_nesting_is_what_depth_says() -> None:
    for text, deepest in (('{"a": [1, {"b": []}]}', 4), ("[]", 1), ("1", 0),
                          ('[[[["x"]]], {}]', 4), ('{"s": "[[[{"}', 1)):
        assert nesting(json.loads(text)) == depth(text) == deepest, text
