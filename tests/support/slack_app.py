"""The running app seeded over /ingest, and its Slack replies read back: a
small org of six named people, the first reply to a command, a reply's board lines and
buttons, a metadata event as Slack delivers it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bot.intake.scoring import save_configuration
from tests.conftest import App
from tests.support.polling import wait_for

NOW = datetime.now(UTC) - timedelta(minutes=1)
TS = NOW.isoformat()


def seed(app: App, people: dict[str, tuple[int, int]]) -> None:
    """people: user -> (tokens, merged PRs), all reported now."""
    events = []
    for user, (tokens, prs) in people.items():
        events.append({"id": f"u-{user}", "type": "usage", "user": user, "ts": TS,
                       "tool": "t", "tokens": tokens})
        if prs:
            events.append({"id": f"o-{user}", "type": "outcome", "user": user, "ts": TS,
                           "kind": "pr_merged", "count": prs})
    answer = app.ingest(events).json()
    assert answer["accepted"] == len(events), answer


def response_text(response: dict) -> str:
    return json.dumps(response["blocks"], ensure_ascii=False)


def board_lines(response: dict) -> tuple[list[str], list[str]]:
    fields = next(b for b in response["blocks"] if b["type"] == "section" and "fields" in b)
    left, right = (f["text"].splitlines()[1:] for f in fields["fields"])
    return left, right


def metadata_event(payload: dict, event_type: str = "ai_usage_reported") -> dict:
    return {"type": "message_metadata_posted", "app_id": "A0TOOL", "bot_id": "B0TOOL",
            "user_id": "U0TOOLBOT", "team_id": "T0TEST", "channel_id": "C0REPORTS",
            "event_ts": "1732440000.000200", "message_ts": "1732440000.000100",
            "metadata": {"event_type": event_type, "event_payload": payload}}


NAMES = {"U0ANA": "Ana Lima", "U0BEN": "Ben Okafor", "U0CY": "Cy Park", "U0DEE": "Dee Ruiz",
         "U0EVA": "Eva Stone", "U0FOX": "Fox Mori"}
# tokens, merged PRs: Fox and Eva burn tokens with nothing merged
PEOPLE = {"U0ANA": (4000, 4), "U0BEN": (3000, 1), "U0CY": (2000, 9), "U0DEE": (1000, 0),
          "U0EVA": (8000, 0), "U0FOX": (9000, 0)}


def seeded(app: App) -> None:
    for uid, name in NAMES.items():
        app.stub.add_user(uid, display_name=name)
    seed(app, PEOPLE)


def first_reply(app: App, text: str, user: str, name: str) -> dict:
    assert app.command(text, user_id=user, name=name).status == 200
    return wait_for(lambda: app.stub.responses(name))[0]


def buttons(reply: dict) -> dict[str, dict]:
    [actions] = [b for b in reply["blocks"] if b["type"] == "actions"]
    return {e["action_id"]: e for e in actions["elements"]}


def set_config(app: App, **update: object) -> None:
    config = app.deps.store.configs.load()
    save_configuration(app.deps.store, config.model_copy(update=update), by="U0ADMIN")
