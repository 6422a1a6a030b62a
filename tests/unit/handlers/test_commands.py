"""handlers.commands: what `/leaderboard`'s text asks for (pure)."""

from __future__ import annotations

import pytest

from handlers.commands import parse


@pytest.mark.parametrize(("text", "parsed"), [
    ("", ("board", "week")),
    ("   ", ("board", "week")),
    ("today", ("board", "today")),
    ("MONTH", ("board", "month")),
    ("all", ("board", "all")),
    ("me", ("me", "week")),
    ("me yesterday", ("me", "yesterday")),
    ("help", ("help", None)), ("-h", ("help", None)), ("?", ("help", None)),
    ("config", ("config", None)), ("settings", ("config", None)),
    ("opt-out", ("optout", None)), ("optin", ("optin", None)),
    ("forget-me", ("forget", None)),
    ("link github Ana-Dev", ("link", "github Ana-Dev")),  # the login keeps its case
    ("link", ("link", "")),
    ("weekly", ("unknown", "weekly")),
    ("me week extra", ("unknown", "me week extra")),
    ("me fortnight", ("unknown", "me fortnight")),
    ("  today please ", ("unknown", "today please")),
])
def test_what_the_text_asks_for(text: str, parsed: tuple[str, str | None]) -> None:
    assert parse(text) == parsed
