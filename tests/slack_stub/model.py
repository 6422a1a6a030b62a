"""Slack as the stub models it: the ids it answers with, Slack's limits on messages and
views, the records it keeps (calls, queued faults, its state), and its checks of arguments
and blocks, which answer with Slack's own errors."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

TEAM_ID = "T0TEST"
BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
APP_ID = "A0TEST"

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_MODAL_TITLE = 24
MAX_MESSAGE_TEXT = 40000


@dataclass
class Call:
    """One request to /api/<method>. ``headers`` keys are lower-case."""

    method: str
    args: dict[str, Any]
    headers: dict[str, str]


def _token_of(args: dict, headers: dict[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    return auth[len("Bearer ") :] if auth.startswith("Bearer ") else args.get("token")


@dataclass
class _Fault:
    error: str
    status: int
    headers: dict[str, str]
    times: int


@dataclass
class _State:
    users: dict[str, dict] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    responses: list[tuple[str, Any]] = field(default_factory=list)
    uploads: dict[str, bytes] = field(default_factory=dict)
    pending_files: dict[str, dict] = field(default_factory=dict)
    completed: set[str] = field(default_factory=set)  # uploaded, completed, not deleted
    not_ready: set[str] = field(default_factory=set)  # completed but still "processing"
    faults: dict[str, list[_Fault]] = field(default_factory=dict)
    history: dict[str, list[dict]] = field(default_factory=dict)  # channel -> messages
    channels: dict[str, dict] = field(default_factory=dict)  # id -> conversations.list entry
    delays: dict[str, float] = field(default_factory=dict)  # method -> seconds per call
    in_flight: dict[str, int] = field(default_factory=dict)
    peak: dict[str, int] = field(default_factory=dict)  # most calls of a method at once
    usergroups: dict[str, dict] = field(default_factory=dict)  # id -> usergroups.list entry
    seq: int = 0


class _ApiError(Exception):
    def __init__(self, error: str, *messages: str):
        super().__init__(error)
        self.error = error
        self.messages = list(messages)


def _require(args: dict, *names: str) -> None:
    for name in names:
        if args.get(name) in (None, ""):
            raise _ApiError("invalid_arguments", f"[ERROR] missing required field: {name}")


def _as_json(value: Any, name: str) -> Any:
    """Form-encoded calls carry structured args (blocks, view...) as JSON strings."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise _ApiError("invalid_arguments", f"[ERROR] {name} is not valid JSON") from None
    return value


def _text_of(obj: Any) -> str:
    return obj.get("text", "") if isinstance(obj, dict) else ""


def _check_blocks(blocks: Any, limit: int, pointer: str) -> str | None:
    """Return a Slack-style error message for invalid blocks, or None."""
    if not isinstance(blocks, list):
        return f"[ERROR] must be an array [json-pointer:{pointer}]"
    if len(blocks) > limit:
        return f"[ERROR] must be less than {limit + 1} items [json-pointer:{pointer}]"
    for i, block in enumerate(blocks):
        at = f"{pointer}/{i}"
        if not isinstance(block, dict) or not block.get("type"):
            return f"[ERROR] missing required field: type [json-pointer:{at}]"
        if block["type"] == "section":
            text, fields = _text_of(block.get("text")), block.get("fields") or []
            if not text and not fields:
                return f"[ERROR] must provide text or fields [json-pointer:{at}]"
            if len(text) > MAX_SECTION_TEXT:
                return f"[ERROR] must be less than 3001 characters [json-pointer:{at}/text/text]"
            if len(fields) > MAX_FIELDS:
                return f"[ERROR] must be less than 11 items [json-pointer:{at}/fields]"
            for j, f in enumerate(fields):
                if len(_text_of(f)) > MAX_FIELD_TEXT:
                    return (
                        "[ERROR] must be less than 2001 characters "
                        f"[json-pointer:{at}/fields/{j}/text]"
                    )
        elif block["type"] == "header" and len(_text_of(block.get("text"))) > MAX_HEADER_TEXT:
            return f"[ERROR] must be less than 151 characters [json-pointer:{at}/text/text]"
    return None
