"""`tokenboard migrate`'s progress bar: drawn in place on a terminal, absent otherwise."""

from __future__ import annotations

import io

from bot.cli.migrate import progress_bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_is_drawn_on_a_terminal_only() -> None:
    assert progress_bar(io.StringIO()) is None
    screen = Terminal()
    show = progress_bar(screen)
    assert show is not None
    show("ids", 0, 40)
    show("days", 20, 40)
    drawn = screen.getvalue().split("\r")[1:]
    assert drawn[0].startswith("[" + "." * 30 + "] 0/40")
    assert drawn[1].startswith("[" + "#" * 15 + "." * 15 + "] 20/40") and "(days)" in drawn[1]
