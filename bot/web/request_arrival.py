"""Reading a request as it arrives, before any thread takes it: which route's body limit
applies, whether the whole request is in, and the 413 for a body over its limit.

Pure: bytes in, decisions out (`Step`), no sockets; the buffering worker
(`bot.web.buffering_worker`) calls it on every read.

- Each path has its own body limit (`BodyLimits`, built from Settings): /slack/* takes
  SLACK_MAX_BODY_BYTES, /v1/* (OTLP) OTLP_MAX_BYTES, /ingest, /webhooks/* and every
  other path 2 MB. The path is read from the request line (`request_path`) and a body
  over that limit is refused before it is buffered: at once when Content-Length
  announces it (an `Expect: 100-continue` client gets the 413, not "100 Continue"), or
  as soon as a chunked body passes it (`Head.step`). The answer (`too_large`) is `413`
  with a short JSON body naming the limit and `Connection: close`.
- `Expect: 100-continue` (curl sends it for bodies over 1 kB): `expects_continue` says
  whether to answer it, `without_expect` takes it out of the request handed on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from urllib.parse import unquote_to_bytes

from bot.core.settings import Settings

DEFAULT_MAX_BODY = 2_000_000
MAX_HEAD = 64 * 1024  # headers longer than this go to gunicorn's parser, which refuses them
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def _head(data: bytes | bytearray) -> tuple[int, list[tuple[bytes, bytes]]] | None:
    """Where the headers end, and each header's (lower-case name, value); None until the
    headers have all arrived."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    fields = []
    for line in bytes(data[:end]).split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        fields.append((name.strip().lower(), value.strip()))
    return end, fields


@dataclass(frozen=True)
class BodyLimits:
    """The largest request body each path takes, in bytes: `routes` pairs a path (exact) or
    a prefix (ending in "/") with its limit, the longest match wins; every other path gets
    `default`. Built from Settings by `from_settings`, the one place that says which limit
    belongs to which route."""

    routes: tuple[tuple[str, int], ...] = ()
    default: int = DEFAULT_MAX_BODY

    @classmethod
    def from_settings(cls, settings: Settings) -> BodyLimits:
        """/slack/* (events, and the install pages of "Add to Slack"): SLACK_MAX_BODY_BYTES;
        /v1/* (OTLP): OTLP_MAX_BYTES; /ingest, /webhooks/* and any other path: 2 MB."""
        return cls(routes=(("/slack/", settings.slack_max_body_bytes),
                           ("/ingest", settings.max_body_bytes),
                           ("/webhooks/", settings.max_body_bytes),
                           ("/v1/", settings.otlp_max_bytes)),
                   default=settings.max_body_bytes)

    def route(self, path: str) -> tuple[str, int]:
        """The entry of `routes` that `path` falls under, else ("", default)."""
        best = ("", self.default)
        for prefix, limit in self.routes:
            matches = path == prefix or (prefix.endswith("/") and path.startswith(prefix))
            if matches and len(prefix) > len(best[0]):
                best = (prefix, limit)
        return best

    def for_path(self, path: str) -> int:
        return self.route(path)[1]


def request_path(line: bytes) -> str:
    """The path of a request line, as gunicorn hands it to the app for routing: without
    query or fragment, percent-decoded (`POST /%69ngest?x=1 HTTP/1.1` is "/ingest"); the
    path of an absolute URI; "" when there is none."""
    parts = line.split(b" ")
    if len(parts) < 2:
        return ""
    target = parts[1].split(b"?", 1)[0].split(b"#", 1)[0]
    if not target.startswith(b"/"):  # absolute form (http://host/path), or "*"
        scheme, sep, rest = target.partition(b"://")
        target = b"/" + rest.partition(b"/")[2] if sep and scheme.isalpha() else b""
    return unquote_to_bytes(target).decode("latin-1")


class Step(Enum):
    WAIT = "wait"  # more of the request is still to come
    READY = "ready"  # hand it to a thread: it has arrived (or gunicorn's parser refuses it)
    REFUSE = "refuse"  # its body is over its route's limit: answer 413 now, buffer no more


@dataclass(frozen=True)
class Head:
    """What a request's headers say about its body (`read_head`)."""

    start: int  # where the body starts: the length of the request line and headers
    limit: int  # the body limit of the request's path
    route: str = ""  # the path or prefix that limit belongs to ("" for the default)
    length: int | None = None  # the body length Content-Length announces (the largest)
    chunked: bool = False  # Transfer-Encoding (which overrides Content-Length)
    bad_length: bool = False  # a Content-Length that is not a number

    @property
    def keep(self) -> int:
        """The most bytes of the request worth holding before deciding: one past the
        limit's worth of body."""
        return self.start + self.limit + 1

    def step(self, received: int, tail: bytes) -> Step:
        """What `received` bytes of the request (headers included), the last of them
        `tail` (5 bytes, or all when fewer), call for.

        - Content-Length over the limit: refuse at once, before any of the body (an
          `Expect: 100-continue` client is answered 413, never invited to send it).
          Within it: ready once that many bytes of body are in. Not a number: ready
          (gunicorn's parser answers 400).
        - Chunked: refused as soon as the bytes after the headers, as sent (chunk framing
          included), pass the limit; ready once the last chunk is in.
        """
        if self.bad_length:
            return Step.READY
        body = received - self.start
        if self.chunked:
            if body > self.limit:
                return Step.REFUSE
            return Step.READY if tail.endswith(b"0\r\n\r\n") else Step.WAIT
        length = self.length or 0
        if length > self.limit:
            return Step.REFUSE
        return Step.READY if body >= length else Step.WAIT


def read_head(data: bytes | bytearray, limits: BodyLimits) -> Head | None:
    """The `Head` of the request whose first bytes are `data`, its limit that of the path
    on its request line; None until the headers have all arrived."""
    head = _head(data)
    if head is None:
        return None
    end, fields = head
    route, limit = limits.route(request_path(bytes(data[:data.find(b"\r\n")])))
    chunked = bad = False
    lengths = []
    for name, value in fields:
        if name == b"transfer-encoding":
            chunked = True
        elif name == b"content-length":
            if value.isdigit():
                lengths.append(int(value))
            else:
                bad = True
    return Head(end + 4, limit, route, max(lengths) if lengths else None, chunked, bad)


def arrival(data: bytes | bytearray, limits: BodyLimits) -> Step:
    """What the bytes of one request received so far, `data`, call for: wait for more,
    hand it on, or refuse it (413) because its body is over the limit of its path.
    Headers still incomplete: wait, for up to MAX_HEAD bytes; beyond, gunicorn's parser
    answers (it refuses headers that long). Then as `Head.step` says."""
    head = read_head(data, limits)
    if head is None:
        return Step.READY if len(data) > MAX_HEAD else Step.WAIT
    return head.step(len(data), bytes(data[-5:]))


def request_arrived(data: bytes | bytearray, cap: int) -> bool:
    """Whether `data` is enough to act on (hand on or refuse), `cap` being every path's
    body limit."""
    return arrival(data, BodyLimits(default=cap)) is not Step.WAIT


def too_large(head: Head) -> bytes:
    """The whole 413 answer for a refused request (`Connection: close`): a JSON body
    saying the route's limit."""
    size = f"{head.length} bytes" if head.length is not None and not head.chunked \
        else f"over {head.limit} bytes"
    where = f" for {head.route}{'*' if head.route.endswith('/') else ''}" if head.route else ""
    body = json.dumps({"error": f"body is {size}; the limit is {head.limit}{where}",
                       "limit": head.limit}).encode()
    return (b"HTTP/1.1 413 Content Too Large\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)) + body


def expects_continue(data: bytes | bytearray) -> bool:
    """Whether the headers in `data` ask for "100 Continue" before the body is sent (curl
    does for bodies over 1 kB): an HTTP/1.1 request with `Expect: 100-continue`."""
    head = _head(data)
    return head is not None and data.split(b"\r\n", 1)[0].endswith(b"HTTP/1.1") and \
        (b"expect", b"100-continue") in [(n, v.lower()) for n, v in head[1]]


def without_expect(data: bytes) -> bytes:
    """`data` without its Expect header: the buffering worker answered it already, or
    chose not to invite the body, so gunicorn must not send "100 Continue" again."""
    head = _head(data)
    if head is None or not any(name == b"expect" for name, _ in head[1]):
        return data
    end = head[0]
    lines = data[:end].split(b"\r\n")
    kept = lines[:1] + [line for line in lines[1:]
                        if line.partition(b":")[0].strip().lower() != b"expect"]
    return b"\r\n".join(kept) + data[end:]

