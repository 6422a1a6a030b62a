"""The admin configuration modal: Block Kit out, validated BoardConfig back in. Pure.

Stable block ids: `raw_metric`, `token_types`, `claude_code_usage`, `codex_usage`,
`tool_sources` (a button pushing `bot.render.config_modal_tools`), `weight:<kind>`,
`cap:<kind>`, `transform:<kind>`, `pr_small_lines`, `pr_small_fraction`,
`pr_self_merge_fraction`, `rules` (a button pushing `bot.render.config_modal_rules`), `new_kind`,
`remove_kinds`, `digest_channel`,
`digest_time`, `timezone`, `board_size`, `digest_enabled`, `display`, `flags`, `sharing`,
`admins`.
Every input's action id is `value`.

Slack allows 100 blocks per view, so the first MAIN_KINDS outcome kinds are edited in the
main modal and the rest on pages pushed on top of it (`config_kinds`), PAGE_KINDS each.
"""

from __future__ import annotations

import json
import math
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    CheckboxesElement,
    ContextBlock,
    ConversationFilter,
    ConversationSelectElement,
    DividerBlock,
    InputBlock,
    MarkdownTextObject,
    NumberInputElement,
    Option,
    PlainTextInputElement,
    RadioButtonsElement,
    SectionBlock,
    StaticMultiSelectElement,
    StaticSelectElement,
    TimePickerElement,
    UserMultiSelectElement,
)
from slack_sdk.models.views import View

from bot.core.config import KIND_KEY, RAW_METRIC_LABELS, BoardConfig, OutcomeRule

MAIN_CALLBACK = "config_modal"
PAGE_CALLBACK = "config_kinds"
MORE_KINDS_ACTION = "config_more_kinds"
MAIN_KINDS = 20
PAGE_KINDS = 30
TRANSFORM_LABELS = {"linear": "Linear (no diminishing)", "sqrt": "Square root",
                    "log": "Logarithmic"}
DISPLAY_LABELS = {"names": "Names", "mentions": "Names as @mentions",
                  "anonymous": "Anonymous (#1, #2; only your own row named)",
                  "teams": "Teams only (teams ranked; nobody named, own line privately)"}
FLAG_LABELS = {"admins": "Admins only", "everyone": "Everyone", "off": "Nobody (off)"}
TOKEN_TYPE_LABELS = {"input": "Input", "output": "Output", "cache_read": "Cache read",
                     "cache_creation": "Cache creation", "thought": "Thinking (Gemini)",
                     "tool": "Tool (Gemini)", "cache": "Cached (Gemini)"}
CLAUDE_CODE_USAGE_LABELS = {"metrics": "Metrics (claude_code.token.usage; the default)",
                            "events": "Events (claude_code.api_request, one per model call)"}
CODEX_USAGE_LABELS = {"events": "Events (codex.sse_event, one per response, with the person; "
                                "the default)",
                      "metrics": "Metrics (codex.turn.token_usage; the person only from "
                                 "the resource)"}


def _options(labels: dict[str, str]) -> list[Option]:
    return [Option(value=k, label=v) for k, v in labels.items()]


def _radio(block_id: str, label: str, labels: dict[str, str], current: str) -> InputBlock:
    """Radio buttons of `labels` (value → label), `current` chosen."""
    options = _options(labels)
    return InputBlock(block_id=block_id, label=label, element=RadioButtonsElement(
        action_id="value", options=options,
        initial_option=next(o for o in options if o.value == current)))


def _kind_blocks(config: BoardConfig, kinds: list[str]) -> list[Block]:
    blocks: list[Block] = []
    for kind in kinds:
        rule = config.outcomes[kind]
        title = f"{rule.label} ({kind})"[:120]
        blocks.append(InputBlock(
            block_id=f"weight:{kind}", label=f"{title}: weight"[:2000],
            element=PlainTextInputElement(action_id="value", initial_value=_num(rule.weight),
                                          max_length=12)))
        blocks.append(InputBlock(
            block_id=f"cap:{kind}", label="Daily cap (blank = no cap)", optional=True,
            element=PlainTextInputElement(action_id="value", max_length=8,
                                          initial_value=str(rule.cap) if rule.cap else None)))
        transform_options = _options(TRANSFORM_LABELS)
        blocks.append(InputBlock(
            block_id=f"transform:{kind}", label="Diminishing returns per day",
            element=StaticSelectElement(
                action_id="value", options=transform_options,
                initial_option=next(o for o in transform_options if o.value == rule.transform))))
    return blocks


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _more_button(start: int, total: int, page: int) -> ActionsBlock:
    end = min(start + PAGE_KINDS, total)
    return ActionsBlock(block_id="more_kinds", elements=[ButtonElement(
        action_id=MORE_KINDS_ACTION, value=str(page),
        text=f"Outcome kinds {start + 1}–{end} of {total} →")])


def config_view(config: BoardConfig, default_time: str = "09:00",
                default_timezone: str = "UTC", version: int = -1) -> dict:
    """The main modal, filled with `config`; the digest time and zone show the schedule
    in effect (the environment's defaults unless an admin saved their own)."""
    kinds = list(config.outcomes)
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(
        text="What counts, how much, when the digest posts and who sees what. Every save is "
             "recorded with your name, and weight changes are announced in the next digest."))]
    raw_options = _options(RAW_METRIC_LABELS)
    blocks.append(InputBlock(
        block_id="raw_metric", label="Raw board ranks by",
        element=StaticSelectElement(action_id="value", options=raw_options, initial_option=next(
            o for o in raw_options if o.value == config.raw_metric))))
    type_options = _options(TOKEN_TYPE_LABELS)
    blocks.append(InputBlock(
        block_id="token_types", label="Token types that add up to \"tokens\"",
        hint="As the tools report them over OpenTelemetry; every type is kept per day either "
             "way.",
        element=CheckboxesElement(action_id="value", options=type_options, initial_options=[
            o for o in type_options if o.value in config.token_types] or None)))
    blocks.append(_radio("claude_code_usage", "Claude Code tokens and cost come from",
                         CLAUDE_CODE_USAGE_LABELS, config.claude_code_usage))
    blocks.append(_radio("codex_usage", "Codex tokens come from", CODEX_USAGE_LABELS,
                         config.codex_usage))
    blocks.append(ActionsBlock(block_id="tool_sources", elements=[ButtonElement(
        action_id="config_open_tools", value="tools",
        text="Which source counts each tool (Claude Code, Copilot, Cursor, OpenAI) →")]))
    blocks += [DividerBlock(), SectionBlock(text=MarkdownTextObject(
        text="*Outcome kinds.* Points per person per day = weight × transform(min(count, "
             "cap)). Favour outcomes that are hard to fake; cap the trivial ones."))]
    blocks += _kind_blocks(config, kinds[:MAIN_KINDS])
    if len(kinds) > MAIN_KINDS:
        blocks.append(_more_button(MAIN_KINDS, len(kinds), 1))
    blocks.append(SectionBlock(text=MarkdownTextObject(
        text="*Pull requests that should not pay like real work* (from GitHub and GitLab "
             "webhooks): they count as a fraction of a merged pull request, before the cap "
             "and the transform; both rules together multiply.")))
    blocks.append(InputBlock(
        block_id="pr_small_lines", label="Small pull request: fewer changed lines than",
        element=PlainTextInputElement(action_id="value", max_length=6,
                                      initial_value=str(config.pr_small_lines))))
    blocks.append(InputBlock(
        block_id="pr_small_fraction", label="A small pull request counts as (0–1)",
        element=PlainTextInputElement(action_id="value", max_length=6,
                                      initial_value=_num(config.pr_small_fraction))))
    blocks.append(InputBlock(
        block_id="pr_self_merge_fraction",
        label="Merged by its author without another person's approval counts as (0–1)",
        element=PlainTextInputElement(action_id="value", max_length=6,
                                      initial_value=_num(config.pr_self_merge_fraction))))
    blocks.append(ActionsBlock(block_id="rules", elements=[ButtonElement(
        action_id="config_open_rules", value="rules",
        text="Rules against cheap outcomes (reviews, tickets, deploys, incidents) →")]))
    blocks.append(InputBlock(
        block_id="new_kind", label="Add an outcome kind", optional=True,
        hint="key: Label, e.g. hotfix: Hotfixes shipped (weight 1, square root; edit after)",
        element=PlainTextInputElement(action_id="value", max_length=100,
                                      placeholder="hotfix: Hotfixes shipped")))
    blocks.append(InputBlock(
        block_id="remove_kinds", label="Remove outcome kinds", optional=True,
        element=StaticMultiSelectElement(action_id="value", options=[
            Option(value=k, label=f"{config.outcomes[k].label} ({k})"[:75]) for k in kinds
        ][:100], placeholder="Choose kinds to remove")))
    blocks += [DividerBlock(), SectionBlock(text=MarkdownTextObject(text="*Daily digest*"))]
    blocks.append(InputBlock(
        block_id="digest_channel", label="Channel", optional=True,
        hint="tokenboard must be a member: /invite @tokenboard in the channel",
        element=ConversationSelectElement(
            action_id="value", initial_conversation=config.digest_channel or None,
            filter=ConversationFilter(include=["public", "private"],
                                      exclude_bot_users=True))))
    blocks.append(InputBlock(
        block_id="digest_time", label="Time",
        element=TimePickerElement(action_id="value",
                                  initial_time=config.digest_time or default_time)))
    blocks.append(InputBlock(
        block_id="timezone", label="Digest time zone (IANA name)",
        element=PlainTextInputElement(action_id="value",
                                      initial_value=config.timezone or default_timezone,
                                      max_length=64, placeholder="Europe/Berlin")))
    blocks.append(InputBlock(
        block_id="board_size", label="People on each board (5–25)",
        element=NumberInputElement(action_id="value", is_decimal_allowed=False, min_value=5,
                                   max_value=25, initial_value=config.board_size)))
    on = Option(value="on", label="Post the daily digest")
    blocks.append(InputBlock(
        block_id="digest_enabled", label="Digest", optional=True,
        element=CheckboxesElement(action_id="value", options=[on],
                                  initial_options=[on] if config.digest_enabled else None)))
    blocks += [DividerBlock(), SectionBlock(text=MarkdownTextObject(text="*Privacy*"))]
    blocks.append(_radio("display", "Show people on boards as", DISPLAY_LABELS,
                         config.display))
    blocks.append(_radio("flags", "Who sees the \"high usage, no outcomes\" flag", FLAG_LABELS,
                         config.flags))
    share = Option(value="on", label="People can share /leaderboard in a channel")
    blocks.append(InputBlock(
        block_id="sharing", label="Sharing", optional=True,
        hint="A \"Share in channel\" button on /leaderboard posts the board where the "
             "command was typed, shown as set above; flags only if everyone sees them.",
        element=CheckboxesElement(action_id="value", options=[share],
                                  initial_options=[share] if config.sharing_enabled else None)))
    blocks.append(InputBlock(  # teams: Slack user groups (bot/slack/usergroups.py)
        block_id="team_usergroups", label="Teams from Slack user groups", optional=True,
        hint="Handles or ids, separated by spaces or commas (e.g. @platform @web). The worker "
             "keeps their members in sync.",
        element=PlainTextInputElement(action_id="value", max_length=2000,
                                      initial_value=" ".join(config.team_usergroups) or None)))
    blocks.append(InputBlock(
        block_id="admins", label="tokenboard admins (besides workspace admins)", optional=True,
        element=UserMultiSelectElement(action_id="value",
                                       initial_users=config.admins or None)))
    return View(type="modal", callback_id=MAIN_CALLBACK, title="Configure tokenboard",
                submit="Save", close="Cancel", blocks=blocks,
                private_metadata=json.dumps({"page": 0, "version": version})).to_dict()


def kinds_page_view(config: BoardConfig, page: int, version: int = -1) -> dict:
    """A pushed page editing outcome kinds beyond the main modal's."""
    kinds = list(config.outcomes)
    start = MAIN_KINDS + (page - 1) * PAGE_KINDS
    shown = kinds[start:start + PAGE_KINDS]
    blocks: list[Block] = [ContextBlock(elements=[MarkdownTextObject(
        text=f"Outcome kinds {start + 1}–{start + len(shown)} of {len(kinds)}. "
             "Saving here saves these kinds only.")])]
    blocks += _kind_blocks(config, shown)
    if start + PAGE_KINDS < len(kinds):
        blocks.append(_more_button(start + PAGE_KINDS, len(kinds), page + 1))
    return View(type="modal", callback_id=PAGE_CALLBACK, title="More outcome kinds",
                submit="Save", close="Back", blocks=blocks,
                private_metadata=json.dumps({"page": page, "version": version})).to_dict()


def _value(values: dict, block_id: str) -> Any:
    """The submitted value of one input, in the shape its element type uses."""
    element = (values.get(block_id) or {}).get("value") or {}
    kind = element.get("type")
    if kind in ("plain_text_input", "number_input"):
        return (element.get("value") or "").strip()
    if kind in ("static_select", "radio_buttons"):
        option = element.get("selected_option")
        return option["value"] if option else None
    if kind in ("multi_static_select", "checkboxes"):
        return [o["value"] for o in element.get("selected_options") or []]
    if kind == "conversations_select":
        return element.get("selected_conversation")
    if kind == "timepicker":
        return element.get("selected_time")
    if kind == "multi_users_select":
        return element.get("selected_users") or []
    return None


def parse_kinds(values: dict, config: BoardConfig, errors: dict[str, str]) -> dict:
    """Outcome rules for the kinds present in `values`, starting from `config`'s."""
    outcomes = dict(config.outcomes)
    for kind, rule in config.outcomes.items():
        if f"weight:{kind}" not in values:
            continue
        raw_weight = _value(values, f"weight:{kind}")
        try:
            weight = float(raw_weight)
            if not math.isfinite(weight) or weight < 0 or weight > 1000:
                raise ValueError
        except (TypeError, ValueError):
            errors[f"weight:{kind}"] = "Weight must be a number from 0 to 1000."
            weight = rule.weight
        raw_cap = _value(values, f"cap:{kind}")
        cap = None
        if raw_cap:
            if not raw_cap.isdigit() or int(raw_cap) < 1 or int(raw_cap) > 100_000:
                errors[f"cap:{kind}"] = "Cap must be a whole number of at least 1, or blank."
            else:
                cap = int(raw_cap)
        transform = _value(values, f"transform:{kind}") or rule.transform
        outcomes[kind] = OutcomeRule(label=rule.label, weight=weight, cap=cap,
                                     transform=transform)
    return outcomes


def parse_main(values: dict, config: BoardConfig, default_time: str = "09:00",
               default_timezone: str = "UTC") -> tuple[BoardConfig, dict[str, str]]:
    """The configuration the main modal asks for, and {block_id: error} for bad fields.

    A digest time or zone left at the environment's default stays unset, so it keeps
    following DIGEST_TIME / TOKENBOARD_TIMEZONE.
    """
    errors: dict[str, str] = {}
    outcomes = parse_kinds(values, config, errors)
    new_kind = _value(values, "new_kind")
    if new_kind:
        key, sep, label = (part.strip() for part in new_kind.partition(":"))
        if not sep or not label:
            errors["new_kind"] = "Write it as key: Label, e.g. hotfix: Hotfixes shipped."
        elif not KIND_KEY.match(key):
            errors["new_kind"] = ("The key must be 2–32 characters of a–z, 0–9 and _, "
                                  "starting with a letter.")
        elif key in outcomes:
            errors["new_kind"] = f"There is already an outcome kind called {key}."
        else:
            outcomes[key] = OutcomeRule(label=label[:60], weight=1, transform="sqrt")
    removed = _value(values, "remove_kinds") or []
    for key in removed:
        outcomes.pop(key, None)
    if not outcomes:
        errors["remove_kinds"] = "Keep at least one outcome kind."
    pr_rules = {}
    for block_id, whole in (("pr_small_lines", True), ("pr_small_fraction", False),
                            ("pr_self_merge_fraction", False)):
        if block_id not in values:
            continue
        text = _value(values, block_id) or ""
        try:
            number = float(text)
            if not math.isfinite(number) or number < 0 or (whole and not text.isdigit()) or (
                    not whole and number > 1) or number > 100_000:
                raise ValueError
        except ValueError:
            errors[block_id] = ("A whole number of lines (0 turns the rule off)." if whole
                                else "A fraction from 0 to 1, e.g. 0.2.")
            continue
        pr_rules[block_id] = int(number) if whole else number
    token_types = config.token_types
    if "token_types" in values:
        token_types = _value(values, "token_types") or []
        if not token_types:
            errors["token_types"] = "Keep at least one token type."
    size_text = _value(values, "board_size")
    board_size = config.board_size
    if size_text:
        if not size_text.lstrip("-").isdigit() or not 5 <= int(size_text) <= 25:
            errors["board_size"] = "Board size must be a whole number from 5 to 25."
        else:
            board_size = int(size_text)
    timezone = _value(values, "timezone") or default_timezone
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        errors["timezone"] = f"{timezone[:64]} is not a time zone; use a name like Europe/Berlin."
    updated = config.model_copy(update={
        "raw_metric": _value(values, "raw_metric") or config.raw_metric,
        "outcomes": outcomes,
        "board_size": board_size,
        "digest_channel": _value(values, "digest_channel") or "",
        "digest_time": _unless_default(_value(values, "digest_time") or default_time,
                                       config.digest_time, default_time),
        "timezone": _unless_default(timezone, config.timezone, default_timezone),
        "digest_enabled": "on" in (_value(values, "digest_enabled") or []),
        "display": _value(values, "display") or config.display,
        "flags": _value(values, "flags") or config.flags,
        # a form opened before this setting existed keeps the stored value
        "sharing_enabled": ("on" in (_value(values, "sharing") or [])) if "sharing" in values
        else config.sharing_enabled,
        "admins": _value(values, "admins") or [],
        "team_usergroups": (_value(values, "team_usergroups") or "").replace(",", " ").split()
        if "team_usergroups" in values else config.team_usergroups,
        "token_types": token_types or config.token_types,
        "claude_code_usage": _value(values, "claude_code_usage") or config.claude_code_usage,
        "codex_usage": _value(values, "codex_usage") or config.codex_usage,
        **pr_rules,
    })
    return updated, errors


def _unless_default(submitted: str, stored: str, default: str) -> str:
    return "" if not stored and submitted == default else submitted


def parse_page(values: dict, config: BoardConfig) -> tuple[BoardConfig, dict[str, str]]:
    errors: dict[str, str] = {}
    outcomes = parse_kinds(values, config, errors)
    return config.model_copy(update={"outcomes": outcomes}), errors
