"""bot.core.channel_ids: what a digest channel may be written as (pure)."""

from __future__ import annotations

import pytest

from bot.core.channel_ids import channel_problem, is_channel_id


@pytest.mark.parametrize("value", ["C012AB3CD", "G0PRIVATE1", "C12"])
def test_channel_ids(value: str) -> None:
    assert is_channel_id(value) and channel_problem(value) is None


@pytest.mark.parametrize("value", ["#general", "general", "dev-ops_2.0", "#日本語", "c012ab3cd"])
def test_channel_names_are_not_ids_but_no_problem(value: str) -> None:
    assert not is_channel_id(value) and channel_problem(value) is None


@pytest.mark.parametrize("value", ["C1", "General", "two words", "<#C012AB3CD>",
                                   "#", "x" * 81, "@here"])
def test_anything_else_is_a_problem_saying_what_is_wanted(value: str) -> None:
    assert not is_channel_id(value)
    assert channel_problem(value) == (
        f"{value!r} is neither a channel id (C… or G…) nor a channel name like #general")
