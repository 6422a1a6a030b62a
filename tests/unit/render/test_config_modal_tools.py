"""bot.render.config_modal_tools: the page choosing which source counts each tool (pure)."""

from __future__ import annotations

from bot.core.config import BoardConfig, describe_changes
from bot.render.config_modal_tools import parse_tools, tools_view
from tests.support.view_limits import check_view_limits


def chosen(view: dict, overrides: dict[str, str] | None = None) -> dict:
    """The page's values as Slack submits them: initial options, or `overrides`."""
    values = {}
    for block in view["blocks"]:
        if block["type"] != "input":
            continue
        element = block["element"]
        option = element["initial_option"]
        if overrides and block["block_id"] in overrides:
            option = {"value": overrides[block["block_id"]], "text": option["text"]}
        values[block["block_id"]] = {"value": {"type": "static_select",
                                               "selected_option": option}}
    return values


def test_one_select_per_tool_with_first_heard_as_the_default() -> None:
    config = BoardConfig(tool_sources={"cursor": "ingest"})
    view = tools_view(config, {"claude_code": "otlp", "cursor": "cursor"}, version=7)
    assert check_view_limits(view) == ["source:claude_code", "source:copilot",
                                       "source:cursor", "source:openai"]
    selects = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    claude = selects["source:claude_code"]
    assert [(o["value"], o["text"]["text"]) for o in claude["options"]] == [
        ("first", "First heard from (currently: OpenTelemetry)"), ("otlp", "OpenTelemetry"),
        ("claude-code", "Claude Code Analytics API"), ("ingest", "/ingest")]
    assert claude["initial_option"]["value"] == "first"
    assert selects["source:copilot"]["options"][0]["text"]["text"] == (
        "First heard from (currently: none yet)")
    assert selects["source:cursor"]["initial_option"]["value"] == "ingest"
    # submitted unchanged: the same configuration
    assert parse_tools(chosen(view), config) == (config, {})


def test_choosing_saves_and_first_heard_clears() -> None:
    config = BoardConfig(tool_sources={"cursor": "ingest"})
    view = tools_view(config, {})
    new, errors = parse_tools(chosen(view, {"source:claude_code": "claude-code",
                                            "source:cursor": "first"}), config)
    assert errors == {} and new.tool_sources == {"claude_code": "claude-code"}
    assert describe_changes(config, new) == [
        "claude_code counts from claude-code (was the source first heard from)",
        "cursor counts from the source first heard from (was ingest)"]


def test_a_source_that_cannot_report_the_tool_is_refused() -> None:
    config = BoardConfig()
    new, errors = parse_tools(chosen(tools_view(config, {}), {"source:copilot": "cursor"}),
                              config)
    assert new == config
    assert errors == {"source:copilot": "Copilot can be counted from OpenTelemetry, GitHub "
                                        "Copilot metrics, /ingest only."}
