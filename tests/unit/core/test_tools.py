from __future__ import annotations

import pytest

from bot.core.tools import (
    MAX_MODELS,
    MAX_NAME,
    capped,
    model_fields,
    model_key,
    shares,
    split,
    tool_code,
    tool_key,
    tool_name,
    usage_fields,
)


@pytest.mark.parametrize(("sent", "key", "code"), [
    ("claude_code", "claude_code", "cc"),
    ("Claude Code", "claude_code", "cc"),
    ("claude-code", "claude_code", "cc"),
    ("gemini_cli", "gemini_cli", "gc"),
    ("Cursor", "cursor", "cu"),
    ("my,agent=v2|x", "myagentv2x", "myagentv2x"),  # what the day packing cannot hold
    ("A Very Long Internal Tool Name Indeed", "a_very_long_inte", "a_very_long_inte"),
    ("   ", "other", "other"),
])
def test_tool_names_are_keyed_short_and_safe(sent: str, key: str, code: str) -> None:
    assert tool_key(sent) == key and tool_code(sent) == code
    assert len(code) <= MAX_NAME


@pytest.mark.parametrize(("sent", "key"), [
    ("claude-opus-4-5-20251101", "opus-4-5"),
    ("claude-sonnet-4-5@20250929", "sonnet-4-5"),
    ("us.anthropic.claude-3-5-sonnet-20240620-v1:0", "3-5-sonnet"),
    ("models/gemini-2.5-flash-lite", "gemini-2.5-flash"),
    ("openai/GPT-4o-2024-08-06", "gpt-4o"),
    ("gpt-5", "gpt-5"),
    ("gemini 2.5 pro", "gemini-2.5-pro"),
    ("a,b=c|d", "abcd"),
])
def test_model_names_drop_provider_and_date(sent: str, key: str) -> None:
    assert model_key(sent) == key


def test_usage_fields_give_tokens_per_tool_and_model_and_cost_in_units() -> None:
    assert usage_fields("claude_code", tokens=1000, cost=0.5, model="claude-opus-4") == [
        ("t:cc", 1000), ("m:opus-4", 1000), ("c:cc", 5000.0)]
    assert usage_fields("cursor", cost=0.00004) == [("c:cu", 0.0)]  # under a unit: rounds
    assert usage_fields("cursor", cost=0.00006) == [("c:cu", 1.0)]
    assert usage_fields("copilot") == []


def test_a_row_keeps_three_models_and_the_rest_as_other() -> None:
    fields = model_fields({"a": 5, "b": 50, "c": 40, "d": 30, "e": 0, "A": 1})
    assert fields == [("m:b", 50), ("m:c", 40), ("m:d", 30), ("m:other", 6)]
    assert len([f for f, _ in fields if f != "m:other"]) == MAX_MODELS
    merged = capped({"tokens": 10, "m:x": 1, "m:y": 4, "m:z": 3, "m:w": 2, "m:other": 7})
    assert dict(merged) == {"tokens": 10, "m:y": 4, "m:z": 3, "m:w": 2, "m:other": 8}
    assert capped({"m:x": 1}) == [("m:x", 1)]


def test_split_reads_the_fields_back() -> None:
    found = split({"tokens": 1500, "t:cc": 1000, "c:cc": 5000, "t:cu": 500, "c:oa": 20_000,
                   "m:opus": 900, "m:other": 600, "m:sonnet": 100, "o:review": 2})
    assert [(t.tool, t.tokens, t.cost) for t in found.tools] == [
        ("claude_code", 1000, 0.5), ("cursor", 500, 0.0), ("openai", 0.0, 2.0)]
    assert found.models == [("opus", 900), ("sonnet", 100), ("other", 600)]
    assert found.tokens == 1500 and found.cost == 2.5
    assert tool_name("claude_code") == "Claude Code" and tool_name("my_tool") == "my_tool"


@pytest.mark.parametrize("values", [[1000, 500], [62, 25, 13], [1, 1, 1], [3, 3, 3, 1],
                                    [0.2, 999_999.8], [7]])
def test_shares_add_up_to_exactly_100(values: list[float]) -> None:
    got = shares(values)
    assert sum(got) == 100
    for share, value in zip(got, values, strict=True):
        assert abs(share - value * 100 / sum(values)) < 1


def test_shares_of_nothing() -> None:
    assert shares([0, 0]) == [0, 0] and shares([]) == []
