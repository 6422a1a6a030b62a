"""OTLP/HTTP wire format: request bodies in, normalized usage points out, responses back.

Pure functions, no Redis and no HTTP framework: the route reads the body and headers,
calls `unpack_body`, then `decode_metrics` / `decode_logs`, counts the `Point`s, and
answers with `metrics_response` / `logs_response` (or `status_body` with the `rpc_code`
of the HTTP status, e.g. `OtlpError.status`).

Decoding uses the classes generated from opentelemetry-proto (binary protobuf, and
`google.protobuf.json_format` for OTLP/JSON), never a parser of our own. What is counted
is listed in docs/otlp.md; every other metric and log record is ignored silently, because
instrumented apps export plenty that has nothing to do with AI usage.

- `model`: `Point`, `Decoded`, `OtlpError`, the media types
- `body`: content type, Content-Encoding and size cap (`unpack_body`)
- `parse`: protobuf and OTLP/JSON into the generated request classes
- `attributes`: attribute lookups, digests, value checks
- `metrics`, `logs`: requests → points (`decode_metrics`, `decode_logs`)
- `answers`: responses and google.rpc.Status bodies
"""

from bot.sources.otlp.answers import logs_response, metrics_response, rpc_code, status_body
from bot.sources.otlp.body import unpack_body
from bot.sources.otlp.logs import API_REQUEST, decode_logs
from bot.sources.otlp.metrics import GENAI_FALLBACK_TOOL, GENAI_TOKEN_USAGE, METRICS, decode_metrics
from bot.sources.otlp.model import (
    IDENTITY_KEYS,
    JSON,
    MAX_REASONS,
    PROTOBUF,
    Decoded,
    OtlpError,
    Point,
)
from bot.sources.otlp.parse import parse_logs_request, parse_metrics_request

__all__ = ["API_REQUEST", "GENAI_FALLBACK_TOOL", "GENAI_TOKEN_USAGE", "IDENTITY_KEYS", "JSON",
           "MAX_REASONS", "METRICS", "PROTOBUF", "Decoded", "OtlpError", "Point", "decode_logs",
           "decode_metrics", "logs_response", "metrics_response", "parse_logs_request",
           "parse_metrics_request", "rpc_code", "status_body", "unpack_body"]
