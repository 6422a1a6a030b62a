"""OTLP/HTTP: `POST /v1/metrics` and `POST /v1/logs`, answered as the OTLP spec says.

200 with an Export…ServiceResponse (partial_success says which points were refused and
why, and which identities map to nobody), 400 with a google.rpc.Status for a body that
cannot be decoded, 401 without a valid bearer token, 413 past the size cap (applied after
decompression too), 415 for another content type, 429/503 with Retry-After when a sender
must slow down, Redis is unreachable or the scoring changed mid-request (exporters retry
exactly those). Every answer is in the request's encoding (protobuf or JSON).
"""

from __future__ import annotations

import logging
from typing import Any

import redis

from bot.intake.ingest import ScoringChanged
from bot.intake.telemetry import receive
from bot.runtime.deps import Deps
from bot.slack.directory import LookupUnavailable
from bot.sources import otlp
from bot.store.ratelimit import retry_after_header
from bot.web.body import BodyError, declared_length, read_body

log = logging.getLogger(__name__)
UNAVAILABLE, UNAUTHENTICATED, RESOURCE_EXHAUSTED = 14, 16, 8  # google.rpc.Code
Answer = tuple[int, bytes, list[tuple[str, str]]]


def handle(deps: Deps, environ: dict[str, Any], signal: str) -> Answer:
    """Answer one export; `signal` is "metrics" or "logs", counted in the workspace the
    bearer token belongs to. The per-sender request rate (INGEST_RATE_LIMIT, the
    workspace's limiter) is shared with /ingest."""
    as_json = environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower() == otlp.JSON
    kind = otlp.JSON if as_json else otlp.PROTOBUF

    def fail(status: int, code: int, message: str, extra: list[tuple[str, str]] | None = None
             ) -> Answer:
        return status, otlp.status_body(code, message, as_json), [("Content-Type", kind)] + (
            extra or [])

    try:
        deps, sender, rate = deps.for_sender(environ.get("HTTP_AUTHORIZATION", ""))
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        log.warning("otlp: Redis unavailable: %s", exc)
        return fail(503, UNAVAILABLE, "storage unavailable; retry", [("Retry-After", "5")])
    if sender is None:
        return fail(401, UNAUTHENTICATED, "missing, wrong or revoked bearer token (send "
                    "Authorization: Bearer <token>, e.g. via OTEL_EXPORTER_OTLP_HEADERS)",
                    [("WWW-Authenticate", 'Bearer realm="tokenboard"')])
    limiter = deps.limiter
    if limiter is not None:
        try:
            wait = limiter.check(sender, rate)
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            log.warning("otlp: Redis unavailable: %s", exc)
            return fail(503, UNAVAILABLE, "storage unavailable; retry", [("Retry-After", "5")])
        if wait is not None:
            seconds = retry_after_header(wait)
            limit = limiter.per_minute if rate is None else rate
            return fail(429, RESOURCE_EXHAUSTED, f"sender {sender!r} is over "
                        f"{limit} requests a minute; retry in {seconds} s",
                        [("Retry-After", str(seconds))])
    limit = deps.settings.otlp_max_bytes
    try:
        body = read_body(environ, declared_length(environ, limit))
    except BodyError as exc:
        return fail(exc.status, RESOURCE_EXHAUSTED if exc.status == 413 else 3, exc.message)
    try:
        raw, as_json = otlp.read_body(body, environ.get("CONTENT_TYPE", ""),
                                      environ.get("HTTP_CONTENT_ENCODING", ""), limit)
        decoded = (otlp.decode_metrics if signal == "metrics" else otlp.decode_logs)(
            raw, as_json)
    except otlp.OtlpError as exc:
        return fail(exc.status, exc.rpc_code, exc.message)
    try:
        receipt = receive(deps.store, deps.identities, decoded, signal, sender)
    except ScoringChanged:
        return fail(503, UNAVAILABLE, "the scoring configuration changed while this was "
                    "counted; retry (nothing is counted twice)", [("Retry-After", "5")])
    except LookupUnavailable as exc:
        return fail(503, UNAVAILABLE, f"cannot resolve emails right now ({exc}); retry",
                    [("Retry-After", "10")])
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        log.warning("otlp: Redis unavailable: %s", exc)
        return fail(503, UNAVAILABLE, "storage unavailable; retry (nothing is counted twice)",
                    [("Retry-After", "5")])
    if receipt.counted:
        deps.store.heard.mark("otlp")
    message = receipt.message()
    if receipt.rejected or receipt.unmapped:
        log.info("otlp %s from %s: %d counted, %d rejected: %s", signal, sender,
                 receipt.counted, receipt.rejected, message)
    answer = (otlp.metrics_response if signal == "metrics" else otlp.logs_response)(
        receipt.rejected, message, as_json)
    return 200, answer, [("Content-Type", kind)]
