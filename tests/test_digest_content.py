"""The daily digest's content: the hand-ranked org's boards, moves, agreement and
efficiency, a day without reports, the day's usage by tool, too few people to compare, and
blocks within Slack's limits with long escaped names.

Real Redis and the Slack stub only. Every expected ranking, move, ρ and efficiency below
is worked out by hand from the small fixture org (tests/support/digest_org.py), not read
back from the code.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

from bot.core.config import BoardConfig
from jobs.digest import DigestRunner
from tests.support.digest_org import (
    DAY_ORG,
    DAY_POINTS,
    EVIL_ESC,
    MENTION_ESC,
    PREV_ORG,
    add_names,
    local,
    make_deps,
    seed,
    seed_org,
)
from tests.support.digest_posts import (
    PNG_SIGNATURE,
    board_fields,
    header,
    parse_board,
    posts,
    section_texts,
)
from tests.support.digests import CHANNEL, DAY


def spearman_from_ranks(pairs: list[tuple[int, int]]) -> float:
    """ρ = 1 - 6 Σd² / (n(n² - 1)), valid without ties."""
    n = len(pairs)
    return 1 - 6 * sum((a - b) ** 2 for a, b in pairs) / (n * (n * n - 1))


# -- content -------------------------------------------------------------------------------


def test_digest_content_from_a_hand_ranked_org(settings, redis_client, stub) -> None:
    deps = make_deps(settings, redis_client)
    add_names(stub)
    seed_org(deps)
    deps.store.configs.save(BoardConfig(board_size=5))

    outcome = DigestRunner(deps).run(DAY)
    assert outcome.status == "posted", outcome
    [post] = posts(stub)
    assert post["channel"] == CHANNEL
    assert "Tue 24 Nov 2026" in header(post)
    assert post["metadata"]["event_payload"]["date"] == "2026-11-24"

    # Raw ranks: Ana 1, Ben 2, Cai 3, Dev 4, Eve 5, Fox 6.
    # Outcome ranks: Eve 1 (15), Dev 2 (10), Cai 3 (5), Fox 4 (3), Ben 5 (2), Ana 6 (0).
    # Moves (raw - outcome): Ana -5, Ben -3, Cai 0, Dev +2, Eve +4, Fox +2.
    left, right = board_fields(post)
    assert "usage" in left[0].lower() and "outcome" in right[0].lower()
    assert parse_board(left) == [
        (1, "Ana", "900k tokens", "↓5"),
        (2, MENTION_ESC, "700k tokens", "↓3"),
        (3, "Cai", "500k tokens", "="),
        (4, "Dev", "300k tokens", "↑2"),
        (5, EVIL_ESC, "150k tokens", "↑4"),
    ]
    assert parse_board(right) == [
        (1, EVIL_ESC, "15 pts", "↑4"),
        (2, "Dev", "10 pts", "↑2"),
        (3, "Cai", "5 pts", "="),
        (4, "Fox", "3 pts", "↑2"),
        (5, MENTION_ESC, "2 pts", "↓3"),
    ]

    texts = section_texts(post)
    # Biggest moves, both directions, biggest first.
    [moves] = [t for t in texts if "Climb" in t]
    climb_line, fall_line = moves.splitlines()
    assert "Climb" in climb_line and "Fall" in fall_line
    entry = re.compile(r"(.+?) #(\d+) → #(\d+) \([^)]*\)(?:, |$)")
    climbs = [(n, int(a), int(b)) for n, a, b in entry.findall(climb_line.split(":* ", 1)[1])]
    falls = [(n, int(a), int(b)) for n, a, b in entry.findall(fall_line.split(":* ", 1)[1])]
    assert climbs[0] == (EVIL_ESC, 5, 1)
    assert sorted(climbs[1:]) == [("Dev", 4, 2), ("Fox", 6, 4)]
    assert falls == [("Ana", 1, 6), (MENTION_ESC, 2, 5)]

    # ρ: the day (6 people) and the week (9 people). The day before had 3 active people,
    # too few to compare (its ρ would be a meaningless -1): no figure for it.
    rho_day = spearman_from_ranks([(1, 6), (2, 5), (3, 3), (4, 2), (5, 1), (6, 4)])
    assert round(rho_day, 2) == -0.66
    # Week: tokens Ana..Ivy ranks 1..9; points Eve 15, Dev 10, Cai 5, Fox 3, Ben 2,
    # Ivy ln4, Hal ln3, Gil ln2, Ana 0.
    rho_week = spearman_from_ranks([(1, 9), (2, 5), (3, 3), (4, 2), (5, 1), (6, 4),
                                    (7, 8), (8, 7), (9, 6)])
    assert round(rho_week, 2) == 0.10
    [rho] = [t for t in texts if "ρ" in t]
    assert "disagreed" in rho and f"ρ = {rho_day:.2f}" in rho and "6 people" in rho
    assert "day before" not in rho and "-1.00" not in rho and "change" not in rho
    assert "Week to date: ρ = 0.10" in rho
    assert "Tue 24 Nov" in rho

    # Efficiency leaders: only people with >= 100k tokens (Fox's 50k is too little),
    # shrunk toward the org rate: (points + 100k * org) / (tokens + 100k) per 1M tokens.
    org = sum(DAY_POINTS.values()) / sum(t for t, _ in DAY_ORG.values())

    def eff(user: str) -> float:
        return (DAY_POINTS[user] + 100_000 * org) / (DAY_ORG[user][0] + 100_000) * 1e6

    [extra] = [t for t in texts if "efficient" in t]
    eff_line, flag_line = extra.splitlines()
    assert eff_line.endswith(f"{EVIL_ESC} {eff('U0EVE'):.1f}, Dev {eff('U0DEV'):.1f}, "
                             f"Cai {eff('U0CAI'):.1f}")
    assert "Fox" not in eff_line
    # Flag: tokens at/above the nearest-rank 90th percentile of 6 (the 6th value, 900k)
    # and no points: only Ana. Counted, not named.
    assert re.search(r"\b1 person\b", flag_line)
    assert "Ana" not in flag_line and "U0ANA" not in flag_line
    assert "⚑" not in json.dumps(post["blocks"], ensure_ascii=False)

    # Mentions and broadcasts: none anywhere, even with hostile display names.
    everything = json.dumps(post["blocks"], ensure_ascii=False) + post["text"]
    assert "<@" not in everything and "<!" not in everything
    assert EVIL_ESC in everything and MENTION_ESC in everything

    # Slack's limits.
    assert len(post["blocks"]) <= 50
    for block in post["blocks"]:
        if block["type"] == "section":
            assert len(block.get("text", {}).get("text", "")) <= 3000
            assert all(len(f["text"]) <= 2000 for f in block.get("fields", []))
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150

    # The chart: a real PNG of sensible size, in the digest's thread, with alt text.
    [png] = stub.uploads().values()
    assert png.startswith(PNG_SIGNATURE) and png[12:16] == b"IHDR"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert 400 <= width <= 2000 and 200 <= height <= 2000
    [complete] = stub.calls("files.completeUploadExternal")
    assert complete.args["channel_id"] == CHANNEL
    assert complete.args["thread_ts"] == outcome.ts
    [url_call] = stub.calls("files.getUploadURLExternal")
    assert url_call.args.get("alt_txt")


def test_a_day_without_reports_posts_a_short_no_activity_line(settings, redis_client,
                                                              stub) -> None:
    deps = make_deps(settings, redis_client)
    seed(deps, local(DAY - timedelta(days=1), 12), PREV_ORG)  # activity on another day only
    assert DigestRunner(deps).run(DAY).status == "posted"
    [post] = posts(stub)
    assert "Tue 24 Nov 2026" in header(post)
    assert not any(b.get("fields") for b in post["blocks"])
    [line] = section_texts(post)
    assert "no " in line.lower() and "reported" in line.lower() and len(line) < 200
    assert "Gil" not in json.dumps(post["blocks"]) and "ρ" not in line
    assert stub.uploads() == {} and stub.calls("files.getUploadURLExternal") == []


def test_the_digest_splits_the_days_usage_by_tool(settings, redis_client, stub) -> None:
    deps = make_deps(settings, redis_client)
    seed(deps, local(DAY, 9), {"U0ANA": (400_000, {}), "U0BEN": (220_000, {})},
         tool="claude_code")
    seed(deps, local(DAY, 10), {"U0ANA": (250_000, {})}, tool="Cursor")
    seed(deps, local(DAY, 11), {"U0CAI": (130_000, {"pr_merged": 1})}, tool="copilot")
    seed(deps, local(DAY - timedelta(days=1), 12), {"U0DEV": (900_000, {})}, tool="codex")
    assert DigestRunner(deps).run(DAY).status == "posted"
    [post] = posts(stub)
    [line] = [t for t in section_texts(post) if "Usage by tool" in t]
    # 620k of 1M tokens by Claude Code, 250k by Cursor, 130k by Copilot; Codex was the
    # day before
    assert line == "*Usage by tool:* Claude Code 62%, Cursor 25%, Copilot 13%"
    assert sum(int(p) for p in re.findall(r"(\d+)%", line)) == 100


# Five people on one day: tokens A > B > C > D > E; points C 15 (9 PRs), E 10 (4 PRs),
# A 5 (1 PR), D 2 (a review), B 0.
FIVE = {"U0ANA": (900_000, {"pr_merged": 1}), "U0BEN": (700_000, {}),
        "U0CAI": (500_000, {"pr_merged": 9}), "U0DEV": (300_000, {"review": 1}),
        "U0EVE": (150_000, {"pr_merged": 4})}


def everything_posted(post: dict) -> str:
    return json.dumps(post["blocks"], ensure_ascii=False) + post["text"]


def test_three_active_people_are_too_few_to_compare(settings, redis_client, stub) -> None:
    """3 people: said in words, as /leaderboard does, and no ρ or τ anywhere, not even the
    day before's (5 people) or the week's (8 people)."""
    deps = make_deps(settings, redis_client)
    add_names(stub)
    # tokens 9000 > 5000 > 1000, points 0 < 5 < 10: a "ρ = -1" that would mean nothing
    seed(deps, local(DAY, 12), {"U0ANA": (9000, {}), "U0BEN": (5000, {"pr_merged": 1}),
                                "U0CAI": (1000, {"pr_merged": 4})})
    seed(deps, local(DAY - timedelta(days=1), 12), FIVE, prefix="prev-")
    assert DigestRunner(deps).run(DAY).status == "posted"
    [post] = posts(stub)
    assert "Too few people to compare the two boards yet (3 active)." in section_texts(post)
    everything = everything_posted(post)
    assert "ρ" not in everything and "τ" not in everything and "-1.00" not in everything
    assert "day before" not in everything.lower() and "week to date" not in everything.lower()
    assert post["text"].endswith("Too few people to compare the two boards yet (3 active).")
    # Nothing was quoted, so the next day's digest has no "day before" figure to repeat.
    seed(deps, local(DAY + timedelta(days=1), 12), FIVE, prefix="next-")
    data = DigestRunner(deps).build(DAY + timedelta(days=1), with_chart=False).data
    assert data.previous_rho is None


def test_five_active_people_are_compared(settings, redis_client, stub) -> None:
    """5 people (the smallest number compared): ρ quoted; the day before had 3, so its ρ is
    not; the week to date has 8, so its ρ is."""
    deps = make_deps(settings, redis_client)
    add_names(stub)
    seed(deps, local(DAY, 12), FIVE)
    seed(deps, local(DAY - timedelta(days=1), 12), PREV_ORG)
    assert DigestRunner(deps).run(DAY).status == "posted"
    [post] = posts(stub)
    # usage A1 B2 C3 D4 E5; outcomes C1 E2 A3 D4 B5
    rho_day = spearman_from_ranks([(1, 3), (2, 5), (3, 1), (4, 4), (5, 2)])
    assert round(rho_day, 2) == -0.30
    # week: tokens A..E then Gil, Hal, Ivy (1..8); points C 15, E 10, A 5, D 2,
    # Ivy ln 4, Hal ln 3, Gil ln 2, B 0
    rho_week = spearman_from_ranks([(1, 3), (2, 8), (3, 1), (4, 4), (5, 2), (6, 7), (7, 6),
                                    (8, 5)])
    assert round(rho_week, 2) == 0.24
    [rho] = [t for t in section_texts(post) if "ρ" in t]
    assert rho.startswith("Raw usage and outcomes disagreed weakly on Tue 24 Nov: "
                          f"ρ = {rho_day:.2f} over 5 people.")
    assert f"Week to date: ρ = {rho_week:.2f}." in rho
    assert "day before" not in rho.lower() and "Too few" not in everything_posted(post)


def test_blocks_stay_within_limits_with_long_escaped_names(settings, redis_client,
                                                           stub) -> None:
    deps = make_deps(settings, redis_client)
    people = {}
    for i in range(30):
        uid = f"U0LONG{i:02d}"
        stub.add_user(uid, display_name="&<" * 20 + str(i))
        people[uid] = (1_000_000 + 1000 * i, {"pr_merged": 1 + i % 9})
    seed(deps, local(DAY, 12), people)
    deps.store.configs.save(BoardConfig(board_size=25))
    outcome = DigestRunner(deps).run(DAY)
    assert outcome.status == "posted", outcome
