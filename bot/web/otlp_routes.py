"""OTLP/HTTP: `POST /v1/metrics` and `POST /v1/logs`, answered as the OTLP spec says, on
the report edge (`bot.web.edge`).

200 with an Export…ServiceResponse (partial_success says which points were refused and
why, and which identities map to nobody), 400 with a google.rpc.Status for a body that
cannot be decoded, 401 without a valid bearer token, 413 past the size cap (applied after
decompression too), 415 for another content type, 429/503 with Retry-After when a sender
must slow down, Redis is unreachable or the scoring changed mid-request (exporters retry
exactly those). Every answer is in the request's encoding (protobuf or JSON).
"""

from __future__ import annotations

import logging

from bot.intake.count import Counted
from bot.intake.telemetry import count_points
from bot.sources import otlp
from bot.web.edge import Answer, Bearer, Caller, Environ, Refused, Wording

log = logging.getLogger(__name__)
MAX_NAMED = 5  # unmapped identities named in one answer


def _as_json(environ: Environ) -> bool:
    return environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower() == otlp.JSON


class OtlpRoute:
    """The receiver of one signal ("metrics" or "logs"), counted in the workspace the
    bearer token belongs to; its request rate is shared with /ingest."""

    name = "otlp"
    auth = Bearer("send Authorization: Bearer <token>, e.g. via OTEL_EXPORTER_OTLP_HEADERS")
    wording = Wording(
        scoring_changed="the scoring configuration changed while this was counted; retry "
                        "(nothing is counted twice)",
        lookup="cannot resolve emails right now ({}); retry", lookup_retry=10,
        storage="storage unavailable; retry (nothing is counted twice)")

    def __init__(self, signal: str) -> None:
        self.signal = signal

    def refuse(self, environ: Environ, refused: Refused) -> Answer:
        as_json = _as_json(environ)
        body = otlp.status_body(otlp.rpc_code(refused.status), refused.message, as_json)
        kind = otlp.JSON if as_json else otlp.PROTOBUF
        return refused.status, body, [("Content-Type", kind), *refused.headers]

    def decode(self, caller: Caller, environ: Environ, body: bytes,
               limit: int) -> otlp.Decoded:
        try:
            raw, as_json = otlp.unpack_body(body, environ.get("CONTENT_TYPE", ""),
                                            environ.get("HTTP_CONTENT_ENCODING", ""), limit)
            decode = otlp.decode_metrics if self.signal == "metrics" else otlp.decode_logs
            return decode(raw, as_json)
        except otlp.OtlpError as exc:
            raise Refused(exc.status, exc.message) from None

    def count(self, caller: Caller, decoded: otlp.Decoded) -> Counted:
        deps = caller.deps
        return count_points(deps.store, deps.identities, decoded, self.signal, caller.sender,
                            owner=caller.owner, guards=caller.guards,
                            settled=caller.settled)

    def answer(self, caller: Caller, environ: Environ, decoded: otlp.Decoded,
               result: Counted) -> Answer:
        if result.counted:
            caller.deps.store.heard.mark("otlp")
        rejected, message = partial_success(decoded, result)
        if rejected or result.unmapped:
            log.info("otlp %s from %s: %d counted, %d rejected: %s", self.signal,
                     caller.sender, result.counted, rejected, message)
        as_json = _as_json(environ)
        respond = otlp.metrics_response if self.signal == "metrics" else otlp.logs_response
        return 200, respond(rejected, message, as_json), [
            ("Content-Type", otlp.JSON if as_json else otlp.PROTOBUF)]


def partial_success(decoded: otlp.Decoded, counted: Counted) -> tuple[int, str]:
    """How many points (or log records) of the export were refused, by the decoder or
    when counted, and one line saying why (distinct reasons, at most MAX_REASONS) and
    which identities were kept for nobody ("" when nothing is to be said)."""
    reasons = list(decoded.reasons)
    for rejection in counted.rejected:
        if rejection.reason not in reasons and len(reasons) < otlp.MAX_REASONS:
            reasons.append(rejection.reason)
    if counted.unmapped:
        named = ", ".join(counted.unmapped[:MAX_NAMED])
        more = len(counted.unmapped) - MAX_NAMED
        reasons.append("kept for nobody until an admin links them (tokenboard identities "
                       f"link U… IDENTITY): {named}" + (f" and {more} more" if more > 0
                                                        else ""))
    return decoded.rejected + len(counted.rejected), "; ".join(reasons)
