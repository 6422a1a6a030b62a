"""bot.core.plaintext: names as plain text, without control, bidi or format characters."""

from __future__ import annotations

import pytest

from bot.core.plaintext import plain_text
from tests.support.hostile_names import ESC, RLO


@pytest.mark.parametrize("raw, plain", [
    (f"a{RLO}b\u2066c\u2069\u200ed\u200fe\u061c", "abcde"),
    (f"{ESC}[31mred{ESC}[0m\x00\x7f\x9b", "[31mred[0m"),
    ("  many \t spaces\r\nand\u2029lines  ", "many spaces and lines"),
    ("👩\u200d💻 keeps its joiner", "👩\u200d💻 keeps its joiner"),
    ("x\ud800y", "xy"),
])
def test_plain_text(raw: str, plain: str) -> None:
    assert plain_text(raw) == plain
    assert plain_text("abcdefghij", limit=5) == "abcd…"
