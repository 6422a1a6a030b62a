"""The configuration page of which source counts each tool that several sources report
(`tool_sources`, see `bot.intake.tool_sources`), pushed on top of the main modal: Block Kit
out, validated settings back. Pure.

One select per tool of `bot.core.tools.MULTI_SOURCE` (block id `source:<tool>`, action id
`value`): "first heard from" (the default: the tool is not named in the configuration, and
the source first heard from for it keeps it, shown as currently holding it) or one of the
sources that can report that tool.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.core.config import BoardConfig
from bot.core.tools import MULTI_SOURCE, tool_name

TOOLS_CALLBACK = "config_tools"
TOOLS_ACTION = "config_open_tools"
FIRST = "first"  # the select's value for "first heard from"
SOURCE_LABELS = {"otlp": "OpenTelemetry", "ingest": "/ingest",
                 "claude-code": "Claude Code Analytics API", "copilot": "GitHub Copilot metrics",
                 "cursor": "Cursor Admin API", "openai": "OpenAI Usage API"}


def first_label(holder: str | None) -> str:
    """'First heard from (currently: OpenTelemetry)'."""
    now = SOURCE_LABELS.get(holder, holder) if holder else "none yet"
    return f"First heard from (currently: {now})"[:75]


def tools_view(config: BoardConfig, heard: Mapping[str, str], version: int = -1) -> dict:
    """The page, one select per tool; `heard` is tool → the source first heard from."""
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(
        text="When a tool's usage arrives by several sources (its OpenTelemetry, its "
             "vendor's admin report, `/ingest`), only one of them counts, so nothing counts "
             "twice. By default that is the source first heard from; choose one to "
             "decide. Usage from the other sources is left out, not kept for later."))]
    for tool, sources in MULTI_SOURCE.items():
        options = [Option(value=FIRST, label=first_label(heard.get(tool)))] + [
            Option(value=s, label=SOURCE_LABELS.get(s, s)) for s in sources]
        chosen = config.tool_sources.get(tool) or FIRST
        blocks.append(InputBlock(
            block_id=f"source:{tool}", label=f"Which source counts {tool_name(tool)}",
            element=StaticSelectElement(action_id="value", options=options, initial_option=next(
                (o for o in options if o.value == chosen), options[0]))))
    blocks.append(ContextBlock(elements=[MarkdownTextObject(
        text="A change applies to what arrives from now on; what was counted stays.")]))
    return View(type="modal", callback_id=TOOLS_CALLBACK, title="Sources of each tool",
                submit="Save", close="Back", blocks=blocks,
                private_metadata=json.dumps({"page": "tools", "version": version})).to_dict()


def parse_tools(values: dict, config: BoardConfig) -> tuple[BoardConfig, dict[str, str]]:
    """`tool_sources` as the page asks for it, laid over `config`, and {block_id: error}.
    Tools the configuration names that the page does not show are kept."""
    errors: dict[str, str] = {}
    chosen = dict(config.tool_sources)
    for tool, sources in MULTI_SOURCE.items():
        block = f"source:{tool}"
        element = (values.get(block) or {}).get("value")
        if element is None:
            continue
        option = element.get("selected_option") or {}
        value = option.get("value") or FIRST
        if value == FIRST:
            chosen.pop(tool, None)
        elif value in sources:
            chosen[tool] = value
        else:
            errors[block] = (f"{tool_name(tool)} can be counted from "
                             f"{', '.join(SOURCE_LABELS[s] for s in sources)} only.")
    if errors:
        return config, errors
    return config.model_copy(update={"tool_sources": chosen}), errors
