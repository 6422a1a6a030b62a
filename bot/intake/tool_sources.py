"""One source per tool: when a tool's usage arrives by several sources (Claude Code over
OpenTelemetry, from the Claude Code Analytics API and over /ingest), only one of them
counts.

The configuration names it (`tool_sources`, chosen in the configuration modal's page of
`bot.render.config_modal_tools`); otherwise the first source heard from for that tool keeps
it (recorded once in Redis, shown to admins on App Home). The tools and their sources:
`bot.core.tools.MULTI_SOURCE`."""

from __future__ import annotations

import time
from weakref import WeakKeyDictionary

from bot.core.config import BoardConfig
from bot.store.store import Store

CACHE_SECONDS = 10.0
LABELS = {"otlp": "OpenTelemetry", "ingest": "/ingest", "claude-code": "the Claude Code "
          "Analytics API", "copilot": "GitHub's Copilot metrics", "cursor": "Cursor's Admin "
          "API", "openai": "OpenAI's Usage API"}

# per store: tool → (when read, the source first heard from)
_first: WeakKeyDictionary[Store, dict[str, tuple[float, str | None]]] = WeakKeyDictionary()


def first_heard(store: Store, tool: str, fresh: bool = False) -> str | None:
    """The source first heard from for `tool` (cached a few seconds unless `fresh`)."""
    cache = _first.setdefault(store, {})
    at, source = cache.get(tool, (0.0, None))
    if fresh or source is None or time.monotonic() - at > CACHE_SECONDS:
        source = store.pulls.tool_source(tool)
        cache[tool] = (time.monotonic(), source)
    return source


def counts(store: Store, config: BoardConfig, tool: str, source: str,
           fresh: bool = False) -> bool:
    """Whether `source`'s usage of `tool` counts. The first source to ask for a tool
    nobody holds yet takes it."""
    chosen = config.tool_sources.get(tool)
    if chosen:
        return chosen == source
    holder = first_heard(store, tool, fresh)
    if holder is None:
        store.pulls.claim_tool(tool, source)
        holder = first_heard(store, tool, fresh=True)
    return holder == source


def holders(store: Store, config: BoardConfig) -> dict[str, tuple[str, bool]]:
    """tool → (source that counts it, whether the configuration names it)."""
    out = {tool: (source, False) for tool, source in store.pulls.tool_sources().items()}
    out.update({tool: (source, True) for tool, source in config.tool_sources.items()})
    return out
