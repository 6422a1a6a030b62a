"""The daily digest across runs: `tokenboard digest` as a subprocess, the next digest
reusing the ρ published the day before, and everyone it shows named.

Real Redis and the Slack stub only. Every expected ranking, move, ρ and efficiency below
is worked out by hand from the small fixture org (tests/support/digest_org.py), not read
back from the code.
"""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

import pytest

from bot.core.config import BoardConfig
from jobs.digest import DigestRunner
from tests.support.digest_org import (
    DAY_ORG,
    EVIL_ESC,
    MENTION_ESC,
    add_names,
    cli,
    finish,
    local,
    make_deps,
    seed,
)
from tests.support.digest_posts import (
    PNG_SIGNATURE,
    board_fields,
    header,
    parse_board,
    posted_dates,
    posts,
    section_texts,
)
from tests.support.digests import CHANNEL, DAY


@pytest.mark.slow
def test_digest_command(settings, redis_client, redis_url, stub, tmp_path) -> None:
    deps = make_deps(settings, redis_client)
    add_names(stub)
    day = date(2026, 11, 23)
    seed(deps, local(day, 12), DAY_ORG)
    env = {"REDIS_URL": redis_url, "SLACK_API_URL": stub.url, "SLACK_BOT_TOKEN": "xoxb-test",
           "DIGEST_CHANNEL": CHANNEL, "TOKENBOARD_TIMEZONE": "Europe/Berlin"}
    out = tmp_path / "out"

    # A dry run and a real run side by side: only the real one posts.
    dry = cli(["--dry-run", "--date", "2026-11-23", "--out", str(out)], env, tmp_path)
    real = cli(["--date", "2026-11-23"], env, tmp_path)
    code, stdout, stderr = finish(dry)
    assert code == 0, stderr
    printed = json.loads(stdout)
    assert "Mon 23 Nov 2026" in header(printed)
    left, right = board_fields(printed)
    assert [name for _, name, _, _ in parse_board(left)] == [
        "Ana", MENTION_ESC, "Cai", "Dev", EVIL_ESC, "Fox"]
    assert [name for _, name, _, _ in parse_board(right)] == [
        EVIL_ESC, "Dev", "Cai", "Fox", MENTION_ESC, "Ana"]
    [png] = list(out.glob("*.png"))
    assert png.read_bytes().startswith(PNG_SIGNATURE)
    code, stdout, stderr = finish(real)
    assert code == 0, stderr
    assert posted_dates(stub) == ["2026-11-23"]
    assert len(stub.uploads()) == 1  # the real run's chart; the dry run uploaded nothing
    first_ts = deps.store.digests.posted(CHANNEL, day)
    assert first_ts

    # Run again (says so, posts nothing) and with --force (posts again), side by side:
    # the day is already marked posted, so the plain run cannot race the forced one.
    again = cli(["--date", "2026-11-23"], env, tmp_path)
    forced = cli(["--date", "2026-11-23", "--force"], env, tmp_path)
    code, stdout, stderr = finish(again)
    assert code == 0, stderr
    assert "already posted" in stdout
    code, stdout, stderr = finish(forced)
    assert code == 0, stderr
    assert posted_dates(stub) == ["2026-11-23", "2026-11-23"]
    assert deps.store.digests.posted(CHANNEL, day) != first_ts


def test_the_next_digest_reuses_the_published_rho_of_the_day_before(
        settings, redis_client, stub) -> None:
    deps = make_deps(settings, redis_client)
    before = DAY - timedelta(days=1)
    # The day before, 5 people: tokens 9000 > 7000 > 5000 > 3000 > 1000 but points
    # 0 < 2 < 3 < 5 < 10 (review 2·√1, deploy 3·√1, 5·√1, 5·√4): perfectly reversed, ρ = -1.
    seed(deps, local(before, 10), {"U0A": (9000, {}), "U0B": (7000, {"review": 1}),
                                   "U0C": (5000, {"deploy": 1}),
                                   "U0D": (3000, {"pr_merged": 1}),
                                   "U0E": (1000, {"pr_merged": 4})})
    assert DigestRunner(deps).run(before).status == "posted"
    # A late report for that day (U0F: 20000 tokens, 9 PRs = 15 points) would change ρ
    # if it were recomputed (to -1/7, below).
    seed(deps, local(before, 23), {"U0F": (20000, {"pr_merged": 9})})
    seed(deps, local(DAY, 10), {"U0A": (10, {}), "U0B": (20, {"review": 1})})
    data = DigestRunner(deps).build(DAY, with_chart=False).data
    # what the channel was told, not a recomputation
    assert data.previous_rho is not None and abs(data.previous_rho - (-1.0)) < 1e-9
    # Under other scoring rules the published figure no longer applies: recomputed.
    deps.store.configs.save(BoardConfig(board_size=7))
    recomputed = DigestRunner(deps).build(DAY, with_chart=False).data.previous_rho
    # raw ranks F1 A2 B3 C4 D5 E6 vs points F1 E2 D3 C4 B5 A6: d = 0,4,2,0,2,4 →
    # Σd² = 40 → ρ = 1 − 6·40/(6·35) = −1/7
    assert recomputed is not None and abs(recomputed - (-1 / 7)) < 1e-9


def test_every_person_the_digest_shows_is_named(settings, redis_client, stub) -> None:
    """An efficiency leader outside both top lists is named like everyone else."""
    deps = make_deps(settings, redis_client)
    # Five heavy users hold both top-5 lists (15 points each for 6-10M tokens); Xan, with
    # 2 points for 200k tokens, is 6th on both boards but by far the most efficient.
    big = {f"U0BIG{i}": (10_000_000 - 1_000_000 * i, {"pr_merged": 9}) for i in range(5)}
    people = {**big, "U0XAN": (200_000, {"review": 1})}
    for uid in people:
        stub.add_user(uid, display_name=f"Name of {uid[2:].lower()}")
    seed(deps, local(DAY, 12), people)
    deps.store.configs.save(BoardConfig(board_size=5))
    assert DigestRunner(deps).run(DAY).status == "posted"
    [post] = posts(stub)
    [extra] = [t for t in section_texts(post) if "efficient" in t]
    eff_line = extra.splitlines()[0]
    # org rate: 77 points over 40.2M tokens; Xan (2 + 0.1M·org) / 0.3M, a big one at most
    # (15 + 0.1M·org) / 6.1M: Xan leads.
    org = (5 * 15 + 2) / (sum(t for t, _ in big.values()) + 200_000)
    xan = (2 + 100_000 * org) / (200_000 + 100_000) * 1e6
    assert eff_line.split("tokens): ", 1)[1].startswith(f"Name of xan {xan:.1f}")
    everything = json.dumps(post["blocks"], ensure_ascii=False)
    assert not re.search(r"\bU0[A-Z0-9]+", everything)
