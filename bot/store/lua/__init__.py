"""Lua scripts loaded with `importlib.resources` (see `bot.store.lua.load`)."""

from __future__ import annotations

from importlib.resources import files


def load(name: str) -> str:
    """The text of `bot/store/lua/<name>.lua`."""
    return (files(__package__) / f"{name}.lua").read_text(encoding="utf-8")
