"""`/leaderboard` does each thing once per command: the text is parsed once (by the ack;
the lazy answer gets the parse through Bolt's context), the profile cache is read once
(the names shown and the viewer's role together), and for a small org whose figures are
out of date the board script runs once (the new figures are put on the rows it read).

The Bolt app is driven in this process (no HTTP server): a signed slash command is
dispatched to it, the answer arrives at the Slack stub's response_url. Each count is
taken by a wrapper around the one function that does the work.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from slack_bolt.request import BoltRequest

import bot.boards.leaderboard
import handlers.commands
from bot.runtime.app import build_bolt_app
from bot.runtime.deps import Deps
from bot.store.slack_cache import SlackCache
from tests.conftest import SIGNING_SECRET
from tests.slack_signing import sign, slash_command_body
from tests.slack_stub import SlackStub
from tests.support.polling import wait_for
from tests.support.slack_app import TS

PEOPLE = {"U0ANA": (4000, 4), "U0BEN": (3000, 1), "U0CY": (2000, 9), "U0DEE": (1000, 0),
          "U0EVE": (500, 2), "U0FOX": (250, 6)}


def counting(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> list[Any]:
    """Replace `owner.name` with a wrapper that records each call's arguments."""
    calls: list[Any] = []
    real: Callable[..., Any] = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)
    return calls


def seed(deps: Deps, stub: SlackStub) -> None:
    """Six people reported a minute ago, with cached names; no figures computed yet."""
    events = []
    for user, (tokens, prs) in PEOPLE.items():
        stub.add_user(user, display_name=user.title())
        events.append({"id": f"u-{user}", "type": "usage", "user": user, "ts": TS,
                       "tool": "t", "tokens": tokens})
        if prs:
            events.append({"id": f"o-{user}", "type": "outcome", "user": user, "ts": TS,
                           "kind": "pr_merged", "count": prs})
    from bot.intake.ingest import ingest_events

    assert ingest_events(deps.store, deps.identities, events).counted == len(events)
    deps.directory.names(list(PEOPLE))  # the names are cached, as after any earlier reply


def command(deps: Deps, stub: SlackStub, text: str, user: str, name: str) -> dict:
    """Dispatch `/leaderboard text` from `user` to the Bolt app; its private answer."""
    body = slash_command_body(text=text, user_id=user, response_url=stub.response_url(name))
    headers = {"content-type": ["application/x-www-form-urlencoded"],
               **{k.lower(): [v] for k, v in sign(body, SIGNING_SECRET).items()}}
    answer = build_bolt_app(deps).dispatch(BoltRequest(body=body, headers=headers))
    assert answer.status == 200, answer.body
    return wait_for(lambda: stub.responses(name))[-1]


def test_the_text_is_parsed_once(deps: Deps, stub: SlackStub,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    seed(deps, stub)
    parses = counting(monkeypatch, handlers.commands, "parse")
    reply = command(deps, stub, "week", "U0ANA", "parse-week")
    assert "Leaderboard" in reply["text"]
    assert parses == [("week",)]
    me = command(deps, stub, "me today", "U0BEN", "parse-me")
    assert "Your numbers" in me["text"]
    assert parses == [("week",), ("me today",)]


def test_names_and_the_viewers_role_come_from_one_read_of_the_profile_cache(
        deps: Deps, stub: SlackStub, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(deps, stub)
    stub.add_user("U0VIEWER", display_name="Vi")  # not an admin: flags are for admins
    reads = counting(monkeypatch, SlackCache, "users")
    reply = command(deps, stub, "week", "U0VIEWER", "profiles")
    assert "Ana" in json.dumps(reply["blocks"])  # the names shown came from that read
    [(_store, users)] = reads
    assert set(users) == {*PEOPLE, "U0VIEWER"}
    assert "⚑" not in json.dumps(reply["blocks"])  # and the role: no flags for a non-admin


def test_an_admins_role_is_read_with_the_names_and_shows_the_flags(
        deps: Deps, stub: SlackStub, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(deps, stub)
    stub.add_user("U0BOSS", display_name="Boss", is_admin=True)
    reads = counting(monkeypatch, SlackCache, "users")
    command(deps, stub, "week", "U0BOSS", "admin")
    assert len(reads) == 1 and "U0BOSS" in reads[0][1]


def test_a_small_org_with_stale_figures_runs_the_board_script_once(
        deps: Deps, stub: SlackStub, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(deps, stub)  # no figures stored yet: the read ranks everyone itself
    reads = counting(monkeypatch, bot.boards.leaderboard, "read_top")
    refreshes = counting(monkeypatch, deps.leaderboards, "refresh_population")
    reply = command(deps, stub, "week", "U0ANA", "stale")
    assert len(reads) == 1 and len(refreshes) == 1
    text = json.dumps(reply["blocks"], ensure_ascii=False)
    assert "Spearman ρ" in text and "being computed" not in text
    # the next reply finds the figures fresh: one read, no refresh
    command(deps, stub, "week", "U0BEN", "fresh")
    assert len(reads) == 2 and len(refreshes) == 1
