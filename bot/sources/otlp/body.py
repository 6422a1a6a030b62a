"""An OTLP/HTTP request body made ready to decode: content type, Content-Encoding (gzip)
and the size cap, applied again after decompression."""

from __future__ import annotations

import zlib

from bot.sources.otlp.model import JSON, PROTOBUF, OtlpError


def unpack_body(body: bytes, content_type: str, content_encoding: str,
              max_bytes: int) -> tuple[bytes, bool]:
    """The request body ready to decode, and whether it is OTLP/JSON.

    Accepts `application/x-protobuf` and `application/json` (parameters such as charset are
    ignored) and Content-Encoding `gzip` (or none / identity). The size cap applies to the
    body as sent and again after decompression, which is streamed so a gzip bomb is never
    inflated beyond `max_bytes + 1` bytes."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == PROTOBUF:
        is_json = False
    elif media == JSON:
        is_json = True
    else:
        raise OtlpError(415, f"unsupported Content-Type {media or '(none)'!r}; "
                             f"use {PROTOBUF} or {JSON}")
    codings = [c.strip().lower() for c in content_encoding.split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if len(body) > max_bytes:
        raise OtlpError(413, f"body is larger than {max_bytes} bytes")
    if not codings:
        return body, is_json
    if codings not in (["gzip"], ["x-gzip"]):
        raise OtlpError(415, f"unsupported Content-Encoding {content_encoding.strip()!r}; "
                             "use gzip or none")
    return _gunzip(body, max_bytes), is_json


def _gunzip(body: bytes, max_bytes: int) -> bytes:
    out: list[bytes] = []
    total = 0
    data = body
    while True:  # one gzip member per turn (concatenated members are valid gzip)
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            while True:
                # max_length > 0 always (total <= max_bytes here): at most one byte over
                chunk = inflater.decompress(data, max_bytes + 1 - total)
                total += len(chunk)
                if total > max_bytes:
                    raise OtlpError(413, f"body is larger than {max_bytes} bytes "
                                         "after decompression")
                out.append(chunk)
                if inflater.eof:
                    break
                data = inflater.unconsumed_tail
                if not chunk and not data:
                    raise OtlpError(400, "gzip body is truncated")
        except zlib.error as exc:
            raise OtlpError(400, f"body is not valid gzip: {exc}") from None
        data = inflater.unused_data
        if not data:
            return b"".join(out)
