"""`POST /slack/events`: everything a request must pass before Bolt sees it.

In order, each refusal logged as one short line (reason and length, never the body):

1. `X-Slack-Signature` (`v0=` + 64 hex digits) and `X-Slack-Request-Timestamp` (digits,
   within Slack's 5 minutes of now) must be present: else 401, body not read.
2. `Content-Length` must be present (else 411) and at most `SLACK_MAX_BODY_BYTES`
   (else 413), body not read (the web worker already refuses a body over this limit
   before buffering it; see `bot.web.server`).
3. Exactly Content-Length bytes are read and the signature checked in constant time with
   slack_sdk's `SignatureVerifier`: else 401.
4. The body must parse as Bolt parses it (UTF-8; JSON or form; an object): else 400.
5. Replays: each accepted signature is remembered in Redis until it expires; the same
   signed request again is answered 200 with an empty body and runs no listener. Slack's
   own retries (`X-Slack-Retry-Num`) are signed afresh, so they pass. If Redis does not
   answer within `REPLAY_TIMEOUT` the request is let through (fail open): the signature
   and the 5-minute window still hold, and Slack requests keep being answered within
   Slack's 3 seconds while Redis is slow.

Only then is the request handed to Bolt, through Bolt's Flask adapter.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time

import redis
from flask import Request, Response
from slack_bolt import App
from slack_bolt.adapter.flask import SlackRequestHandler
from slack_bolt.request.internals import (
    build_normalized_headers,
    extract_content_type,
    parse_body,
)
from slack_sdk.signature import SignatureVerifier
from werkzeug.exceptions import ClientDisconnected

from bot.store.store import Store

log = logging.getLogger(__name__)

WINDOW = 300  # seconds: Slack's signature window (and SignatureVerifier's)
REPLAY_TIMEOUT = 0.25  # seconds the replay check may wait for Redis before failing open
SIGNATURE = re.compile(r"^v0=[0-9a-f]{64}$")
TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
LENGTH = re.compile(r"^[0-9]{1,18}$")
# Bolt loggers that would log whole request bodies at INFO (a bad signature's body).
BODY_LOGGERS = ("slack_bolt.RequestVerification",)


def quiet_bolt_body_logs() -> None:
    """Keep Bolt from logging request bodies: call after building a Bolt `App`.

    Bolt sets each of its loggers to the root level when it builds them, and its request
    verification logs a refused request's whole body at INFO. The guard refuses such
    requests first, and this keeps Bolt's second check quiet even on the boundary of the
    5-minute window.
    """
    for name in BODY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


class ReplayGuard:
    """Remembers accepted Slack request signatures in Redis (`SET NX` until they expire)."""

    def __init__(self, store: Store, timeout: float = REPLAY_TIMEOUT) -> None:
        self.replays = store.replays(timeout)

    def first_time(self, signature: str, timestamp: int) -> bool:
        """True the first time a signature is seen, or when Redis cannot say (fail open).

        The mark lives until the signature leaves Slack's window (timestamp + 5 min), plus
        a minute for clocks that differ between processes.
        """
        ttl = max(1, int(timestamp + WINDOW - time.time()) + 60)
        try:
            return self.replays.first_time(signature, ttl)
        except (redis.RedisError, OSError) as exc:
            log.warning("slack: replay check skipped, Redis did not answer: %s",
                        type(exc).__name__)
            return True

    def close(self) -> None:
        self.replays.close()


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class SlackGuard:
    """The Flask view of `POST /slack/events`: checks the request, then hands it to Bolt's
    Flask adapter."""

    def __init__(self, bolt: App, signing_secret: str, max_body: int,
                 replay: ReplayGuard | None = None) -> None:
        self.bolt = SlackRequestHandler(bolt)
        self.secret = signing_secret.encode()
        self.verifier = SignatureVerifier(signing_secret)
        self.max_body = max_body
        self.replay = replay

    def __call__(self, request: Request) -> Response:
        length = request.environ.get("CONTENT_LENGTH") or ""
        try:
            signature, timestamp = self._check(request)
        except Refused as refused:
            log.info("slack: refused %d, %s (Content-Length %s)", refused.status,
                     refused.reason, length[:20] or "missing")
            return Response(b"", refused.status)
        if self.replay is not None and not self.replay.first_time(signature, timestamp):
            log.info("slack: replayed request answered empty (Content-Length %s)", length)
            return Response(b"", 200)
        return self.bolt.handle(request)

    def _check(self, request: Request) -> tuple[str, int]:
        environ = request.environ
        signature = environ.get("HTTP_X_SLACK_SIGNATURE", "")
        timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")
        if not signature or not timestamp:
            raise Refused(401, "no X-Slack-Signature / X-Slack-Request-Timestamp")
        if not TIMESTAMP.match(timestamp):
            raise Refused(401, "X-Slack-Request-Timestamp is not a number")
        if abs(time.time() - int(timestamp)) > WINDOW:
            raise Refused(401, "X-Slack-Request-Timestamp outside the 5-minute window")
        if not SIGNATURE.match(signature):
            raise Refused(401, "malformed X-Slack-Signature")
        length = environ.get("CONTENT_LENGTH") or ""
        if not length:
            raise Refused(411, "no Content-Length")
        if not LENGTH.match(length):
            raise Refused(400, "bad Content-Length")
        if int(length) > self.max_body:
            raise Refused(413, f"body over the {self.max_body}-byte limit")
        try:  # kept by Flask for Bolt's adapter, which reads it again
            body = request.get_data(cache=True)
        except ClientDisconnected:
            raise Refused(400, "body ended before Content-Length") from None
        if len(body) != int(length):
            raise Refused(400, f"body ended after {len(body)} bytes")
        try:
            text: str | None = body.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if not self._signed(body, text, timestamp, signature):
            raise Refused(401, "bad signature")
        if text is None:
            raise Refused(400, "signed body is not UTF-8")
        try:
            content_type = extract_content_type(build_normalized_headers(
                dict(request.headers)))
            parsed = parse_body(text, content_type)  # as BoltRequest will parse it
        except (ValueError, RecursionError):
            raise Refused(400, "signed body does not parse") from None
        if not isinstance(parsed, dict):
            raise Refused(400, "signed body is not an object")
        return signature, int(timestamp)

    def _signed(self, body: bytes, text: str | None, timestamp: str, signature: str) -> bool:
        if text is not None:
            return self.verifier.is_valid(text, timestamp, signature)
        # SignatureVerifier only signs text; Slack signs the bytes. A body that is not
        # UTF-8 is checked the same way on its bytes, so a signed one answers 400, not 401.
        expected = "v0=" + hmac.new(self.secret, b"v0:" + timestamp.encode() + b":" + body,
                                    hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, signature)
