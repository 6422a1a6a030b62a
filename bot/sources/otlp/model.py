"""What OTLP decoding yields: the `Point`s to count, what was refused (`Decoded`), and
`OtlpError` for a request that is unusable as a whole."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.sources.otlp.answers import rpc_code

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

# Attributes copied into Point.attributes (resource < scope < data point / log record).
IDENTITY_KEYS = ("user.email", "enduser.id", "user.account_uuid", "user.account_id", "user.id",
                 "cursor.user.id", "organization.id", "session.id", "model")

MAX_REASONS = 20  # distinct reasons kept per request; the rest are only counted


class OtlpError(Exception):
    """The request as a whole is unusable: `status` is the HTTP status to answer with
    (400 undecodable, 413 too big after decompression, 415 unsupported content type or
    encoding) and `message` a short sentence for the sender (put it in `status_body`)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    @property
    def rpc_code(self) -> int:
        """The google.rpc.Code for `status_body`: RESOURCE_EXHAUSTED for 413, else
        INVALID_ARGUMENT."""
        return rpc_code(self.status)


@dataclass(frozen=True)
class Point:
    """One number to count, from a metric data point or a log event (Claude Code's
    api_request, Codex's sse_event)."""

    tool: str  # "claude_code", "gemini_cli", "codex", "cursor", "copilot", or for other
    #            gen_ai.* metrics the resource's service.name
    quantity: str  # "tokens", "cost", "sessions", "requests", "activity:<kind>"
    token_type: str | None  # input, output, cache_read, cache_creation, thought, tool, cache,
    #                         and Codex's cached_input, reasoning_output (parts of input, output)
    value: float
    cumulative: bool  # True: running total since start_ns; False: delta over the window
    start_ns: int
    time_ns: int
    attributes: dict[str, str]  # IDENTITY_KEYS found, resource < scope < point
    model: str | None
    series: str  # hex digest of resource attrs + scope name + metric name + point attrs
    event_id: str | None  # logs: the event's own id, else a digest of the record; metrics: None


@dataclass
class Decoded:
    points: list[Point] = field(default_factory=list)
    rejected: int = 0  # data points (metrics) or log records (logs) refused
    reasons: list[str] = field(default_factory=list)  # distinct, at most MAX_REASONS

    def reject(self, reason: str, count: int = 1) -> None:
        self.rejected += count
        if reason not in self.reasons and len(self.reasons) < MAX_REASONS:
            self.reasons.append(reason)

    def message(self) -> str:
        """The reasons as one line for partial_success.error_message ("" when none)."""
        return "; ".join(self.reasons)
