"""The store's Lua: every script is a .lua file; `--#include` joins the shared pieces once
each, in order; the constants written in the Lua agree with Python's; every script loads
into Redis; and nothing outside bot/store/ reaches for the Redis client or key names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.core import tools
from bot.core.counts import DAY_CODES
from bot.store import lua
from bot.store.lua import INCLUDE, load, source

ROOT = Path(__file__).resolve().parents[1]
LUA = ROOT / "bot" / "store" / "lua"
SCRIPTS = sorted(p.stem for p in LUA.glob("*.lua"))


def test_every_script_expands_with_each_include_once() -> None:
    assert {"record", "credit", "rescore", "top", "gcra", "release"} <= set(SCRIPTS)
    for name in SCRIPTS:
        text = load(name)
        assert not INCLUDE.search(text), name
        functions = re.findall(r"^local function (\w+)", text, re.MULTILINE)
        assert len(functions) == len(set(functions)), name  # nothing defined twice


def test_includes_come_before_their_use() -> None:
    text = load("record")
    assert text.index("local function lh_state") < text.index("local function day_find")
    assert text.index("local function day_points") < text.index("local function add_to_day")
    assert text.count("local DONE, TMP_TTL") == 1
    assert "--#include" in source("record.lua")


def test_an_include_loop_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    files = {"a.lua": "--#include b.lua\n", "b.lua": "--#include a.lua\n"}
    monkeypatch.setattr(lua, "source", files.__getitem__)
    with pytest.raises(ValueError, match="include loop"):
        lua._expand("a.lua", set(), ())


def test_constants_in_the_lua_agree_with_python() -> None:
    from bot.store import rescoring

    assert f"local DONE, TMP_TTL = {rescoring.DONE}, {rescoring.TMP_TTL}" in source(
        "common/rebuild.lua")
    day = source("common/day.lua")
    codes = ", ".join(f"{name} = '{code}'" for name, code in DAY_CODES.items())
    names = ", ".join(f"{code} = '{name}'" for name, code in DAY_CODES.items())
    assert f"local DAY_CODES = {{{codes}}}" in day
    assert f"local DAY_NAMES = {{{names}}}" in day
    assert f"local COST_UNIT = {tools.COST_UNIT}\n" in day
    assert f"local MAX_MODELS = {tools.MAX_MODELS}\n" in source("common/event.lua")


def test_every_script_loads_into_redis(redis_client) -> None:
    for name in SCRIPTS:
        script = lua.Script(name)
        assert redis_client.script_load(script.text) == script.sha, name


def test_every_file_alone_is_lua(redis_client) -> None:
    """Each file compiles as it is (the include lines are comments): readable and
    lintable on its own."""
    for path in sorted(LUA.rglob("*.lua")):
        redis_client.script_load(source(path.relative_to(LUA).as_posix()))


def test_a_script_lost_by_redis_is_loaded_again(redis_client) -> None:
    script = lua.Script("release")
    redis_client.set("tb:{t}:claim", "me")
    redis_client.script_flush()
    assert script.run(redis_client, lua.Call(["tb:{t}:claim"], ["me"])) == 1
    assert redis_client.get("tb:{t}:claim") is None


# Production code outside bot/store/ uses the store's methods, never its client or keys.


def test_only_the_store_touches_redis() -> None:
    found = []
    for top in ("bot", "handlers", "jobs"):
        for path in (ROOT / top).rglob("*.py"):
            if path.is_relative_to(ROOT / "bot" / "store"):
                continue
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                if re.search(r"(?<!bot\.)\bstore\.(r|keys)\b|\.r\.|redis\.call|register_script"
                             r"|\bKeys\(|InstallKeys\(", line):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "\n".join(found)
