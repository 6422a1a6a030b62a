"""Names are plain text on every surface: Slack mrkdwn, the terminal, the chart, the digest."""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import pytest

from bot.boards.leaderboard import PeriodBoard
from bot.core.config import BoardConfig
from bot.core.periods import day_bucket
from bot.core.plaintext import plain_text
from bot.core.ranking import PersonTotals, rank_board
from bot.render.blocks import escape, escape_short, leaderboard_blocks
from jobs.digest import DigestRunner
from tests.conftest import BOT_TOKEN
from tests.rendered import live_mentions, shown
from tests.slack_stub import SlackStub
from tests.test_cli import run
from tests.test_digest import DAY, PNG_SIGNATURE, local, make_deps, posts, seed

RLO, ESC = "\u202e", "\x1b"
HOSTILE = {
    "U0MATH": "$x^$",
    "U0BIDI": f"evil{RLO}gnp.exe",
    "U0ESC": f"{ESC}[2J{ESC}]0;pwned\x07Eve",
    "U0STAR": "*bold",
    "U0UNDER": "_it",
    "U0CLOSE": "it_ bold*",
    "U0TICK": "`code",
    "U0HERE": "@here Hank",
    "U0CMD": "<!here> & <@U0BOSS>",
    "U0NL": "two\nlines\u2028sep",
}
FORMAT = re.compile(r"[*_~`]")
BAD_CHARS = {"Cc", "Cf", "Cs", "Zl", "Zp"}


def bad_chars(text: str) -> list[str]:
    return [c for c in text if unicodedata.category(c) in BAD_CHARS and c not in "\n\u200c\u200d"]


@pytest.mark.parametrize("raw, plain", [
    (f"a{RLO}b\u2066c\u2069\u200ed\u200fe\u061c", "abcde"),
    (f"{ESC}[31mred{ESC}[0m\x00\x7f\x9b", "[31mred[0m"),
    ("  many \t spaces\r\nand\u2029lines  ", "many spaces and lines"),
    ("👩\u200d💻 keeps its joiner", "👩\u200d💻 keeps its joiner"),
    ("x\ud800y", "xy"),
])
def test_plain_text(raw: str, plain: str) -> None:
    assert plain_text(raw) == plain
    assert plain_text("abcdefghij", limit=5) == "abcd…"


def test_mrkdwn_escape_shows_the_name_and_formats_nothing() -> None:
    for name in HOSTILE.values():
        for escaped in (escape(name), escape_short(name, budget=10_000)):
            assert shown(escaped) == plain_text(name)
            outside = re.sub(r"<!date\^0\^\{_\}\|[*_~`@]>", "", escaped)
            assert not FORMAT.search(outside), escaped
            assert "<" not in outside and ">" not in outside
            assert live_mentions(escaped) == [] and bad_chars(escaped) == []


def board_of(names: dict[str, str]) -> tuple[PeriodBoard, dict[str, str]]:
    people = [PersonTotals(user=u, raw=1000.0 * (i + 1), points=float(i % 3),
                           tokens=1000.0 * (i + 1)) for i, u in enumerate(names)]
    config = BoardConfig(board_size=25)
    board = rank_board(people, top_n=config.board_size)
    return PeriodBoard(period="day", bucket=day_bucket(DAY), title="Tue", label="on Tue",
                       config=config, board=board), names


def mrkdwn_objects(blocks: object) -> list[dict]:
    found = []
    if isinstance(blocks, dict):
        if blocks.get("type") == "mrkdwn":
            found.append(blocks)
        for value in blocks.values():
            found += mrkdwn_objects(value)
    elif isinstance(blocks, list):
        for value in blocks:
            found += mrkdwn_objects(value)
    return found


def test_leaderboard_blocks_render_names_as_plain_text() -> None:
    pb, names = board_of(HOSTILE)
    blocks = leaderboard_blocks(pb, "U0VIEWER", names)
    objects = mrkdwn_objects(blocks)
    assert objects and all(o.get("verbatim") is True for o in objects)
    text = "\n".join(o["text"] for o in objects)
    assert live_mentions(text) == [] and bad_chars(text) == []
    seen = shown(text)
    for name in HOSTILE.values():
        assert plain_text(name) in seen
    # Outside our own markup (rank code spans, the bold column titles) no formatting
    # character remains: a name's `*` or `_` cannot pair with anything.
    rows = [line for o in objects for line in o["text"].splitlines()[1:]]
    for line in rows:
        label = re.sub(r"^`\s*\d+\.` ", "", line)
        assert not FORMAT.search(re.sub(r"<!date\^0\^\{_\}\|[*_~`@]>", "", label)), line


def test_a_mathtext_name_does_not_stop_the_digest(settings, redis_client, stub: SlackStub
                                                  ) -> None:
    deps = make_deps(settings, redis_client)
    for uid, name in HOSTILE.items():
        stub.add_user(uid, display_name=name)
    seed(deps, local(DAY, 12), {uid: (100_000 * (i + 1), {"review": i % 3} if i % 3 else {})
                                for i, uid in enumerate(HOSTILE)})
    outcome = DigestRunner(deps).run(DAY)
    assert outcome.status == "posted", outcome
    [post] = posts(stub)
    objects = mrkdwn_objects(post["blocks"])
    text = "\n".join(o["text"] for o in objects)
    assert all(o.get("verbatim") for o in objects)
    assert live_mentions(text) == [] and bad_chars(text) == []
    assert "$x^$" in shown(text)
    [png] = stub.uploads().values()
    assert png.startswith(PNG_SIGNATURE)
    [upload] = stub.calls("files.completeUploadExternal")
    alt = json.dumps(upload.args, ensure_ascii=False)
    assert RLO not in alt and ESC not in alt


def test_a_chart_that_cannot_be_drawn_leaves_the_digest_posted_and_tells_admins(
        settings, redis_client, stub: SlackStub, monkeypatch: pytest.MonkeyPatch) -> None:
    deps = make_deps(settings, redis_client)
    seed(deps, local(DAY, 12), {"U0ANA": (500_000, {}), "U0BEN": (100_000, {"review": 1})})

    def broken(*args: object, **kwargs: object) -> bytes:
        raise RuntimeError("renderer <exploded> *badly*")

    monkeypatch.setattr("jobs.digest.slope_chart", broken)
    outcome = DigestRunner(deps).run(DAY)
    assert outcome.status == "posted", outcome
    assert len(posts(stub)) == 1 and stub.uploads() == {}
    error = deps.store.digests.error()
    assert error and "without its chart" in error and "RuntimeError" in error
    assert live_mentions(error) == [] and "<exploded>" not in error
    assert "renderer <exploded> *badly*" in shown(error)
    assert deps.store.digests.posted(settings_channel(deps), DAY) == outcome.ts


def settings_channel(deps) -> str:
    return deps.settings.digest_channel


def test_terminal_leaderboard_and_dry_run_digest_show_plain_names(
        tmp_path: Path, settings, redis_client, redis_url: str, stub: SlackStub) -> None:
    deps = make_deps(settings, redis_client)
    for uid, name in HOSTILE.items():
        stub.add_user(uid, display_name=name)
    seed(deps, local(DAY, 12), {uid: (100_000 * (i + 1), {"review": i % 3} if i % 3 else {})
                                for i, uid in enumerate(HOSTILE)})
    env = {"REDIS_URL": redis_url, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_API_URL": stub.url,
           "TOKENBOARD_TIMEZONE": "Europe/Berlin"}
    table = run(["leaderboard", "--period", "all"], env, tmp_path)
    assert table.returncode == 0, table.stderr
    assert bad_chars(table.stdout) == [], [hex(ord(c)) for c in bad_chars(table.stdout)]
    assert "$x^$" in table.stdout and "evilgnp.exe" in table.stdout
    as_json = run(["leaderboard", "--period", "all", "--json"], env, tmp_path)
    names = {r["user"]: r["name"] for r in json.loads(as_json.stdout)["raw"]}
    assert names == {uid: plain_text(name) for uid, name in HOSTILE.items()}
    dry = run(["digest", "--date", DAY.isoformat(), "--dry-run", "--out", str(tmp_path)], env,
              tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert (tmp_path / f"digest-{DAY.isoformat()}.png").read_bytes().startswith(PNG_SIGNATURE)
    assert bad_chars(dry.stdout.replace("\n", " ")) == []


def test_unknown_user_ids_are_asked_about_once_in_ten_minutes(
        deps, stub: SlackStub) -> None:
    for i in range(12):
        stub.add_user(f"U0KNOWN{i:02d}", display_name=f"Known {i}")
    ids = [f"U0KNOWN{i:02d}" for i in range(12)] + ["U0NEVERSEEN"]
    def asked() -> int:  # a lazy listener of an earlier test may still be asking for others
        return len([c for c in stub.calls("users.info") if c.args.get("user") in ids])

    names = deps.directory.names(ids)
    assert names == {**{f"U0KNOWN{i:02d}": f"Known {i}" for i in range(12)},
                     "U0NEVERSEEN": "U0NEVERSEEN"}
    assert asked() == 13
    assert deps.directory.names(ids) == names  # all cached, the unknown id too
    assert asked() == 13
    ttl = deps.store.r.ttl(deps.store.keys.key("user", "U0NEVERSEEN"))
    assert 0 < ttl <= 600  # asked about again after ten minutes, not a day
