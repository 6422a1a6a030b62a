"""Slack requests through the real HTTP endpoint, signed as Slack signs them."""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.conftest import App
from tests.slack_signing import event_body, slash_command_body, url_verification_body
from tests.support.polling import wait_for
from tests.support.slack_app import NOW, TS, board_lines, metadata_event, response_text, seed

pytestmark = pytest.mark.slow  # starts the app's HTTP server


def test_bad_or_stale_signature_is_401(app: App) -> None:
    body = slash_command_body(text="help")
    assert app.slack(body, secret="not-the-secret").status == 401
    assert app.slack(body, timestamp=int(time.time()) - 600).status == 401
    assert app.slack(body).status == 200


def test_url_verification(app: App) -> None:
    answer = app.slack(url_verification_body("abc123"), content_type="application/json")
    assert answer.status == 200 and json.loads(answer.body)["challenge"] == "abc123"


def test_help_and_unknown_arguments_answer_in_the_ack(app: App) -> None:
    answer = app.command("help")
    assert answer.status == 200
    body = json.loads(answer.body)
    assert body["response_type"] == "ephemeral"
    assert "two rankings" in json.dumps(body["blocks"])
    odd = json.loads(app.command("fortnight <!here>").body)
    text = json.dumps(odd["blocks"])
    assert "did not understand `fortnight &lt;!here&gt;`" in text
    assert "<!here>" not in text and "two rankings" in text


def test_leaderboard_shows_both_boards_moves_and_agreement(app: App) -> None:
    # tokens and PRs per person; outcome points = 5 * sqrt(prs)
    people = {"U0A": (9000, 0), "U0B": (7000, 1), "U0C": (5000, 4), "U0D": (3000, 9),
              "U0E": (1000, 16)}  # 16 PRs: capped at 10 a day
    for uid, (_, _) in people.items():
        app.stub.add_user(uid, display_name=f"name-{uid[-1]}")
    seed(app, people)
    assert app.command("today", user_id="U0B", name="t1").status == 200
    response = wait_for(lambda: app.stub.responses("t1"))[0]
    assert response["response_type"] == "ephemeral"
    left, right = board_lines(response)
    # By usage: A..E. By outcomes: E (5·√10 ≈ 15.8), D (15), C (10), B (5), A (0).
    assert [re.search(r"name-(\w)", line).group(1) for line in left] == list("ABCDE")
    assert [re.search(r"name-(\w)", line).group(1) for line in right] == list("EDCBA")
    # A: usage #1, outcomes #5 -> ↓4; E: usage #5, outcomes #1 -> ↑4; B #2 -> #4 ↓2.
    assert left[0].endswith("↓4") and left[4].endswith("↑4") and left[1].endswith("↓2")
    assert "15.8 pts" in right[0] and "9.0k tokens" in left[0]
    # Words first, then the statistics: five people in perfectly reversed order.
    words = [b["text"]["text"] for b in response["blocks"]
             if b["type"] == "section" and "text" in b]
    assert words[0] == "Usage and outcomes disagree today across all 5 people."
    stats = [e["text"] for b in response["blocks"] if b["type"] == "context"
             for e in b["elements"]]
    assert stats[0].startswith("Spearman ρ = -1.00, Kendall τ = -1.00 over 5 people")
    text = response_text(response)
    assert text.index("Usage and outcomes disagree") < text.index("Spearman ρ")


def test_too_few_people_are_not_compared(app: App) -> None:
    seed(app, {"U0A": (9000, 0), "U0B": (7000, 1), "U0C": (5000, 4)})
    app.command("today", name="few")
    text = response_text(wait_for(lambda: app.stub.responses("few"))[0])
    assert "Too few people to compare the two boards yet (3 active)." in text
    assert "ρ" not in text


def test_callers_own_line_when_outside_the_top_ten(app: App) -> None:
    people = {f"U0P{i:02d}": (1000 * (20 - i), 0) for i in range(12)}
    seed(app, people)
    app.command("today", user_id="U0P11", name="own")
    text = response_text(wait_for(lambda: app.stub.responses("own"))[0])
    # U0P11 has the 12th most tokens; with nobody scoring points everyone ties at #1.
    assert "#12 of 12 by usage" in text and "#1 by outcomes" in text
    app.command("today", user_id="U0P00", name="top")
    assert "*You:*" not in response_text(wait_for(lambda: app.stub.responses("top"))[0])


def test_me_shows_only_the_callers_numbers(app: App) -> None:
    seed(app, {"U0ME": (2_500_000, 1), "U0OTHER": (10, 0)})
    app.stub.add_user("U0OTHER", display_name="Other Person")
    app.command("me today", user_id="U0ME", name="me")
    text = response_text(wait_for(lambda: app.stub.responses("me"))[0])
    assert "#1 of 2 by usage (2.5M tokens)" in text and "#1 by outcomes (5 pts)" in text
    assert "Other Person" not in text and "U0OTHER" not in text


def test_me_and_app_home_show_where_the_tokens_went(app: App) -> None:
    """Claude Code's 1,000 tokens over /ingest, Cursor's 500 from its Admin API's daily
    row: both, with their shares of the person's tokens, on /leaderboard me and App Home."""
    from bot.connectors.runner import PullResult, record_rows
    from bot.sources import cursor

    answer = app.ingest([{"id": "cc-1", "type": "usage", "user": "U0TOOLS", "ts": TS,
                          "tool": "claude_code", "tokens": 1000, "cost_usd": 0.5,
                          "model": "claude-opus-4-5-20251101"}]).json()
    assert answer["accepted"] == 1, answer
    app.deps.identities.link("U0TOOLS", "email:tools@example.com")
    record_rows(app.deps.store, app.deps.identities, "cursor", [cursor.event_row({
        "userEmail": "tools@example.com", "timestamp": int(NOW.timestamp() * 1000),
        "model": "gpt-5", "tokenUsage": {"inputTokens": 500, "totalCents": 10}})],
        PullResult("cursor"))
    app.command("me today", user_id="U0TOOLS", name="tools")
    text = response_text(wait_for(lambda: app.stub.responses("tools"))[0])
    assert "Where your tokens went today" in text
    assert "• Claude Code: 1,000 tokens (67%) · $0.50" in text
    assert "• Cursor: 500 tokens (33%) · $0.10" in text
    assert "`opus-4-5` 1,000 tokens (67%), `gpt-5` 500 tokens (33%)" in text

    event = {"type": "app_home_opened", "user": "U0TOOLS", "channel": "D0T", "tab": "home",
             "event_ts": "1732440000.000301"}
    assert app.slack(event_body(event, event_id="EvTools"),
                     content_type="application/json").status == 200
    call = wait_for(lambda: app.stub.calls("views.publish"))[0]
    view = call.args["view"] if isinstance(call.args["view"], dict) \
        else json.loads(call.args["view"])
    home = json.dumps(view, ensure_ascii=False)
    assert "Where your tokens went this week" in home
    assert "• Claude Code: 1,000 tokens (67%)" in home and "• Cursor: 500 tokens (33%)" in home


def test_names_are_cached_and_escaped(app: App) -> None:
    app.stub.add_user("U0EVIL", display_name="<!channel> & <@U0BOSS>")
    seed(app, {"U0EVIL": (100, 0)})
    app.command("today", name="n1")
    response = wait_for(lambda: app.stub.responses("n1"))[0]
    # The chart's alt text is a plain string Slack never parses (no mentions there): it
    # carries the name as typed; every mrkdwn field has it escaped.
    [image] = [b for b in response["blocks"] if b["type"] == "image"]
    assert "<!channel> & <@U0BOSS>" in image.pop("alt_text")
    text = response_text(response)
    assert "&lt;!channel&gt; &amp; &lt;@U0BOSS&gt;" in text
    assert "<!" not in text and "<@" not in text
    app.command("today", name="n2")
    wait_for(lambda: app.stub.responses("n2"))
    assert [c.args["user"] for c in app.stub.calls("users.info")].count("U0EVIL") == 1


def test_empty_period(app: App) -> None:
    app.command("yesterday", name="empty")
    text = response_text(wait_for(lambda: app.stub.responses("empty"))[0])
    assert "No usage or outcomes have been reported yesterday" in text


def test_metadata_events_are_counted_once_across_retries(app: App) -> None:
    payload = {"id": "meta-1", "user": "U0ANA", "ts": TS, "tool": "meshclaw", "tokens": 4321}
    body = event_body(metadata_event(payload), event_id="Ev1")
    assert app.slack(body, content_type="application/json").status == 200
    retried = app.slack(body, content_type="application/json",
                        extra_headers={"X-Slack-Retry-Num": "1",
                                       "X-Slack-Retry-Reason": "http_timeout"})
    assert retried.status == 200
    outcome = {"id": "meta-2", "user": "U0ANA", "ts": TS, "kind": "deploy", "count": 4}
    app.slack(event_body(metadata_event(outcome, "outcome_reported"), event_id="Ev2"),
              content_type="application/json")
    [person] = app.deps.store.reads.period_totals(
        app.deps.leaderboards.period_board("today").bucket)
    assert person.tokens == 4321 and person.points == 3 * 2  # deploy: 3 * sqrt(4)


def test_metadata_event_while_redis_is_down_is_not_acked(outage) -> None:
    running = outage.app
    payload = {"id": "meta-x", "user": "U0ANA", "ts": TS, "tool": "t", "tokens": 5}
    body = event_body(metadata_event(payload), event_id="Ev9")
    outage.redis.stop()
    assert running.slack(body, content_type="application/json").status == 500
    outage.redis.start()
    retry = running.slack(body, content_type="application/json",
                          extra_headers={"X-Slack-Retry-Num": "1"})
    assert retry.status == 200
    running.slack(body, content_type="application/json",
                  extra_headers={"X-Slack-Retry-Num": "2"})
    deps = running.deps
    [person] = deps.store.reads.period_totals(deps.leaderboards.period_board("today").bucket)
    assert person.tokens == 5


def test_leaderboard_while_redis_is_down_says_so(outage) -> None:
    outage.redis.stop()
    outage.app.command("week", name="down")
    reply = wait_for(lambda: outage.app.stub.responses("down"))[0]
    assert "cannot reach its database" in reply["text"]


def test_app_home_shows_the_viewers_numbers(app: App) -> None:
    seed(app, {"U0HOME": (1_000_000, 4), "U0X": (2_000_000, 0)})
    event = {"type": "app_home_opened", "user": "U0HOME", "channel": "D0HOME", "tab": "home",
             "event_ts": "1732440000.000300"}
    assert app.slack(event_body(event, event_id="EvH"), content_type="application/json") \
        .status == 200
    call = wait_for(lambda: app.stub.calls("views.publish"))[0]
    assert call.args["user_id"] == "U0HOME"
    view = call.args["view"] if isinstance(call.args["view"], dict) \
        else json.loads(call.args["view"])
    text = json.dumps(view, ensure_ascii=False)
    assert view["type"] == "home"
    # 1M tokens is #2 by usage; 10 points (5*sqrt(4)) is #1 by outcomes: ↑1.
    assert text.count("#2 of 2 by usage (1.0M tokens), #1 by outcomes (10 pts), ↑1") == 3
