"""Lua scripts loaded with `importlib.resources` (see `bot.lua.load`)."""

from __future__ import annotations

from importlib.resources import files


def load(name: str) -> str:
    """The text of `bot/lua/<name>.lua`."""
    return (files(__package__) / f"{name}.lua").read_text(encoding="utf-8")
