"""Installable in many workspaces: the Redis installation and OAuth state stores, Bolt's
OAuth flow against the Slack stub's oauth.v2.access, every workspace apart, and
uninstalls deleting the data after the grace period."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
from slack_bolt import App, BoltRequest

from bot.core.settings import Settings
from bot.intake.ingest import ingest_events
from bot.runtime.app import build_bolt_app, build_workspaces
from bot.runtime.workspaces import Workspaces
from bot.store.installations import BOT_SCOPES
from tests.conftest import SIGNING_SECRET
from tests.slack_signing import event_body, sign, slash_command_body
from tests.slack_stub import SlackStub
from tests.support.installations import CLIENT_ID, CLIENT_SECRET
from tests.support.polling import wait_for

# -- the stores --------------------------------------------------------------------------


# -- the OAuth flow through Bolt -----------------------------------------------------------


@pytest.fixture
def multi(settings: Settings, redis_client: redis.Redis, stub: SlackStub
          ) -> tuple[Workspaces, App]:
    settings = replace(settings, slack_bot_token="", slack_client_id=CLIENT_ID,
                       slack_client_secret=CLIENT_SECRET, uninstall_grace_days=3)
    stub.app_credentials(CLIENT_ID, CLIENT_SECRET)
    workspaces = build_workspaces(settings, redis_client)
    return workspaces, build_bolt_app(workspaces)


def install(app: App, stub: SlackStub, team: str, code: str) -> str:
    """Open /slack/install, click "Allow" in `team`, follow the redirect: the page."""
    page = app.oauth_flow.handle_installation(BoltRequest(body="", query={}, headers={}))
    assert page.status == 200
    link = re.search(r'href="(https://slack\.com/oauth/v2/authorize\?[^"]+)"', page.body)
    assert link is not None, page.body[:500]
    query = parse_qs(urlsplit(link.group(1).replace("&amp;", "&")).query)
    assert query["client_id"] == [CLIENT_ID]
    assert query["scope"] == [",".join(BOT_SCOPES)]
    cookie = page.headers["set-cookie"][0].split(";")[0]
    stub.authorize(code, team, team_name=f"Team {team}")
    done = app.oauth_flow.handle_callback(BoltRequest(
        body="", query=f"code={code}&state={query['state'][0]}", headers={"cookie": cookie}))
    return f"{done.status} {done.body}"


def test_add_to_slack_installs_a_workspace_with_its_own_bot_token(
        multi: tuple[Workspaces, App], stub: SlackStub) -> None:
    workspaces, app = multi
    page = install(app, stub, "T0AAA", "code-a")
    assert page.startswith("200") and "Thank you" in page
    [exchange] = stub.calls("oauth.v2.access")
    assert exchange.args["code"] == "code-a"
    bot = workspaces.installations.find_bot(enterprise_id=None, team_id="T0AAA")
    assert bot is not None and stub.team_tokens[bot.bot_token] == "T0AAA"
    deps = workspaces.get("T0AAA")
    assert deps is not None and deps.store.ws == "T0AAA" and deps.client.token == bot.bot_token
    # a replayed redirect (the state is used up) installs nothing more
    stub.authorize("code-b", "T0AAA")
    again = app.oauth_flow.handle_callback(BoltRequest(body="", query="code=code-b&state=x",
                                                       headers={}))
    assert again.status >= 400 and len(stub.calls("oauth.v2.access")) == 1


def command(app: App, team: str, user: str, name: str, stub: SlackStub) -> None:
    body = slash_command_body(text="today", user_id=user, team_id=team,
                              response_url=stub.response_url(name))
    answer = app.dispatch(BoltRequest(body=body, headers={
        "content-type": "application/x-www-form-urlencoded", **sign(body, SIGNING_SECRET)}))
    assert answer.status == 200


def test_two_workspaces_keep_their_own_boards_and_tokens(
        multi: tuple[Workspaces, App], stub: SlackStub) -> None:
    workspaces, app = multi
    install(app, stub, "T0AAA", "code-a")
    install(app, stub, "T0BBB", "code-b")
    a, b = workspaces.get("T0AAA"), workspaces.get("T0BBB")
    assert a is not None and b is not None and a.store.ws != b.store.ws
    now = datetime.now(UTC).isoformat()
    for deps, people in ((a, ("U0ANNA", "U0ARNE")), (b, ("U0BEA", "U0BO"))):
        events = [{"id": f"e-{u}", "type": "usage", "user": u, "ts": now, "tool": "x",
                   "tokens": 1000 * (i + 1)} for i, u in enumerate(people)]
        assert ingest_events(deps.store, deps.identities, events, sender="t").counted == 2
    command(app, "T0AAA", "U0ANNA", "from-a", stub)
    command(app, "T0BBB", "U0BEA", "from-b", stub)
    [reply_a] = wait_for(lambda: stub.responses("from-a"))
    [reply_b] = wait_for(lambda: stub.responses("from-b"))
    assert "U0ARNE" in str(reply_a) and "U0BO" not in str(reply_a)
    assert "U0BO" in str(reply_b) and "U0ARNE" not in str(reply_b)
    # names were asked of Slack with each workspace's own bot token
    asked_a = {c.args["user"] for c in stub.team_calls("T0AAA", "users.info")}
    asked_b = {c.args["user"] for c in stub.team_calls("T0BBB", "users.info")}
    assert {"U0ANNA", "U0ARNE"} <= asked_a and not asked_a & {"U0BEA", "U0BO"}
    assert {"U0BEA", "U0BO"} <= asked_b


def uninstall(app: App, team: str) -> None:
    body = event_body({"type": "app_uninstalled"}, event_id=f"Ev-{team}", team_id=team)
    answer = app.dispatch(BoltRequest(body=body, headers={
        "content-type": "application/json", **sign(body, SIGNING_SECRET)}))
    assert answer.status == 200


def test_uninstall_deletes_the_data_after_the_grace_period_unless_installed_again(
        multi: tuple[Workspaces, App], stub: SlackStub, redis_client: redis.Redis) -> None:
    workspaces, app = multi
    install(app, stub, "T0AAA", "code-a")
    install(app, stub, "T0BBB", "code-b")
    for team in ("T0AAA", "T0BBB"):
        deps = workspaces.get(team)
        deps.store.privacy.set_opt_out("U0SOMEONE", True)  # some data of each workspace
    before = time.time()
    uninstall(app, "T0AAA")
    assert workspaces.installations.find_bot(enterprise_id=None, team_id="T0AAA") is None
    due = workspaces.pending_deletions()["T0AAA"]
    assert before + 3 * 86400 <= due <= time.time() + 3 * 86400
    assert workspaces.forget_due(now=due - 60) == []  # not yet
    assert redis_client.keys("tb:{T0AAA}:*")
    assert workspaces.forget_due(now=due + 1) == ["T0AAA"]
    assert redis_client.keys("tb:{T0AAA}:*") == []
    assert redis_client.keys("tb:{T0BBB}:*")  # the other workspace is untouched
    # uninstalled and installed again within the grace period: nothing is deleted
    uninstall(app, "T0BBB")
    assert "T0BBB" in workspaces.pending_deletions()
    install(app, stub, "T0BBB", "code-b2")
    assert "T0BBB" not in workspaces.pending_deletions()


def test_a_rotating_bot_token_is_refreshed_before_it_expires(
        multi: tuple[Workspaces, App], stub: SlackStub, monkeypatch: pytest.MonkeyPatch
        ) -> None:
    from bot.runtime import workspaces as workspaces_module

    workspaces, app = multi
    monkeypatch.setattr(workspaces_module, "RECHECK_INSTALLED", 0)  # every get() looks
    stub.authorize("code-r", "T0ROT", rotating=True)
    page = app.oauth_flow.handle_installation(BoltRequest(body="", query={}, headers={}))
    state = re.search(r"state=([0-9a-f]+)", page.body).group(1)
    cookie = page.headers["set-cookie"][0].split(";")[0]
    assert app.oauth_flow.handle_callback(BoltRequest(
        body="", query=f"code=code-r&state={state}", headers={"cookie": cookie})).status == 200
    first = workspaces.installations.find_bot(enterprise_id=None, team_id="T0ROT")
    assert first.bot_refresh_token and first.bot_token_expires_at > time.time() + 3600
    assert workspaces.get("T0ROT").client.token == first.bot_token  # 12 h left: kept
    # within ROTATE_BEFORE of expiry (as seen from the background): refreshed and saved
    monkeypatch.setattr(workspaces_module, "ROTATE_BEFORE", 13 * 60)
    rotated = workspaces.get("T0ROT").client.token
    assert rotated != first.bot_token
    monkeypatch.setattr(workspaces_module, "ROTATE_BEFORE", 120)
    second = workspaces.installations.find_bot(enterprise_id=None, team_id="T0ROT")
    assert second.bot_token == rotated == workspaces.get("T0ROT").client.token
    assert stub.team_tokens[second.bot_token] == "T0ROT"
    assert [c.args.get("grant_type") for c in stub.calls("oauth.v2.access")] == [
        None, "refresh_token"]


@pytest.mark.slow
def test_workspaces_cli_lists_installs_and_keeps_data(
        multi: tuple[Workspaces, App], stub: SlackStub, redis_url: str, tmp_path: Path
        ) -> None:
    from tests.support.cli_runs import run

    workspaces, app = multi
    install(app, stub, "T0AAA", "code-a")
    install(app, stub, "T0BBB", "code-b")
    uninstall(app, "T0BBB")
    env = {"REDIS_URL": redis_url, "SLACK_CLIENT_ID": CLIENT_ID,
           "SLACK_CLIENT_SECRET": CLIENT_SECRET}
    listed = run(["workspaces", "list"], env, tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "1 installed" in listed.stdout and "T0AAA  installed" in listed.stdout
    assert "T0BBB  uninstalled: data deleted after" in listed.stdout
    kept = run(["workspaces", "keep", "T0BBB"], env, tmp_path)
    assert kept.returncode == 0 and "T0BBB" not in workspaces.pending_deletions()
    again = run(["workspaces", "keep", "T0BBB"], env, tmp_path)
    assert again.returncode == 1 and "no deletion is pending" in again.stderr + again.stdout
    single = run(["workspaces", "list"], {"REDIS_URL": redis_url}, tmp_path)
    assert single.returncode == 2 and "SLACK_CLIENT_ID" in single.stderr


@pytest.mark.slow
def test_serve_installs_from_add_to_slack_and_counts_each_workspaces_reports(
        stub: SlackStub, redis_url: str, redis_client: redis.Redis, tmp_path: Path) -> None:
    """`tokenboard serve` with SLACK_CLIENT_ID/SECRET and no bot token: the install page,
    the redirect completing the install against the stub, a token made for that
    workspace counting its reports there (with its own bot token), and the jobs
    following the installed workspaces."""
    import http.client
    import json as json_module

    from tests.serve_processes import start, stop_all, wait_healthy

    stub.app_credentials(CLIENT_ID, CLIENT_SECRET)
    proc = start(["serve"], redis_url, stub.url, tmp_path, "oauth", SLACK_BOT_TOKEN="",
                 SLACK_CLIENT_ID=CLIENT_ID, SLACK_CLIENT_SECRET=CLIENT_SECRET,
                 WEB_CONCURRENCY="1", SERVE_JOBS="off")
    try:
        wait_healthy([proc])

        def get(path: str, headers: dict[str, str] | None = None
                ) -> http.client.HTTPResponse:
            conn = http.client.HTTPConnection("127.0.0.1", proc.port, timeout=10)
            conn.request("GET", path, headers=headers or {})
            return conn.getresponse()

        page = get("/slack/install")
        body = page.read().decode()
        assert page.status == 200 and "slack.com/oauth/v2/authorize" in body
        state = re.search(r"state=([0-9a-f]+)", body).group(1)
        cookie = page.getheader("Set-Cookie").split(";")[0]
        stub.authorize("code-s", "T0SRV")
        done = get(f"/slack/oauth_redirect?code=code-s&state={state}", {"Cookie": cookie})
        assert done.status == 200, done.read()[:300]
        from tests.support.cli_runs import run

        made = run(["tokens", "create", "ci", "--workspace", "T0SRV"],
                   {"REDIS_URL": redis_url}, tmp_path)
        assert made.returncode == 0, made.stderr
        token = re.search(r"(tb\.\S+)", made.stdout).group(1)
        stub.add_user("U0SRV1", email="ana@srv.example")
        events = [{"id": "s1", "type": "usage", "email": "ana@srv.example",
                   "ts": datetime.now(UTC).isoformat(), "tool": "x", "tokens": 777}]
        conn = http.client.HTTPConnection("127.0.0.1", proc.port, timeout=10)
        conn.request("POST", "/ingest", body=json_module.dumps({"events": events}),
                     headers={"Authorization": f"Bearer {token}",
                              "Content-Type": "application/json"})
        answer = conn.getresponse()
        assert answer.status == 200, answer.read()
        # the email was looked up with T0SRV's own bot token, and counted in T0SRV
        assert stub.team_calls("T0SRV", "users.lookupByEmail")
        scores = redis_client.zrange("tb:{T0SRV}:z:tokens:a:all", 0, -1, withscores=True)
        assert scores == [(b"U0SRV1", 777.0)]
    finally:
        stop_all([proc])


def test_the_jobs_follow_the_installed_workspaces(
        multi: tuple[Workspaces, App], stub: SlackStub) -> None:
    from bot.runtime.worker import Jobs

    workspaces, app = multi
    install(app, stub, "T0AAA", "code-a")
    jobs = Jobs(workspaces.get("T0AAA"), workspaces)
    try:
        assert jobs.sync_workspaces() == ["T0AAA"]
        install(app, stub, "T0BBB", "code-b")
        assert jobs.sync_workspaces() == ["T0AAA", "T0BBB"]
        uninstall(app, "T0AAA")
        assert jobs.sync_workspaces() == ["T0BBB"]
    finally:
        jobs.stop()
