"""Raw HTTP request bytes and the small body limits the request-arrival tests use."""

from __future__ import annotations

from bot.web.server import (
    BodyLimits,
)

MiB = 1024 * 1024


LIMITS = BodyLimits(routes=(("/slack/", 100), ("/ingest", 200), ("/v1/", 1000)), default=50)


def head(path: str, *headers: str) -> bytes:
    return "\r\n".join([f"POST {path} HTTP/1.1", "Host: t", *headers]).encode() + b"\r\n\r\n"


def chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"
