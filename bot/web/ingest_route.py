"""`POST /ingest`: tokenboard's own JSON reports, on the report edge (`bot.web.edge`).

200 with `{"accepted", "duplicates", "rejected": [{"index", "error", "id"?}], "unmapped"?}`;
400 for a body that is not a batch, 413 past 1,000 events, 415 for a Content-Type other
than `application/json` (charset utf-8), and the edge's 401/413/429/503, all as
`{"error": ...}`.
"""

from __future__ import annotations

from typing import Any

from bot.intake.count import Counted
from bot.intake.ingest import BadBatch, content_type_problem, ingest_events, parse_batch
from bot.web.edge import (
    Answer,
    Bearer,
    Caller,
    Environ,
    Refused,
    Wording,
    json_answer,
    json_refusal,
)


class IngestRoute:
    """The /ingest receiver: a batch of events in, the JSON answer out."""

    name = "ingest"
    auth = Bearer("INGEST_TOKENS or `tokenboard tokens create`")
    wording = Wording(
        scoring_changed="the scoring configuration changed several times while this batch "
                        "was counted; retry the whole batch (no event is counted twice)",
        lookup="cannot map emails to Slack users right now ({}); retry the whole batch "
               "(nothing in it was counted)",
        storage="storage unavailable; retry the whole batch (no event is counted twice)")

    def refuse(self, environ: Environ, refused: Refused) -> Answer:
        return json_refusal(refused)

    def decode(self, caller: Caller, environ: Environ, body: bytes, limit: int) -> list[Any]:
        unsupported = content_type_problem(environ.get("CONTENT_TYPE", ""))
        if unsupported:
            raise Refused(415, unsupported)
        try:
            return parse_batch(body)
        except BadBatch as exc:
            raise Refused(413 if exc.too_large else 400, str(exc)) from None

    def count(self, caller: Caller, decoded: list[Any]) -> Counted:
        deps = caller.deps
        return ingest_events(deps.store, deps.identities, decoded, sender=caller.sender,
                             owner=caller.owner, guards=caller.guards,
                             settled=caller.settled)

    def answer(self, caller: Caller, environ: Environ, decoded: list[Any],
               result: Counted) -> Answer:
        caller.deps.store.heard.mark("ingest")
        return json_answer(200, ingest_json(decoded, result))


def ingest_json(events: list[Any], counted: Counted) -> dict[str, Any]:
    """The /ingest answer: each rejected event with its index, why, and its id when it
    had one."""
    rejected = []
    for rejection in counted.rejected:
        entry: dict[str, Any] = {"index": rejection.index, "error": rejection.reason}
        raw = events[rejection.index] if rejection.index is not None else None
        if isinstance(raw, dict) and isinstance(raw.get("id"), str):
            entry["id"] = raw["id"]
        rejected.append(entry)
    out: dict[str, Any] = {"accepted": counted.counted, "duplicates": len(counted.duplicates),
                           "rejected": rejected}
    if counted.unmapped:
        out["unmapped"] = counted.unmapped
    return out
