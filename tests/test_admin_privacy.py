"""Opt-out, forget-me and the display modes (names, anonymous, mentions), on the board, in
the digest and in Redis.

Real Redis and the Slack stub only.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
import redis

from bot.core.config import BoardConfig
from bot.core.periods import ALL
from jobs.digest import DigestRunner
from tests.conftest import App
from tests.support.admin import at_noon, bucket_points
from tests.support.slack_app import board_lines, first_reply, response_text
from tests.support.slack_interactions import (
    block_actions,
)

# -- opt-out and forget-me ----------------------------------------------------------------------


def seed_now(app: App, people: dict[str, tuple[int, int]], prefix: str = "") -> None:
    """people: user -> (tokens, merged PRs), reported a minute ago."""
    ts = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    events = []
    for i, (user, (tokens, prs)) in enumerate(people.items()):
        events.append({"id": f"{prefix}u{i}", "type": "usage", "user": user, "ts": ts,
                       "tool": "t", "tokens": tokens})
        if prs:
            events.append({"id": f"{prefix}o{i}", "type": "outcome", "user": user, "ts": ts,
                           "kind": "pr_merged", "count": prs})
    assert app.ingest(events).json()["accepted"] == len(events)


@pytest.mark.slow
def test_opt_out_hides_a_person_from_others_and_from_the_digest(app: App) -> None:
    for uid, name in (("U0OLGA", "Olga"), ("U0SAM", "Sam"), ("U0TIA", "Tia")):
        app.stub.add_user(uid, display_name=name)
    seed_now(app, {"U0OLGA": (9000, 1), "U0SAM": (3000, 0), "U0TIA": (1000, 4)})
    today = datetime.now(UTC).date()

    answer = first_reply(app, "optout", "U0OLGA", "out")
    assert "left out" in answer["text"] and answer["response_type"] == "ephemeral"

    seen_by_sam = response_text(first_reply(app, "today", "U0SAM", "sam1"))
    assert "Sam" in seen_by_sam and "Tia" in seen_by_sam
    assert "Olga" not in seen_by_sam and "U0OLGA" not in seen_by_sam
    assert "(2 active)" in seen_by_sam  # Sam and Tia only
    # Olga still sees her own numbers: #1 of 3 by usage, 5·√1 = 5 points (Tia 10 is #1).
    mine = response_text(first_reply(app, "me today", "U0OLGA", "olga-me"))
    assert "#1 of 3 by usage (9.0k tokens), #2 by outcomes (5 pts)" in mine
    assert "Olga" in response_text(first_reply(app, "today", "U0OLGA", "olga-board"))

    built = DigestRunner(app.deps).build(today)
    shown = json.dumps(built.blocks, ensure_ascii=False) + built.text + built.alt
    assert "Olga" not in shown and "U0OLGA" not in shown
    assert "Sam" in shown and "(2 active)" in shown  # Sam and Tia: too few for a ρ

    first_reply(app, "optin", "U0OLGA", "in")
    back = response_text(first_reply(app, "today", "U0SAM", "sam2"))
    assert "Olga" in back and "(3 active)" in back
    assert "Olga" in json.dumps(DigestRunner(app.deps).build(today, with_chart=False).blocks)


def snapshot(r: redis.Redis) -> dict[str, object]:
    """Every key and its content, but for request bookkeeping (replay marks, rate limits)."""
    out: dict[str, object] = {}
    for raw in r.scan_iter(count=1000):
        key = raw.decode()
        if ":replay:" in key or ":rate:" in key:
            continue
        kind = r.type(raw).decode()
        if kind == "zset":
            out[key] = {m.decode(): s for m, s in r.zrange(raw, 0, -1, withscores=True)}
        elif kind == "hash":
            out[key] = {k.decode("latin-1"): v.decode("latin-1")  # event ids are binary
                        for k, v in r.hgetall(raw).items()}
        elif kind == "set":
            out[key] = sorted(m.decode() for m in r.smembers(raw))
        elif kind == "list":
            out[key] = [x.decode() for x in r.lrange(raw, 0, -1)]
        else:
            out[key] = r.get(raw).decode()  # type: ignore[union-attr]
    return out


@pytest.mark.slow
def test_forget_me_removes_every_key_and_entry_after_confirmation(app: App) -> None:
    stub, store, r = app.stub, app.deps.store, app.deps.store.r
    stub.add_user("U0GONE", display_name="Gone", email="gone@example.com")
    stub.add_user("U0KEEP", display_name="Keep")
    seed_now(app, {"U0GONE": (5000, 2), "U0KEEP": (7000, 1)}, prefix="now-")
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    assert app.ingest([
        {"id": "y1", "type": "outcome", "email": "gone@example.com", "ts": at_noon(yesterday),
         "kind": "deploy", "count": 2},
        {"id": "y2", "type": "usage", "user": "U0KEEP", "ts": at_noon(yesterday), "tool": "t",
         "tokens": 100},
    ]).json()["accepted"] == 2
    first_reply(app, "today", "U0KEEP", "cache-names")  # caches both profiles
    first_reply(app, "optout", "U0GONE", "out")

    answer = app.command("forget-me", user_id="U0GONE", name="forget")
    prompt = answer.json()
    assert prompt["response_type"] == "ephemeral"
    buttons = {e["action_id"]: e for b in prompt["blocks"] if b["type"] == "actions"
               for e in b["elements"]}
    assert set(buttons) == {"forget_me_confirm", "forget_me_cancel"}

    before = snapshot(r)
    gone_keys = [k for k in before if "U0GONE" in k or "gone@example.com" in k]
    zsets_with_gone = [k for k, v in before.items() if isinstance(v, dict) and "U0GONE" in v]
    days_with_gone = [k for k in zsets_with_gone if k.startswith(store.keys.key("days"))]
    # The cached profile and the email → id cache; the days today and yesterday.
    assert len(gone_keys) == 2 and len(days_with_gone) == 2
    assert len(zsets_with_gone) > 2

    click = block_actions("U0GONE", "forget_me_cancel", "cancel", "forget_me",
                          response_url=stub.response_url("cancel"))
    assert app.slack(click).status == 200
    assert stub.responses("cancel")[0]["text"] == "Nothing was deleted."
    assert snapshot(r) == before

    click = block_actions("U0GONE", "forget_me_confirm", "confirm", "forget_me",
                          response_url=stub.response_url("confirm"))
    assert app.slack(click).status == 200
    [done] = stub.responses("confirm")
    assert done["replace_original"] is True
    # One removal per zset membership plus one per key.
    assert f"deleted {len(zsets_with_gone) + len(gone_keys)} stored entries" in done["text"]

    after = snapshot(r)
    assert [k for k in after if "U0GONE" in k or "gone@example.com" in k] == []
    assert [k for k, v in after.items() if "U0GONE" in json.dumps(v)] == []
    # Everyone else's data is exactly as before (the generation counter moves on).
    expected = {}
    for key, value in before.items():
        if key in gone_keys or key == store.keys.key("gen"):
            continue
        if isinstance(value, dict) and key.startswith((store.keys.key("z"),
                                                       store.keys.key("days"))):
            value = {m: s for m, s in value.items() if m != "U0GONE"}
            if not value:
                continue
        if key.startswith(store.keys.key("days")) and "n" in value:  # a day's directory
            value = {**value, "n": str(int(value["n"]) - 1)}  # type: ignore[dict-item]
        if key == store.keys.key("optout"):
            value = [m for m in value if m != "U0GONE"]  # type: ignore[union-attr]
            if not value:
                continue
        expected[key] = value
    assert {k: v for k, v in after.items() if k != store.keys.key("gen")} == expected
    assert bucket_points(app.deps, ALL) == {"U0KEEP": pytest.approx(5)}  # 5·√1


# -- display modes --------------------------------------------------------------------------------


def labels(lines: list[str]) -> list[str]:
    """The person column of board lines like '` 1.` Alma · 9.0k tokens · ↓2'."""
    return [re.match(r"`\s*\d+\.` (.*?) · ", line).group(1)  # type: ignore[union-attr]
            for line in lines]


@pytest.mark.slow
def test_display_modes(app: App) -> None:
    for uid, name in (("U0DA", "Alma"), ("U0DB", "Bruno"), ("U0DC", "Chen")):
        app.stub.add_user(uid, display_name=name)
    # Tokens A 9000 > B 5000 > C 1000; points B 5·√4 = 10 > C 5·√1 = 5 > A 0.
    seed_now(app, {"U0DA": (9000, 0), "U0DB": (5000, 4), "U0DC": (1000, 1)})

    app.deps.store.configs.save(BoardConfig(display="anonymous"))
    seen = first_reply(app, "today", "U0DB", "anon")
    left, right = board_lines(seen)
    assert ["someone · 9.0k tokens" in left[0], "*you* (Bruno) · 5.0k tokens" in left[1],
            "someone · 1.0k tokens" in left[2]] == [True] * 3
    assert ["*you* (Bruno) · 10 pts" in right[0], "someone · 5 pts" in right[1],
            "someone · 0 pts" in right[2]] == [True] * 3
    text = response_text(seen)
    assert not any(n in text for n in ("Alma", "Chen", "U0DA", "U0DC", "<@"))

    app.deps.store.configs.save(BoardConfig(display="mentions"))
    left, right = board_lines(first_reply(app, "today", "U0DB", "mention"))
    assert labels(left) == ["<@U0DA>", "<@U0DB>",
                                                                      "<@U0DC>"]
    assert labels(right) == ["<@U0DB>", "<@U0DC>",
                                                                       "<@U0DA>"]

    app.deps.store.configs.save(BoardConfig(display="names"))
    seen = first_reply(app, "today", "U0DB", "names")
    left, _ = board_lines(seen)
    assert labels(left) == ["Alma", "Bruno", "Chen"]
    assert "<@" not in response_text(seen)


@pytest.mark.slow
def test_anonymous_digest_names_nobody(app: App) -> None:
    for uid, name in (("U0DA", "Alma"), ("U0DB", "Bruno"), ("U0DC", "Chen")):
        app.stub.add_user(uid, display_name=name)
    seed_now(app, {"U0DA": (9000, 0), "U0DB": (5000, 4), "U0DC": (1000, 1)})
    app.deps.store.configs.save(BoardConfig(display="anonymous"))
    built = DigestRunner(app.deps).build(datetime.now(UTC).date())
    assert "Alma" not in json.dumps(built.blocks)  # the boards are anonymous ...
    assert not any(n in built.alt for n in ("Alma", "Bruno", "Chen"))  # ... the chart is not


@pytest.mark.slow
def test_digest_mentions_people_only_when_an_admin_chose_mentions(app: App) -> None:
    for uid, name in (("U0DA", "Alma"), ("U0DB", "Bruno")):
        app.stub.add_user(uid, display_name=name)
    seed_now(app, {"U0DA": (9000, 0), "U0DB": (5000, 4)})
    built = DigestRunner(app.deps).build(datetime.now(UTC).date(), with_chart=False)
    assert "<@" not in json.dumps(built.blocks)  # the default: plain names, no pings
    app.deps.store.configs.save(BoardConfig(display="mentions"))
    built = DigestRunner(app.deps).build(datetime.now(UTC).date(), with_chart=False)
    text = json.dumps(built.blocks)
    assert "<@U0DA>" in text and "<@U0DB>" in text and "Alma" not in text
