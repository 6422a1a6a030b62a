"""The report edge: what `POST /ingest`, `/v1/metrics` and `/v1/logs` (OTLP) and
`/webhooks/<source>` share, written once. Each route adds only its decoder, its counting
call and its answers, errors included: the shape of an OpenTelemetry Collector receiver
(an authenticator, then the receiver's own unmarshaling and response encoding).

`serve` takes a request through, in order:

1. authentication (`Authenticator.caller`): who sends (`Caller`) and so the workspace its
   reports are counted in. A bearer token (`Bearer`, each token belonging to one
   workspace) for /ingest and OTLP; webhooks bring their own (per-source secrets).
   Redis unreachable: 503 with Retry-After.
2. the sender's request rate, for callers with a token (INGEST_RATE_LIMIT or the token's
   own, shared by every route of the workspace): 429 with Retry-After. The request is
   counted against the rate by the counting call itself (a guard of lua/record.lua: no
   round trip of its own), or on its own when the request is refused before counting;
   a sender refused lately is refused again at once, before its body is read, until
   its Retry-After has passed.
3. the body, read within the route's limit (`BodyLimits`, the server's table): 413 past
   it, 400 for a bad Content-Length.
4. the authenticator's check of the body (webhook signatures).
5. the route's decoder: its wire format in, its refusals (400, 413, 415…) as `Refused`.
6. the route's counting: a scoring change (`ScoringChanged`), Slack unable to map people
   (`LookupUnavailable`) or Redis unreachable answer 503 with Retry-After, in the route's
   words (`Wording`); senders retry the whole request and nothing counts twice. The
   sender's token, the configuration and identity links come from this process's caches
   (`bot.store.cached`), whose versions the counting call checks: when one moved
   (`StaleCaches`), the caches are dropped and steps 1 and 6 done again, once.
7. the route's answer.

Every refusal is a `Refused` (status, sentence, headers) that the route encodes
(`ReportRoute.refuse`): JSON `{"error": ...}` for /ingest and webhooks, a
google.rpc.Status in the request's encoding for OTLP.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import redis

from bot.intake.count import ScoringChanged, StaleCaches
from bot.runtime.deps import Deps
from bot.slack.directory import LookupUnavailable
from bot.store.cached import Guard
from bot.store.ratelimit import OverRate, retry_after_header
from bot.web.server import BodyLimits

log = logging.getLogger(__name__)
Environ = dict[str, Any]
Headers = list[tuple[str, str]]
Answer = tuple[int, bytes, Headers]  # status, body, headers (Content-Type included)
REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError, OSError)
D = TypeVar("D")
R = TypeVar("R")


class Refused(Exception):
    """The request is answered with an error: `status`, a sentence for the sender and
    extra headers (Retry-After, WWW-Authenticate); the route encodes it."""

    def __init__(self, status: int, message: str, headers: Headers | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or []


@dataclass(frozen=True)
class Caller:
    """Who sends: the workspace's Deps, the sender's name (event ids are scoped to it) and
    its own requests-a-minute limit (None: the workspace's). `limited`: whether the
    per-sender rate limit applies. `owner`: the Slack user a personal token belongs to
    (its reports that name nobody are theirs, and it reports for nobody else); None for
    a shared token and for webhooks."""

    deps: Deps
    sender: str
    rate: int | None = None
    limited: bool = True
    owner: str | None = None
    # the versions of what was read from this process's caches (None: nothing was);
    # counting checks them (bot.store.cached)
    guards: tuple[Guard, ...] | None = None
    # what of the request is already counted (item index → status), kept for its retry
    # when a cache was found stale part of the way through (bot.intake.count.count)
    settled: dict[int, int] = field(default_factory=dict)


class Authenticator(Protocol):
    def caller(self, deps: Deps, environ: Environ) -> Caller:
        """Who sends, before the body is read; Refused (401, 404…) if nobody may."""
        ...

    def verify(self, caller: Caller, environ: Environ, body: bytes) -> None:
        """Check what the body must prove (a signature); Refused if it does not."""
        ...


@dataclass(frozen=True)
class Bearer:
    """`Authorization: Bearer <token>` (INGEST_TOKENS or `tokenboard tokens create`): the
    token names the sender, the workspace (`Deps.for_sender`) and, for a personal token,
    the person. `hint` says how to send one, in the 401's sentence."""

    hint: str

    def caller(self, deps: Deps, environ: Environ) -> Caller:
        deps, sender, guard = deps.for_sender(environ.get("HTTP_AUTHORIZATION", ""))
        if sender is None or guard is None:  # (a sender comes with its guard)
            raise Refused(401, f"missing, wrong or revoked bearer token ({self.hint})",
                          [("WWW-Authenticate", 'Bearer realm="tokenboard"')])
        return Caller(deps, sender.name, sender.rate, owner=sender.owner, guards=(guard,))

    def verify(self, caller: Caller, environ: Environ, body: bytes) -> None:
        return None


@dataclass(frozen=True)
class Wording:
    """A route's sentences for the 503s of its counting step: the scoring changed while
    counting, people cannot be looked up (`lookup` gets the error at `{}`), storage
    unreachable. `lookup_retry`: the Retry-After of a failed lookup (None: Slack's own)."""

    scoring_changed: str
    lookup: str
    storage: str
    lookup_retry: int | None = None


class ReportRoute(Protocol[D, R]):
    """One report route: its name in logs, how callers authenticate, its wording, and the
    steps that are its own."""

    name: str
    auth: Authenticator
    wording: Wording

    def refuse(self, environ: Environ, refused: Refused) -> Answer:
        """`refused` in the route's encoding."""
        ...

    def decode(self, caller: Caller, environ: Environ, body: bytes, limit: int) -> D:
        """The body in the route's wire format → what it counts; Refused if unusable."""
        ...

    def count(self, caller: Caller, decoded: D) -> R:
        """Count what was decoded (through `bot.intake`)."""
        ...

    def answer(self, caller: Caller, environ: Environ, decoded: D, result: R) -> Answer:
        """The 200 answer (and noting that the source was heard from)."""
        ...


def serve(route: ReportRoute[Any, Any], deps: Deps, environ: Environ) -> Answer:
    """Answer one request of `route` (see the module's steps)."""
    try:
        caller = _within_rate(route, _authenticated(route, deps, environ))
        try:
            limit = BodyLimits.from_settings(caller.deps.settings).for_path(
                environ.get("PATH_INFO", ""))
            body = read_within(environ, limit)
            route.auth.verify(caller, environ, body)
            decoded = route.decode(caller, environ, body, limit)
        except Refused:  # not counted: the request still counts against the rate
            _rate_on_its_own(route, caller)
            raise
        try:
            result = _counted(route, caller, decoded)
        except StaleCaches:  # read afresh, once
            caller.deps.forget_cached()
            # not charged against the rate again (no rate guard this time): a batch of
            # several counting calls may have spent it in its first (a stale first call
            # had not: one request free)
            caller = dataclasses.replace(_authenticated(route, deps, environ),
                                         settled=caller.settled)
            result = _counted(route, caller, decoded, last=True)
    except Refused as refused:
        return route.refuse(environ, refused)
    return route.answer(caller, environ, decoded, result)


def _authenticated(route: ReportRoute[Any, Any], deps: Deps, environ: Environ) -> Caller:
    try:
        return route.auth.caller(deps, environ)
    except REDIS_DOWN as exc:
        log.warning("%s: Redis unavailable: %s", route.name, exc)
        raise Refused(503, "storage unavailable; retry", [("Retry-After", "5")]) from None


def _within_rate(route: ReportRoute[Any, Any], caller: Caller) -> Caller:
    """`caller` with the guard that counts this request against its sender's rate in the
    counting call (`RateLimiter.guard`), or Refused 429 at once when the sender was
    refused lately and its Retry-After has not passed."""
    limiter = caller.deps.limiter
    if not caller.limited or limiter is None:
        return caller
    wait = limiter.waiting(caller.sender)
    if wait is not None:
        raise _over_rate(caller, wait)
    guard = limiter.guard(caller.sender, caller.rate)
    if guard is None:
        return caller
    return dataclasses.replace(caller, guards=(*(caller.guards or ()), guard))


def _rate_on_its_own(route: ReportRoute[Any, Any], caller: Caller) -> None:
    """Count a request refused before counting against its sender's rate, in a call of
    its own: Refused 429 when that puts it over."""
    limiter = caller.deps.limiter
    if not caller.limited or limiter is None:
        return
    try:
        wait = limiter.check(caller.sender, caller.rate)
    except REDIS_DOWN as exc:
        log.warning("%s: Redis unavailable: %s", route.name, exc)
        raise Refused(503, "storage unavailable; retry", [("Retry-After", "5")]) from None
    if wait is not None:
        raise _over_rate(caller, wait)


def _over_rate(caller: Caller, wait: float) -> Refused:
    """The 429 for a sender over its rate, to retry in `wait` seconds."""
    limiter = caller.deps.limiter
    assert limiter is not None
    seconds = retry_after_header(wait)
    return Refused(429, f"sender {caller.sender!r} is over {limiter.limit(caller.rate)} "
                        f"requests a minute; retry in {seconds} s",
                   [("Retry-After", str(seconds))])


def read_within(environ: Environ, limit: int) -> bytes:
    """The request body, checked from Content-Length before any of it is read: Refused
    400 when that is not a number, 413 when it is over `limit`."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise Refused(400, "bad Content-Length") from None
    if length < 0:
        raise Refused(400, "bad Content-Length")
    if length > limit:
        raise Refused(413, f"body is {length} bytes; the limit is {limit}")
    return environ["wsgi.input"].read(length) if length else b""


def _counted(route: ReportRoute[D, R], caller: Caller, decoded: D, last: bool = False) -> R:
    """The route's count; StaleCaches propagates unless `last` (then 503)."""
    wording = route.wording
    try:
        return route.count(caller, decoded)
    except StaleCaches:
        if not last:
            raise
        raise Refused(503, wording.scoring_changed, [("Retry-After", "5")]) from None
    except ScoringChanged:
        raise Refused(503, wording.scoring_changed, [("Retry-After", "5")]) from None
    except OverRate as exc:
        assert caller.deps.limiter is not None
        caller.deps.limiter.refused(caller.sender, exc.wait, caller.rate)
        raise _over_rate(caller, exc.wait) from None
    except LookupUnavailable as exc:
        log.warning("%s: email lookup unavailable: %s", route.name, exc)
        seconds = wording.lookup_retry or exc.retry_after
        raise Refused(503, wording.lookup.format(exc), [("Retry-After", str(seconds))]
                      ) from None
    except REDIS_DOWN as exc:
        log.warning("%s: Redis unavailable: %s", route.name, exc)
        raise Refused(503, wording.storage, [("Retry-After", "5")]) from None


def json_answer(status: int, body: dict[str, Any], headers: Headers | None = None) -> Answer:
    """A JSON answer."""
    return status, json.dumps(body).encode(), [*(headers or []),
                                               ("Content-Type", "application/json")]


def json_refusal(refused: Refused) -> Answer:
    """`refused` as JSON: `{"error": sentence}`."""
    return json_answer(refused.status, {"error": refused.message}, refused.headers)
