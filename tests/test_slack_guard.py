"""/slack/events refuses what Slack did not sign before reading or logging it, answers
unparseable signed bodies 400, answers replays empty, and keeps acking while Redis hangs."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import signal
import socket
import time

import pytest

from bot.runtime.app import build_bolt_app
from tests.conftest import SIGNING_SECRET, App, Outage, http
from tests.slack_signing import sign, slash_command_body, url_verification_body

FORM = "application/x-www-form-urlencoded"


def slack_hmac(body: bytes, timestamp: int, secret: str = SIGNING_SECRET) -> dict[str, str]:
    """Slack's v0 signature over the raw bytes, computed here from Slack's definition."""
    digest = hmac.new(secret.encode(), b"v0:%d:" % timestamp + body, hashlib.sha256)
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature":
            "v0=" + digest.hexdigest()}


def raw(port: int, head: str, body: bytes = b"", timeout: float = 5.0) -> tuple[int, bytes]:
    """Send `head` (request line and headers, CRLF-separated, no blank line) and `body`;
    the status code and body of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head.encode() + b"\r\n\r\n" + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def post(app: App, body: bytes, headers: dict[str, str], content_type: str = FORM):
    return http("POST", app.url + "/slack/events", body,
                {"Content-Type": content_type, **headers})


@pytest.mark.slow
def test_unsigned_requests_are_401(app: App) -> None:
    body = slash_command_body(text="help").encode()
    now = int(time.time())
    good = sign(body, SIGNING_SECRET, now)
    cases = {
        "no headers": {},
        "no signature": {"X-Slack-Request-Timestamp": str(now)},
        "no timestamp": {"X-Slack-Signature": good["X-Slack-Signature"]},
        "timestamp abc": {**good, "X-Slack-Request-Timestamp": "abc"},
        "timestamp 1e9": {**good, "X-Slack-Request-Timestamp": "1e9"},
        "six minutes old": sign(body, SIGNING_SECRET, now - 360),
        "six minutes ahead": sign(body, SIGNING_SECRET, now + 360),
        "wrong secret": sign(body, "not-the-secret", now),
        "not hex": {**good, "X-Slack-Signature": "v0=" + "zz" * 32},
    }
    answers = {name: post(app, body, headers).status for name, headers in cases.items()}
    assert answers == {name: 401 for name in cases}
    assert post(app, body, good).status == 200  # the same body, signed: accepted


@pytest.mark.slow
def test_unsigned_junk_is_401_not_500(app: App) -> None:
    now = int(time.time())
    bad_signature = {"X-Slack-Request-Timestamp": str(now), "X-Slack-Signature": "v0=" + "0" * 64}
    deep = ("[" * 10_000 + "]" * 10_000).encode()
    assert post(app, b"\xff\xfe\x00garbage", bad_signature).status == 401
    assert post(app, deep, bad_signature, "application/json").status == 401
    assert post(app, b"payload=" + deep, bad_signature).status == 401


@pytest.mark.slow
def test_signed_but_unparseable_is_400(app: App) -> None:
    now = int(time.time())
    not_utf8 = b"command=%2Fleaderboard&text=\xff\xfe"
    deep = ("[" * 10_000 + "]" * 10_000).encode()
    deep_form = b"payload=" + deep
    not_an_object = b"[1, 2, 3]"
    assert post(app, not_utf8, slack_hmac(not_utf8, now)).status == 400
    assert post(app, deep, slack_hmac(deep, now), "application/json").status == 400
    assert post(app, deep_form, slack_hmac(deep_form, now)).status == 400
    assert post(app, not_an_object, slack_hmac(not_an_object, now),
                "application/json").status == 400


@pytest.mark.slow
def test_body_limits(app: App) -> None:
    limit = app.deps.settings.slack_max_body_bytes
    now = int(time.time())
    # Signed, one byte over the Slack limit: 413, although the signature is right.
    big = slash_command_body(text="x" * limit).encode()
    assert len(big) > limit
    assert post(app, big, sign(big, SIGNING_SECRET, now)).status == 413
    headers = "\r\n".join([
        "POST /slack/events HTTP/1.1", "Host: test", f"Content-Type: {FORM}",
        f"X-Slack-Request-Timestamp: {now}", f"X-Slack-Signature: v0={'0' * 64}"])
    # 200 MB announced and never sent: refused from the headers alone (no body is read,
    # so an answer arrives at all).
    status, _ = raw(app.server.port, headers + "\r\nContent-Length: 200000000")
    assert status == 413
    # No Content-Length at all.
    status, _ = raw(app.server.port, headers)
    assert status == 411


@pytest.mark.slow
def test_refusals_log_one_line_and_never_the_body(app: App, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("slack_bolt", "slack_bolt.RequestVerification", "slack_bolt.App"):
        caplog.set_level(logging.DEBUG, logger=name)  # restored after the test
    marker = "SECRET-BODY-MARKER"
    body = slash_command_body(text=marker).encode()
    assert post(app, body, sign(body, "not-the-secret")).status == 401
    assert marker not in caplog.text
    refusals = [r.getMessage() for r in caplog.records if "refused 401" in r.getMessage()]
    assert len(refusals) == 1 and str(len(body)) in refusals[0], caplog.text


def test_bolt_logs_no_bodies_even_at_debug(deps) -> None:
    root = logging.getLogger()
    old = root.level
    root.setLevel(logging.DEBUG)
    try:
        build_bolt_app(deps)
        level = logging.getLogger("slack_bolt.RequestVerification").getEffectiveLevel()
    finally:
        root.setLevel(old)
    assert level >= logging.WARNING


@pytest.mark.slow
def test_a_replayed_command_is_not_run_again(app: App) -> None:
    body = slash_command_body(text="help")
    headers = sign(body, SIGNING_SECRET)
    answers = [post(app, body.encode(), headers) for _ in range(4)]
    assert answers[0].status == 200 and "two rankings" in answers[0].body.decode()
    assert [(a.status, a.body) for a in answers[1:]] == [(200, b"")] * 3
    # The mark outlives the signature: valid until its timestamp + 5 minutes.
    ttl = app.deps.store.r.ttl(f"tb:{{default}}:replay:{headers['X-Slack-Signature']}")
    assert 300 <= ttl <= 420, ttl


@pytest.mark.slow
def test_slack_retries_are_signed_afresh_and_answered(app: App) -> None:
    body = url_verification_body("abc123")
    now = int(time.time())
    first = app.slack(body, content_type="application/json", timestamp=now - 2)
    assert json.loads(first.body)["challenge"] == "abc123"
    replay = app.slack(body, content_type="application/json", timestamp=now - 2)
    assert (replay.status, replay.body) == (200, b"")
    retry = app.slack(body, content_type="application/json", timestamp=now,
                      extra_headers={"X-Slack-Retry-Num": "1",
                                     "X-Slack-Retry-Reason": "http_timeout"})
    assert retry.status == 200 and json.loads(retry.body)["challenge"] == "abc123"


@pytest.mark.slow
def test_slack_acks_and_ingest_answers_while_redis_hangs(outage: Outage) -> None:
    app = outage.app
    seed = app.ingest([{"id": "e1", "type": "usage", "user": "U0A", "ts": int(time.time()) - 60,
                        "tool": "t", "tokens": 5}])
    assert seed.status == 200  # the connections are pooled before Redis hangs
    pid = outage.redis.process.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        helped = app.command("help")
        help_took = time.monotonic() - started
        started = time.monotonic()
        acked = app.command("today", name="hung")
        ack_took = time.monotonic() - started
        started = time.monotonic()
        ingest = app.ingest([{"id": "e2", "type": "usage", "user": "U0A",
                              "ts": int(time.time()) - 60, "tool": "t", "tokens": 5}])
        ingest_took = time.monotonic() - started
    finally:
        os.kill(pid, signal.SIGCONT)
    # Slack's bound for an ack is 3 s; /ingest must not hang on Redis.
    assert helped.status == 200 and "two rankings" in helped.body.decode() and help_took < 3
    assert acked.status == 200 and ack_took < 3
    assert ingest.status == 503 and ingest.headers.get("Retry-After") and ingest_took < 1.5
