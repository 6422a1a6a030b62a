"""Names are plain text on every surface: Slack mrkdwn, the terminal, the chart, the digest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.core.plaintext import plain_text
from jobs.digest import DigestRunner
from tests.conftest import BOT_TOKEN
from tests.rendered import live_mentions, shown
from tests.slack_stub import SlackStub
from tests.support.cli_runs import run
from tests.support.digest_org import local, make_deps, seed
from tests.support.digest_posts import PNG_SIGNATURE, posts
from tests.support.digests import DAY
from tests.support.hostile_names import ESC, HOSTILE, RLO, bad_chars, mrkdwn_objects


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


@pytest.mark.slow
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
