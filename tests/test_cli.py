"""The `tokenboard` console command, run as a real subprocess."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.config import BoardConfig
from bot.demo.run import run_demo
from bot.sources.reports import OutcomeReport, UsageReport, as_counts
from bot.store.store import Store
from tests.support.cli_runs import run


@pytest.mark.slow
def test_missing_required_variable_is_one_line(tmp_path: Path) -> None:
    done = run(["serve"], {}, tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == "tokenboard: SLACK_BOT_TOKEN is not set (see .env.example)"
    done = run(["serve"], {"SLACK_BOT_TOKEN": "xoxb-1"}, tmp_path)
    assert done.stderr.strip() == "tokenboard: SLACK_SIGNING_SECRET is not set (see .env.example)"
    done = run(["leaderboard"], {"TOKENBOARD_TIMEZONE": "Mars/Olympus"}, tmp_path)
    assert done.returncode == 2 and "Mars/Olympus" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_dotenv_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SLACK_BOT_TOKEN=xoxb-from-dotenv\n")
    done = run(["serve"], {}, tmp_path)
    assert "SLACK_SIGNING_SECRET is not set" in done.stderr


@pytest.mark.slow
def test_leaderboard_json(tmp_path: Path, redis_client, redis_url: str) -> None:
    store = Store(redis_client)
    ts = datetime.now(UTC) - timedelta(minutes=1)
    reports = [
        (UsageReport(id="1", type="usage", user="U0A", ts=ts, tool="t", tokens=300), "U0A"),
        (UsageReport(id="2", type="usage", user="U0B", ts=ts, tool="t", tokens=200), "U0B"),
        (UsageReport(id="3", type="usage", user="U0C", ts=ts, tool="t", tokens=100), "U0C"),
        (OutcomeReport(id="4", type="outcome", user="U0C", ts=ts, kind="deploy"), "U0C"),
        (OutcomeReport(id="5", type="outcome", user="U0B", ts=ts, kind="review"), "U0B"),
    ]
    store.counting.record([(as_counts(r), who) for r, who in reports], BoardConfig())
    done = run(["leaderboard", "--period", "all", "--json"], {"REDIS_URL": redis_url}, tmp_path)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert [(r["user"], r["score"], r["rank"]) for r in data["raw"]] == [
        ("U0A", 300, 1), ("U0B", 200, 2), ("U0C", 100, 3)]
    # deploy = 3 points, review = 2 points
    assert [(r["user"], r["score"], r["rank"]) for r in data["outcome"]] == [
        ("U0C", 3, 1), ("U0B", 2, 2), ("U0A", 0, 3)]
    # Ranks (1,2,3) vs (3,2,1): perfectly reversed.
    assert data["agreement"]["spearman"] == -1.0 and data["agreement"]["kendall"] == -1.0
    table = run(["leaderboard", "--period", "all"], {"REDIS_URL": redis_url}, tmp_path)
    assert "BY USAGE (tokens)" in table.stdout and "BY OUTCOMES (points)" in table.stdout


class Lines:
    """A stream that keeps what is written to it."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, text: str) -> None:
        self.lines.append(text)

    def flush(self) -> None:
        pass


@pytest.mark.slow
def test_demo(tmp_path: Path) -> None:
    out = Lines()
    lines = out.lines
    summary = run_demo(out_dir=tmp_path, people=50, stream=out)
    output = "".join(lines)
    assert summary["accepted"] == summary["events"] and summary["rejected"] == 0
    assert summary["retry_accepted"] == 0
    # part of the org reported its usage through the OpenTelemetry SDK (and only that
    # way): the all-time board holds exactly what it sent
    assert len(summary["otlp_sent"]) >= 8 and "OpenTelemetry SDK" in "".join(lines)
    # and some outcomes arrived as signed GitHub webhooks, each counted once
    assert summary["webhook_events"] > 0
    assert sum(summary["webhooks_counted"].values()) == summary["webhook_events"]
    assert "signed GitHub webhooks" in "".join(lines)
    held = summary["all_tokens"]
    assert {u: held[u] for u in summary["otlp_sent"]} == summary["otlp_sent"]
    assert "Ingesting:" in output and "BY OUTCOMES" in output
    reply = json.loads((tmp_path / "leaderboard.json").read_text())
    text = json.dumps(reply["blocks"], ensure_ascii=False)
    assert reply["response_type"] == "ephemeral" and "<!channel>" not in text
    # The reply is what the viewer, not an admin, sees: with the default configuration
    # flags are for admins only, so none is shown although the top lists hold flagged people.
    top = summary["board"].board.raw[:10] + summary["board"].board.outcome[:10]
    assert any(r.flagged for r in top)
    assert "⚑" not in text and "high usage, no outcomes" not in text
    # The demo's token burners must not make the outcome top 10.
    persona = {p.user: p.persona for p in summary["org"]}
    board = summary["board"].board
    top_outcome = [persona[r.user] for r in board.outcome[:10]]
    top_raw = [persona[r.user] for r in board.raw[:10]]
    assert "token_burner" not in top_outcome and "outcome_spammer" not in top_outcome
    assert top_raw.count("token_burner") >= 5


@pytest.mark.slow
def test_leaderboard_names_the_efficiency_leaders_too(tmp_path: Path, redis_client,
                                                      redis_url: str) -> None:
    """Xan is on neither top-5 list but leads on efficiency: shown by name, not by id."""
    store = Store(redis_client)
    ts = datetime.now(UTC) - timedelta(minutes=1)
    people = {f"U0BIG{i}": (10_000_000 - 1_000_000 * i, "pr_merged", 9) for i in range(5)}
    people["U0XAN"] = (200_000, "review", 1)
    reports = []
    for user, (tokens, kind, count) in people.items():
        reports.append((UsageReport(id=f"u{user}", type="usage", user=user, ts=ts, tool="t",
                                    tokens=tokens), user))
        reports.append((OutcomeReport(id=f"o{user}", type="outcome", user=user, ts=ts,
                                      kind=kind, count=count), user))
        store.slack_cache.put_user(user, {"name": f"Name of {user[2:].lower()}", "real_name": "",
                                "is_admin": "0", "is_owner": "0"})
    store.counting.record([(as_counts(r), who) for r, who in reports], BoardConfig())
    store.configs.save(BoardConfig(board_size=5))
    done = run(["leaderboard", "--period", "all"], {"REDIS_URL": redis_url}, tmp_path)
    assert done.returncode == 0, done.stderr
    [line] = [x for x in done.stdout.splitlines() if x.startswith("Most efficient")]
    assert line.split("tokens): ", 1)[1].startswith("Name of xan ")
    assert "U0" not in done.stdout


@pytest.mark.slow
def test_the_demo_keeps_its_data_for_the_leaderboard_and_digest_commands(
        tmp_path: Path) -> None:
    """`tokenboard demo` keeps its org in the data dir's embedded Redis, as the workspace
    "demo"; `leaderboard` and `digest --dry-run` read it with --workspace demo."""
    data = tmp_path / "data"
    out = Lines()
    lines = out.lines
    summary = run_demo(out_dir=tmp_path / "out", people=50, stream=out, keep_dir=data)
    output = "".join(lines)
    assert "tokenboard leaderboard --workspace demo" in output
    assert "tokenboard digest --dry-run --workspace demo" in output
    # the Redis the demo started is stopped; the commands start it again from the data dir
    env = {"TOKENBOARD_DATA_DIR": str(data)}
    done = run(["leaderboard", "--workspace", "demo", "--period", "all", "--json"], env,
               tmp_path)
    assert done.returncode == 0, done.stderr
    board = json.loads(done.stdout)
    assert {r["user"]: r["score"] for r in board["raw"]} == summary["all_tokens"]
    assert len(board["raw"]) == len(summary["org"]) == 50
    # names come from the kept profile cache, not user ids
    names = {p.user: p.name for p in summary["org"]}
    assert {r["user"]: r["name"] for r in board["raw"]} == names

    yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
    digest = run(["digest", "--workspace", "demo", "--dry-run", "--out", str(tmp_path)],
                 env, tmp_path)
    assert digest.returncode == 0, digest.stderr
    posted = json.loads(digest.stdout[: digest.stdout.rindex("}") + 1])
    assert f"{yesterday:%a %d %b %Y}" in posted["blocks"][0]["text"]["text"]
    assert any(b.get("fields") for b in posted["blocks"])  # both boards, not "no activity"

    # the default workspace of the same data dir is empty: the demo kept to its own
    other = run(["leaderboard", "--period", "all", "--json"], env, tmp_path)
    assert json.loads(other.stdout)["raw"] == []

    # a second demo starts afresh instead of adding to the first
    again = run_demo(out_dir=tmp_path / "out", people=50, stream=out, keep_dir=data)
    assert again["accepted"] == again["events"]
    done = run(["leaderboard", "--workspace", "demo", "--period", "all", "--json"], env,
               tmp_path)
    assert {r["user"]: r["score"] for r in json.loads(done.stdout)["raw"]} == \
        again["all_tokens"]
