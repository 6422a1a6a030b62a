"""The Lua of the store: every script is a `.lua` file in this folder, read with
`importlib.resources` (so an installed wheel carries them) once per process and run by
its SHA (as redis-py's `register_script` does: EVALSHA, and SCRIPT LOAD only when Redis
answers NOSCRIPT).

**Includes.** A line that is exactly `--#include <path>` (a path relative to this folder,
e.g. `--#include common/points.lua`) is replaced at load time by that file, itself
expanded the same way. A file is included at most once per script: a second
`--#include` of it (say `common/buckets.lua`, wanted by both `common/day.lua` and a
script) expands to nothing, so each file names what it uses and the functions are
defined once, before their first use. That is the only preprocessing: the include line
is a Lua comment, so every file is plain Lua that reads and lints on its own. The
shared pieces live in `common/`: `buckets.lua` (linear-hashing buckets, event ids),
`day.lua` (a person's packed day), `points.lua` (outcome points), `rebuild.lua` (a
rebuild's constants), `teams.lua` (the team hook) and `event.lua` (the event being
counted and the helpers of the counting scripts).

**Running.** `Script(name)` is one script: its text is read and expanded once per
process, its SHA computed once. `run(client, call)` sends EVALSHA (loading the script
and retrying once when Redis answers NOSCRIPT, e.g. after a restart); `queue(pipe,
call)` adds the EVALSHA to a pipeline (see `run_pipeline` for the NOSCRIPT retry). A
`Call` is a script's KEYS and ARGV; each script's `Call` is built by one function with
named arguments (`<name>_call`), beside the `Script` in the module that runs it, e.g.
`bot.store.events.RecordCall` for `record.lua`, `bot.store.configs.save_config_call`
for `save_config.lua`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from typing import Any

import redis

INCLUDE = re.compile(r"^--#include[ \t]+(\S+)[ \t]*$", re.MULTILINE)


def source(path: str) -> str:
    """The text of `bot/store/lua/<path>` as it is in the file (includes not expanded)."""
    node = files(__package__)
    for part in path.split("/"):
        node = node / part
    return node.read_text(encoding="utf-8")


@cache
def load(name: str) -> str:
    """The script `bot/store/lua/<name>.lua` with its `--#include` lines expanded."""
    return _expand(f"{name}.lua", set(), ())


def _expand(path: str, seen: set[str], chain: tuple[str, ...]) -> str:
    seen.add(path)
    chain = (*chain, path)

    def include(match: re.Match[str]) -> str:
        wanted = match.group(1)
        if wanted in chain:  # a file that needs what needs it: no order defines both
            raise ValueError(f"Lua include loop: {' -> '.join((*chain, wanted))}")
        if wanted in seen:
            return f"-- (included above: {wanted})"
        return _expand(wanted, seen, chain).rstrip("\n")

    return INCLUDE.sub(include, source(path))


@dataclass(frozen=True)
class Call:
    """One run of a script: its KEYS and ARGV."""

    keys: list[str | bytes]
    args: list[Any] = field(default_factory=list)


class Script:
    """One Lua script of this folder, loaded once and run by its SHA."""

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def text(self) -> str:
        return load(self.name)

    @property
    def sha(self) -> str:
        return _sha(self.name)

    def run(self, client: redis.Redis, call: Call) -> Any:
        """EVALSHA on `client`; on NOSCRIPT the script is loaded and sent once more."""
        try:
            return client.evalsha(self.sha, len(call.keys), *call.keys, *call.args)
        except redis.exceptions.NoScriptError:
            client.script_load(self.text)
            return client.evalsha(self.sha, len(call.keys), *call.keys, *call.args)

    def queue(self, pipe: Any, call: Call) -> None:
        """Add the EVALSHA to `pipe` (no SCRIPT EXISTS round trip: see `run_pipeline`)."""
        pipe.evalsha(self.sha, len(call.keys), *call.keys, *call.args)


@cache
def _sha(name: str) -> str:
    return hashlib.sha1(load(name).encode()).hexdigest()


def run_pipeline(client: redis.Redis, build: Callable[[Any], None],
                 scripts: Sequence[Script], transaction: bool = False) -> list[Any]:
    """Build a pipeline with `build(pipe)` and execute it; if Redis has lost the
    `scripts` it queues (a restart), load them and build and run it once more. Only for
    pipelines whose every command may run twice (the counting scripts deduplicate on
    their markers)."""
    for attempt in (1, 2):
        pipe = client.pipeline(transaction=transaction)
        build(pipe)
        try:
            return pipe.execute()
        except redis.exceptions.NoScriptError:
            if attempt == 2:
                raise
            for script in scripts:
                client.script_load(script.text)
    return []
