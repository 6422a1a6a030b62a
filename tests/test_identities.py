"""The identity map and named senders: kept-for-nobody reports credited on link, ids
scoped per sender, conflicts, and the `tokens` / `identities` commands."""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from bot.core.config import BoardConfig
from bot.core.periods import buckets_for_day, local_date
from tests.conftest import INGEST_TOKEN, App
from tests.support.cli_runs import run

NOW = datetime.now(UTC) - timedelta(minutes=1)
TODAY = local_date(NOW, NOW.tzinfo)  # the suite runs in UTC


def iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def usage(id: str, who: dict, tokens: int, ts: datetime = NOW, **extra: object) -> dict:
    return {"id": id, "type": "usage", **who, "ts": iso(ts), "tool": "t", "tokens": tokens,
            "cost_usd": 0.5, **extra}


def outcome(id: str, who: dict, kind: str, count: int, ts: datetime = NOW) -> dict:
    return {"id": id, "type": "outcome", **who, "ts": iso(ts), "kind": kind, "count": count}


def scores(app: App, metric: str, scope_index: int, day: date) -> dict[str, float]:
    store = app.deps.store
    key = store.keys.board(metric, buckets_for_day(day)[scope_index])
    return {m.decode(): s for m, s in store.r.zrange(key, 0, -1, withscores=True)}


@pytest.mark.slow
def test_unmapped_email_is_kept_then_credited_to_every_period(app: App) -> None:
    ghost = {"email": "ghost@old-domain.com"}
    yesterday_ts = NOW - timedelta(days=1)
    yesterday = local_date(yesterday_ts, UTC)
    answer = app.ingest([usage("g1", ghost, 1000), usage("g2", ghost, 300, yesterday_ts),
                         outcome("g3", ghost, "pr_merged", 3),
                         usage("a1", {"user": "U0ANA"}, 50),
                         outcome("a2", {"user": "U0ANA"}, "pr_merged", 9)]).json()
    assert answer["accepted"] == 5 and answer["unmapped"] == ["email:ghost@old-domain.com"]
    # kept for nobody: not on any board yet
    assert "email:ghost@old-domain.com" not in scores(app, "tokens", 3, TODAY)
    rows, total = app.deps.identities.unmapped()
    assert total == 1 and rows[0].identity == "email:ghost@old-domain.com"
    assert (rows[0].tokens, rows[0].outcomes) == (1300, 3)

    result = app.deps.identities.link("U0ANA", "email:Ghost@Old-Domain.com")
    assert result.days_credited == 2 and result.identity == "email:ghost@old-domain.com"
    # pr_merged: weight 5, cap 10, sqrt. Ana had 9 today; 3 more make 12, capped at 10.
    points_today = 5 * math.sqrt(10)
    assert scores(app, "tokens", 0, TODAY) == {"U0ANA": 1050}
    assert scores(app, "tokens", 0, yesterday) == {"U0ANA": 300}
    assert scores(app, "points", 0, TODAY)["U0ANA"] == pytest.approx(points_today)
    assert scores(app, "tokens", 3, TODAY) == {"U0ANA": 1350}
    assert scores(app, "cost", 3, TODAY)["U0ANA"] == pytest.approx(1.5)
    assert scores(app, "points", 3, TODAY)["U0ANA"] == pytest.approx(points_today)
    if buckets_for_day(yesterday)[1] == buckets_for_day(TODAY)[1]:  # same ISO week
        assert scores(app, "tokens", 1, TODAY) == {"U0ANA": 1350}
    assert app.deps.store.reads.day_counts(TODAY, "U0ANA")["o:pr_merged"] == 12
    assert app.deps.identities.unmapped() == ([], 0)
    # what crediting wrote for yesterday, where Ana had nothing, expires with that day:
    # its retention after the day's end
    store = app.deps.store
    end = (datetime.combine(yesterday + timedelta(days=1), time(), UTC)
           + timedelta(days=store.retention_days))
    left = (end - datetime.now(UTC)).total_seconds()
    written = [store.keys.board("tokens", buckets_for_day(yesterday)[0]),
               *store.r.scan_iter(match=store.keys.days(yesterday) + ":*")]
    assert len(written) >= 2
    assert all(abs(store.r.ttl(key) - left) < 5 for key in written)
    # later reports from the email go straight to Ana
    app.ingest([usage("g4", ghost, 7)])
    assert scores(app, "tokens", 0, TODAY) == {"U0ANA": 1057}
    assert app.deps.identities.export() == [("U0ANA", "email:ghost@old-domain.com")]


@pytest.mark.slow
def test_explicit_link_wins_over_slack_email_lookup(app: App) -> None:
    app.stub.add_user("U0CARA", real_name="Cara", email="cara@example.com")
    app.deps.identities.link("U0BEA", "email:cara@example.com")
    app.ingest([usage("c1", {"email": "cara@example.com"}, 40)])
    assert scores(app, "tokens", 0, TODAY) == {"U0BEA": 40}
    assert app.stub.calls("users.lookupByEmail") == []


@pytest.mark.slow
def test_ids_are_scoped_per_sender_and_reuse_with_other_content_conflicts(app: App) -> None:
    first = app.ingest([usage("reuse-1", {"user": "U0ONE"}, 10)]).json()
    assert first["accepted"] == 1
    # the same id from another sender is another report
    other = app.ingest([usage("reuse-1", {"user": "U0ONE"}, 10)], token="ingest-secret-2")
    assert other.json()["accepted"] == 1
    # the same id and content again from the first sender: a retry, counted once
    again = app.ingest([usage("reuse-1", {"user": "U0ONE"}, 10)]).json()
    assert (again["accepted"], again["duplicates"]) == (0, 1)
    # the same id with other content: a conflict, never a silent duplicate
    clash = app.ingest([usage("reuse-1", {"user": "U0TWO"}, 99999)]).json()
    assert (clash["accepted"], clash["duplicates"]) == (0, 0)
    assert clash["rejected"][0]["index"] == 0 and "conflict" in clash["rejected"][0]["error"]
    assert scores(app, "tokens", 0, TODAY) == {"U0ONE": 20}


@pytest.mark.slow
def test_token_and_identity_commands(app: App, tmp_path: Path, redis_url: str,
                                     monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli.main import main

    env = {"REDIS_URL": redis_url, "INGEST_TOKENS": f"ci:{INGEST_TOKEN}"}
    made = run(["tokens", "create", "claude-laptops"], env, tmp_path)  # the real command
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    assert token.startswith("tb.default.") and len(token) > 40  # names its workspace
    stored = app.deps.store.r.hgetall(app.deps.store.keys.key("tokens"))
    assert stored == {hashlib.sha256(token.encode()).hexdigest().encode(): b"claude-laptops"}
    answer = app.ingest([usage("t1", {"user": "U0ANA"}, 5)], token=token)
    assert answer.status == 200 and answer.json()["accepted"] == 1

    # the other commands in process (same entry point, without a new interpreter each)
    monkeypatch.chdir(tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    def cli(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    code, listed, _ = cli("tokens", "list")
    assert code == 0 and "claude-laptops" in listed and "ci" in listed
    assert token not in listed and INGEST_TOKEN not in listed
    assert cli("tokens", "revoke", "claude-laptops")[0] == 0
    assert app.ingest([usage("t2", {"user": "U0ANA"}, 5)], token=token).status == 401
    assert cli("tokens", "revoke", "nobody")[0] == 1

    csv_file = tmp_path / "links.csv"
    csv_file.write_text("slack_user,identity\nU0ANA,otel:user_01abc\nU0BOB,github:bob\n")
    code, _, err = cli("identities", "import", str(csv_file))
    assert code == 0, err
    exported = cli("identities", "export")[1]
    assert exported == "slack_user,identity\nU0ANA,otel:user_01abc\nU0BOB,github:bob\n"
    csv_file.write_text("slack_user,identity\nnobody,otel:x\nU0C,bad\n")
    code, _, err = cli("identities", "import", str(csv_file))
    assert code == 1 and "line 2" in err and "line 3" in err
    assert cli("identities", "unlink", "github:bob")[0] == 0
    assert app.deps.identities.export() == [("U0ANA", "otel:user_01abc")]


@pytest.mark.slow
def test_app_home_lists_unmapped_identities_for_admins_only(app: App) -> None:
    from tests.support.slack_interactions import open_home

    app.stub.add_user("U0ADM", display_name="Adm", is_admin=True)
    app.stub.add_user("U0BOB", display_name="Bob")
    app.ingest([usage("u1", {"email": "ghost@corp.com"}, 4_200_000),
                usage("u2", {"email": "other@corp.com"}, 1500),
                outcome("u3", {"email": "other@corp.com"}, "review", 2)])
    home = open_home(app, "U0ADM", "EvAdm")
    assert "2 identities report but map to nobody" in home
    assert "email:ghost@corp.com`: 4.2M tokens" in home
    assert "email:other@corp.com`: 1.5k tokens, 2 outcomes" in home
    assert "tokenboard identities link" in home
    assert "map to nobody" not in open_home(app, "U0BOB", "EvBob")


@pytest.mark.slow
def test_ids_are_compared_exactly(app: App) -> None:
    assert app.ingest([usage("norm-x", {"user": "U0ONE"}, 10)]).json()["accepted"] == 1
    answer = app.ingest([usage("  norm-x\n", {"user": "U0ONE"}, 10)]).json()
    assert answer["accepted"] == 0 and answer["duplicates"] == 0
    assert "whitespace" in answer["rejected"][0]["error"]
    assert scores(app, "tokens", 0, TODAY) == {"U0ONE": 10}


@pytest.mark.slow
def test_app_home_names_senders_never_tokens(app: App) -> None:
    from tests.support.slack_interactions import open_home

    app.stub.add_user("U0ADM", display_name="Adm", is_admin=True)
    app.ingest([usage("s1", {"user": "U0ANA"}, 5)])  # the first env token reports
    made = app.deps.senders.create("claude-laptops")
    app.deps.senders.revoke("claude-laptops")
    home = open_home(app, "U0ADM", "EvSenders")
    env_name = next(s.name for s in app.deps.senders.list() if s.source == "env")
    assert f"`{env_name}`: reported just now" in home
    assert "`claude-laptops`: revoked" in home
    assert INGEST_TOKEN not in home and made not in home


@pytest.mark.slow
def test_sources_heard_from(app: App) -> None:
    assert app.deps.store.heard.sources() == {}
    app.ingest([usage("h1", {"user": "U0ANA"}, 5)])
    heard = app.deps.store.heard.sources()
    assert list(heard) == ["ingest"] and abs(heard["ingest"] - datetime.now(UTC).timestamp()) < 60


@pytest.mark.slow
def test_forget_me_removes_identity_links_and_claims(app: App) -> None:
    ids = app.deps.identities
    ids.link("U0GONE", "github:gone")
    ids.link("U0KEEP", "github:keep")
    ids.claim("U0GONE", "gitlab", "gone", now=1.0)
    app.deps.store.privacy.forget_user("U0GONE")
    assert ids.export() == [("U0KEEP", "github:keep")]
    assert ids.claims() == []


@pytest.mark.slow
def test_identities_show_literally_in_code_spans(app: App) -> None:
    from bot.core.counts import Usage
    from tests.support.slack_interactions import open_home

    app.stub.add_user("U0ADM", display_name="Adm", is_admin=True)
    kept = Usage(id="u1", ts=NOW, fields=(("tokens", 1.0),), value=2000, fingerprint="x")
    assert app.deps.store.counting.record([(kept, "otel:user_01*abc")], BoardConfig()) == [1]
    home = open_home(app, "U0ADM", "EvCode")
    # inside a code span Slack shows characters as they are: no formatting escapes there
    assert "`otel:user_01*abc`: 2.0k tokens" in home
