"""The digest's posts as the Slack stub received them, and their parts read back: the
header, the two boards' lines, the sections' words."""

from __future__ import annotations

import json
import re

from tests.slack_stub import SlackStub

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def decoded(value: object) -> object:
    """A JSON text Slack was sent (blocks, metadata, a view) as data; data as it is."""
    return json.loads(value) if isinstance(value, str) else value


def posts(stub: SlackStub) -> list[dict]:
    """The args of every chat.postMessage call, blocks and metadata decoded."""
    out = []
    for call in stub.calls("chat.postMessage"):
        args = dict(call.args)
        for key in ("blocks", "metadata"):
            if key in args:
                args[key] = decoded(args[key])
        out.append(args)
    return out


def posted_dates(stub: SlackStub) -> list[str]:
    return [p["metadata"]["event_payload"]["date"] for p in posts(stub)]


def header(post: dict) -> str:
    return post["blocks"][0]["text"]["text"]


def board_fields(post: dict) -> tuple[list[str], list[str]]:
    [section] = [b for b in post["blocks"] if b["type"] == "section" and b.get("fields")]
    left, right = (f["text"].splitlines() for f in section["fields"])
    return left, right


LINE = re.compile(r"^`\s*(\d+)\.` (.+?) · (.+?) · (\S+)$")


def parse_board(lines: list[str]) -> list[tuple[int, str, str, str]]:
    """Board lines after the column title -> (rank, name, value, move)."""
    parsed = []
    for line in lines[1:]:
        m = LINE.match(line)
        assert m, line
        parsed.append((int(m.group(1)), m.group(2), m.group(3), m.group(4)))
    return parsed


def section_texts(post: dict) -> list[str]:
    return [b["text"]["text"] for b in post["blocks"]
            if b["type"] == "section" and b.get("text")]
