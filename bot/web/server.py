"""gunicorn, set up so that slow or idle clients cannot starve complete requests.

`tokenboard serve` runs `WebServer`: a gunicorn master (prefork) with WEB_CONCURRENCY
worker processes of `BufferingWorker`, each with WEB_THREADS threads. Tests, demos and
benchmarks run the same worker class in process on a thread (`Server`).

- `BufferingWorker` is gunicorn's threaded worker (gthread), except that a connection is
  handed to a thread only once its whole request (headers and body, as announced by
  Content-Length, or up to the last chunk) has arrived. Until then it waits in the
  worker's poller, costing no thread, for at most HTTP_IDLE_TIMEOUT seconds without a
  byte (gunicorn's `keepalive`, which also bounds idle kept-alive connections). Slow or
  stalled clients therefore hold only a connection, never the threads that answer
  complete requests.
- Each path has its own body limit (`BodyLimits`, built from Settings): /slack/* takes
  SLACK_MAX_BODY_BYTES, /v1/* (OTLP) OTLP_MAX_BYTES, /ingest, /webhooks/* and every
  other path 2 MB. The worker reads the path from the request line and refuses a body
  over that limit itself, before buffering it: at once when Content-Length announces
  it (an `Expect: 100-continue` client gets the 413, not "100 Continue"), or as soon as
  a chunked body passes it. It never holds more than the headers and the limit's worth
  of body (at most 64 KiB in all when that is more: its first read, before the path is
  known). The answer is `413` with a short JSON body naming the limit and
  `Connection: close`; the worker then reads and drops what the client still sends
  until it closes (for LINGER = 30 s at most), so a client that writes its whole body
  before reading gets the 413 rather than a reset. The routes check Content-Length
  against the same limits again.
- HTTP_CONNECTION_LIMIT bounds open connections over all workers (gunicorn's
  `worker_connections`, per worker); a worker at its share stops accepting until some
  close. The soft RLIMIT_NOFILE is raised to the hard limit so the limit can be reached.
- `Expect: 100-continue` (curl sends it for bodies over 1 kB) is answered by the worker
  while it waits for a body within the limit, and taken out of the request it hands on.
- On SIGTERM (gunicorn's graceful stop) each worker stops accepting and closes its
  listening socket at once, drops connections whose request has not fully arrived (their
  clients retry), lets requests in flight finish for up to `grace` seconds, then exits.
  A worker whose master was killed (SIGKILL) does the same within a second.
"""

from __future__ import annotations

import errno
import json
import logging
import math
import os
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from functools import partial
from typing import Any
from urllib.parse import unquote_to_bytes

from gunicorn import glogging
from gunicorn.app.base import BaseApplication
from gunicorn.config import Config
from gunicorn.sock import create_sockets
from gunicorn.workers.gthread import TConn, ThreadWorker

from bot.core.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_CONNECTION_LIMIT = 4000
DEFAULT_IDLE_TIMEOUT = 10
DEFAULT_MAX_BODY = 2_000_000
FD_MARGIN = 64  # descriptors kept for Redis, Slack, logs and the like
ACCEPT_BATCH = 256  # connections accepted per wake-up of a worker's loop
RECV_SIZE = 256 * 1024
MAX_HEAD = 64 * 1024  # headers longer than this go to gunicorn's parser, which refuses them
LINGER = 30.0  # seconds a refused request's remaining bytes are read and dropped, at most
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
WSGIApp = Callable[..., Any]


def raise_fd_limit(wanted: int) -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; the connections it leaves room for.

    Returns `wanted`, or fewer if the descriptor limit cannot hold that many (logged).
    """
    try:
        import resource
    except ImportError:  # not a Unix
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, wanted + FD_MARGIN)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit from %d: %s", soft, exc)
    room = soft - FD_MARGIN
    if room < wanted:
        log.warning("open-file limit %d allows %d HTTP connections, not %d", soft, room, wanted)
        return max(10, room)
    return wanted


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


class BufferingWorker(ThreadWorker):
    """gunicorn's threaded worker, handing a connection to a thread only once its request
    has fully arrived (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arriving: set[TConn] = set()  # requests arriving, and refused ones draining
        limits = getattr(self.app, "body_limits", None)
        self.body_limits: BodyLimits = limits if isinstance(limits, BodyLimits) \
            else BodyLimits.from_settings(Settings())
        self.sink = bytearray(RECV_SIZE)  # where a refused request's bytes are dropped
        self.stopped_taking = False

    def accept(self, listener: Any) -> None:
        for _ in range(ACCEPT_BATCH):
            if self.nr_conns >= self.worker_connections:
                return
            try:
                sock, client = listener.accept()
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                    raise
                return
            self.nr_conns += 1
            self._await_request(TConn(self.cfg, sock, client, listener.getsockname()))

    def on_client_socket_readable(self, conn: TConn, client: Any) -> None:
        """A kept-alive connection has bytes of its next request: buffer it too."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._await_request(conn)

    def _await_request(self, conn: TConn) -> None:
        conn.sock.setblocking(False)
        self._forget(conn)
        conn.continued = False  # "100 Continue" sent for this request
        conn.timeout = time.monotonic() + self.cfg.keepalive
        self.arriving.add(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_bytes, conn))

    @staticmethod
    def _forget(conn: TConn) -> None:
        """Clear what `conn` holds of a request."""
        conn.arrived = bytearray()  # the request line and headers, and the bytes with them
        conn.head = None  # what the headers say (a Head), once they are all in
        conn.body = []  # the bytes read after the headers were in
        conn.size = 0  # bytes of the request read so far
        conn.tail = b""  # the last 5 of them

    def _on_bytes(self, conn: TConn, _sock: Any) -> None:
        head: Head | None = conn.head
        room = MAX_HEAD + 1 - conn.size if head is None else head.keep - conn.size
        try:
            data = conn.sock.recv(max(1, min(RECV_SIZE, room)))
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away before its request was complete
            self._drop(conn)
            return
        conn.timeout = time.monotonic() + self.cfg.keepalive
        conn.size += len(data)
        conn.tail = (conn.tail + data[-5:])[-5:]
        if head is None:
            conn.arrived += data
            head = conn.head = read_head(conn.arrived, self.body_limits)
        else:  # kept apart: joining as they come would copy the body again and again
            conn.body.append(data)
        if head is None:
            step = Step.READY if conn.size > MAX_HEAD else Step.WAIT
        else:
            step = head.step(conn.size, conn.tail)
        if step is Step.REFUSE and head is not None:
            self._refuse(conn, head)
            return
        if step is Step.WAIT:
            if not conn.continued and expects_continue(conn.arrived):
                conn.continued = True
                try:
                    conn.sock.send(CONTINUE)
                except OSError:
                    pass  # gone: the next read says so
            return
        self.poller.unregister(conn.sock)
        self.arriving.discard(conn)
        conn.data_ready = True
        conn.sock.setblocking(True)
        conn.init()  # the parser, then the bytes it will read first
        conn.parser.unreader.unread(without_expect(b"".join([conn.arrived, *conn.body])))
        self._forget(conn)
        self.enqueue_req(conn)

    def _refuse(self, conn: TConn, head: Head) -> None:
        """Answer 413 for a body over its route's limit, then read and drop whatever the
        client still sends, until it closes (for at most LINGER seconds, and
        HTTP_IDLE_TIMEOUT without a byte): a client that sends its whole body before
        reading the answer then gets the 413, not a reset connection."""
        self._forget(conn)
        log.info("refused 413 before reading the body: %s bytes announced, the limit is %d",
                 "no length" if head.length is None or head.chunked else head.length,
                 head.limit)
        try:
            conn.sock.send(too_large(head))
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._drop(conn)
            return
        conn.linger_until = time.monotonic() + LINGER
        conn.timeout = min(conn.timeout, conn.linger_until)
        self.poller.modify(conn.sock, selectors.EVENT_READ, partial(self._discard, conn))

    def _discard(self, conn: TConn, _sock: Any) -> None:
        try:
            got = conn.sock.recv_into(self.sink)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            got = 0
        if not got:  # the client closed (or reset) the connection: done
            self._drop(conn)
            return
        conn.timeout = min(time.monotonic() + self.cfg.keepalive, conn.linger_until)

    def _drop(self, conn: TConn) -> None:
        if conn in self.arriving:
            self.arriving.discard(conn)
            try:
                self.poller.unregister(conn.sock)
            except (KeyError, ValueError, OSError):
                pass
            self.nr_conns -= 1
            conn.close()

    def murder_pending(self) -> None:
        super().murder_pending()
        now = time.monotonic()
        for conn in [c for c in self.arriving if c.timeout <= now]:
            self._drop(conn)

    def is_parent_alive(self) -> bool:
        """A worker whose master died (SIGKILL) lets go of the port at once, so a new
        `tokenboard serve` can bind it, then finishes what is in flight and exits."""
        if super().is_parent_alive():
            return True
        self.stop_taking()
        return False

    def handle_exit(self, sig: int, frame: Any) -> None:
        """SIGTERM: stop taking requests now; the loop then drains what is in flight."""
        if self.alive:
            self.alive = False
            self.method_queue.defer(self.stop_taking)

    def stop_taking(self) -> None:
        """Close the listening sockets (new connections are refused at once, not queued
        behind a stopping worker) and the connections whose request has not arrived."""
        if self.stopped_taking:
            return
        self.stopped_taking = True
        self.set_accept_enabled(False)
        for listener in self.sockets:
            listener.close()
        for conn in list(self.arriving):
            self._drop(conn)


@dataclass(frozen=True)
class Limits:
    """What `tokenboard serve` (and the in-process `Server`) tunes in gunicorn."""

    workers: int = 1
    threads: int = 8
    connection_limit: int = DEFAULT_CONNECTION_LIMIT
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    body: BodyLimits = field(default_factory=lambda: BodyLimits.from_settings(Settings()))
    grace: float = 10.0

    def options(self) -> dict[str, Any]:
        """gunicorn settings (what maps to what is in docs/operations.md)."""
        total = raise_fd_limit(self.connection_limit)
        return {
            "workers": self.workers,
            "worker_class": f"{__name__}.BufferingWorker",
            "threads": self.threads,
            "worker_connections": max(self.threads + 2, math.ceil(total / self.workers)),
            "keepalive": max(1, math.ceil(self.idle_timeout)),
            "graceful_timeout": max(1, math.ceil(self.grace)),
            "timeout": 30,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "info",
            "logger_class": f"{__name__}.GunicornLog",
            "control_socket_disable": True,
            "proc_name": "tokenboard",
        }


class GunicornLog(glogging.Logger):
    """gunicorn's own lines go through the root logger, in the same format as ours."""

    def setup(self, cfg: Config) -> None:
        super().setup(cfg)
        for handler in list(self.error_log.handlers):
            self.error_log.removeHandler(handler)
        self.error_log.propagate = True


class WebServer(BaseApplication):
    """The gunicorn master of `tokenboard serve`: `load` builds the WSGI app once, in the
    master (preload), and the workers fork from it."""

    def __init__(self, load: Callable[[], WSGIApp], bind: str, limits: Limits,
                 hooks: dict[str, Callable[..., Any]] | None = None) -> None:
        self._load = load
        self.body_limits = limits.body  # read by each worker (forked from this master)
        self.settings_ = {**limits.options(), "bind": [bind], "preload_app": True,
                          **(hooks or {})}
        super().__init__()

    def load_config(self) -> None:
        for name, value in self.settings_.items():
            self.cfg.set(name, value)

    def load(self) -> WSGIApp:
        return self._load()


class _Holder:
    """What a worker asks of its gunicorn application object."""

    def __init__(self, body_limits: BodyLimits) -> None:
        self.body_limits = body_limits


class Server:
    """One `BufferingWorker` serving `wsgi_app` on a thread of this process, for tests,
    demos and benchmarks; `port=0` picks a free port; `body_limits` None: those of the
    default Settings. `start()`, then `stop()`."""

    def __init__(self, wsgi_app: WSGIApp, host: str = "127.0.0.1", port: int = 0,
                 threads: int = 8, connection_limit: int = DEFAULT_CONNECTION_LIMIT,
                 idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
                 body_limits: BodyLimits | None = None, grace: float = 10.0,
                 reuse_port: bool = False) -> None:
        self.wsgi_app = wsgi_app
        body = body_limits or BodyLimits.from_settings(Settings())
        limits = Limits(threads=threads, connection_limit=connection_limit,
                        idle_timeout=idle_timeout, body=body, grace=grace)
        cfg = Config()
        options = {**limits.options(), "bind": [f"{host}:{port}"], "reuse_port": reuse_port}
        for name, value in options.items():
            if name != "logger_class":
                cfg.set(name, value)
        self.listeners = create_sockets(cfg, glogging.Logger(cfg))
        self.worker = BufferingWorker(0, os.getppid(), self.listeners,
                                      _Holder(body), cfg.timeout, cfg,
                                      glogging.Logger(cfg))
        self.grace = grace
        self.thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.listeners[0].sock.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        worker = self.worker
        worker.wsgi = self.wsgi_app
        worker.tpool = worker.get_thread_pool()
        worker.poller = selectors.DefaultSelector()
        worker.method_queue.init()
        worker.booted = True
        self.thread = threading.Thread(target=worker.run, daemon=True, name="http")
        self.thread.start()
        return self

    def stop(self) -> None:
        self.worker.alive = False
        self.worker.method_queue.defer(self.worker.stop_taking)
        if self.thread:
            self.thread.join(timeout=self.grace + 5)
        self.worker.tmp.close()
