"""The HTTP server under idle connections, and `tokenboard serve` stopping on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest

from bot.core.settings import Settings
from bot.runtime.app import build_bolt_app, build_workspaces
from bot.runtime.deps import Deps
from bot.store.embedded import free_port
from bot.web.app import build_web_app
from bot.web.server import Server
from tests.conftest import INGEST_TOKEN, App, http
from tests.slack_stub import SlackStub
from tests.support.processes import let_go

ROOT = Path(__file__).resolve().parents[1]


def healthz(url: str, timeout: float) -> int:
    with urllib.request.urlopen(url + "/healthz", timeout=timeout) as resp:
        return resp.status


@pytest.mark.slow
def test_healthz_answers_while_a_thousand_connections_idle(app: App) -> None:
    idle: list[socket.socket] = []
    try:
        for i in range(1000):
            sock = socket.create_connection(("127.0.0.1", app.server.port), timeout=5)
            if i % 2:  # a request line and one header, never finished
                sock.sendall(b"POST /ingest HTTP/1.1\r\nHost: tokenboard\r\n")
            else:  # complete headers, a tenth of the announced body
                sock.sendall(b"POST /ingest HTTP/1.1\r\nHost: tokenboard\r\n"
                             b"Content-Length: 100\r\n\r\n0123456789")
            idle.append(sock)
        started = time.monotonic()
        status = healthz(app.url, timeout=1)
        took = time.monotonic() - started
        assert status == 200 and took < 1.0, took
        # ... and complete requests still get worker threads (8) while 500 bodies hang.
        assert all(healthz(app.url, timeout=1) == 200 for _ in range(20))
    finally:
        for sock in idle:
            sock.close()


@pytest.mark.slow
def test_idle_connections_are_closed_after_the_idle_timeout(app: App) -> None:
    server = Server(app.server.wsgi_app, idle_timeout=1).start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: tokenboard\r\n")
            started = time.monotonic()
            assert sock.recv(1024) == b""  # closed by the server, nothing answered
            assert time.monotonic() - started < 5
    finally:
        server.stop()


@pytest.mark.slow
def test_sigterm_finishes_the_request_in_flight(tmp_path: Path, redis_url: str,
                                                redis_client, stub: SlackStub) -> None:
    port = free_port()
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "HOME": str(tmp_path),
           "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "secret",
           "SLACK_API_URL": stub.url, "REDIS_URL": redis_url, "PORT": str(port),
           "INGEST_TOKENS": "tester:tok-1", "DIGEST_CHANNEL": ""}
    stub.add_user("U0SLOW", display_name="Slow", email="slow@example.com")
    reached, release = threading.Event(), threading.Event()

    def hold() -> None:
        reached.set()
        release.wait(10)

    stub.on_next_call("users.lookupByEmail", hold)
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if healthz(url, timeout=1) == 200:
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(proc.communicate()[1]) from None
                time.sleep(0.1)
        answers: list = []
        event = {"id": "slow-1", "type": "outcome", "email": "slow@example.com",
                 "ts": int(time.time()) - 60, "kind": "deploy"}
        sender = threading.Thread(target=lambda: answers.append(http(
            "POST", url + "/ingest", json.dumps({"events": [event]}),
            {"Authorization": "Bearer tok-1", "Content-Type": "application/json"})))
        sender.start()
        assert reached.wait(10), "the ingest request never reached users.lookupByEmail"
        proc.send_signal(signal.SIGTERM)
        # It stops accepting new connections while the request is still in flight (held
        # for up to 10 s by the stub; a loaded machine may take a few seconds to get there).
        deadline = time.monotonic() + 8
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except ConnectionRefusedError:
                break
            assert time.monotonic() < deadline, "still accepting after SIGTERM"
            time.sleep(0.05)
        release.set()
        sender.join(10)
        _, stderr = proc.communicate(timeout=20)
    finally:
        let_go(proc, release)
    assert answers and answers[0].status == 200, (answers, stderr)
    assert answers[0].json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr and "Bad file descriptor" not in stderr, stderr


@pytest.mark.slow
def test_curl_style_expect_continue_gets_its_answer(app: App) -> None:
    body = json.dumps({"events": []}).encode()
    with socket.create_connection(("127.0.0.1", app.server.port), timeout=10) as sock:
        sock.sendall(b"POST /ingest HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer "
                     + INGEST_TOKEN.encode() + b"\r\nContent-Type: application/json\r\n"
                     b"Expect: 100-continue\r\nConnection: close\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
        assert sock.recv(1024) == b"HTTP/1.1 100 Continue\r\n\r\n"  # before the body
        sock.sendall(body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 ") and b"100 Continue" not in answer
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1]) == {"accepted": 0, "duplicates": 0,
                                                           "rejected": []}


@pytest.mark.slow
def test_add_to_slack_pages_are_served(deps: Deps, settings: Settings, redis_client,
                                       stub: SlackStub) -> None:
    oauth = replace(settings, slack_bot_token="", slack_client_id="111.222",
                    slack_client_secret="oauth-secret")
    bolt = build_bolt_app(build_workspaces(oauth, redis_client))
    server = Server(build_web_app(deps, bolt)).start()
    try:
        page = http("GET", server.url + "/slack/install")
        assert page.status == 200
        assert "https://slack.com/oauth/v2/authorize?" in page.body.decode()
        assert "client_id=111.222" in page.body.decode()
        # the redirect with a state nobody issued installs nothing
        done = http("GET", server.url + "/slack/oauth_redirect?code=c&state=forged")
        assert done.status == 400
    finally:
        server.stop()
