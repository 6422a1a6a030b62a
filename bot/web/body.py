"""Reading a request body within a limit, checked from Content-Length before any of it is
read (shared by the report endpoints)."""

from __future__ import annotations

from typing import Any


class BodyError(Exception):
    """The body cannot be read: `status` 400 (bad Content-Length) or 413 (too large)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def declared_length(environ: dict[str, Any], limit: int) -> int:
    """Content-Length, or BodyError when it is not a number or is over `limit`."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise BodyError(400, "bad Content-Length") from None
    if length < 0:
        raise BodyError(400, "bad Content-Length")
    if length > limit:
        raise BodyError(413, f"body is {length} bytes; the limit is {limit}")
    return length


def read_body(environ: dict[str, Any], length: int) -> bytes:
    return environ["wsgi.input"].read(length) if length else b""
