"""gunicorn, set up so that slow or idle clients cannot starve complete requests.

`tokenboard serve` runs `WebServer`: a gunicorn master (prefork) with WEB_CONCURRENCY
worker processes of `BufferingWorker`, each with WEB_THREADS threads. Tests, demos and
benchmarks run the same worker class in process on a thread (`Server`).

- `BufferingWorker` is gunicorn's threaded worker (gthread), except that a connection is
  handed to a thread only once its whole request (headers and body, as announced by
  Content-Length) has arrived. Until then it waits in the worker's poller, costing no
  thread, for at most HTTP_IDLE_TIMEOUT seconds without a byte (gunicorn's `keepalive`,
  which also bounds idle kept-alive connections). Slow or stalled clients therefore hold
  only a connection, never the threads that answer complete requests.
- HTTP_CONNECTION_LIMIT bounds open connections over all workers (gunicorn's
  `worker_connections`, per worker); a worker at its share stops accepting until some
  close. The soft RLIMIT_NOFILE is raised to the hard limit so the limit can be reached.
- A body announced above twice the largest route limit is not buffered: the request goes
  to its route at once, which answers 413 from Content-Length without reading it.
- `Expect: 100-continue` (curl sends it for bodies over 1 kB) is answered by the worker
  while it waits for the body, and taken out of the request it hands on.
- On SIGTERM (gunicorn's graceful stop) each worker stops accepting and closes its
  listening socket at once, drops connections whose request has not fully arrived (their
  clients retry), lets requests in flight finish for up to `grace` seconds, then exits.
  A worker whose master was killed (SIGKILL) does the same within a second.
"""

from __future__ import annotations

import errno
import logging
import math
import os
import selectors
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from gunicorn import glogging
from gunicorn.app.base import BaseApplication
from gunicorn.config import Config
from gunicorn.sock import create_sockets
from gunicorn.workers.gthread import TConn, ThreadWorker

log = logging.getLogger(__name__)

DEFAULT_CONNECTION_LIMIT = 4000
DEFAULT_IDLE_TIMEOUT = 10
DEFAULT_MAX_BODY = 2_000_000
FD_MARGIN = 64  # descriptors kept for Redis, Slack, logs and the like
ACCEPT_BATCH = 256  # connections accepted per wake-up of a worker's loop
RECV_SIZE = 256 * 1024
MAX_HEAD = 64 * 1024  # headers longer than this go to gunicorn's parser, which refuses them
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


def request_arrived(data: bytes | bytearray, cap: int) -> bool:
    """Whether `data` holds a whole HTTP/1 request (headers, and the body Content-Length
    announces), or enough to let gunicorn's parser and the route answer it (headers too
    long, a body announced over `cap`, a Content-Length that is not a number)."""
    head = _head(data)
    if head is None:
        return len(data) > MAX_HEAD
    end, fields = head
    length = 0
    for name, value in fields:
        if name == b"transfer-encoding":  # chunked: complete once the last chunk came
            return data.endswith(b"0\r\n\r\n") or len(data) > cap
        if name == b"content-length":
            if not value.isdigit():
                return True  # the parser answers 400
            length = int(value)
    return length > cap or len(data) - (end + 4) >= length


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
        self.arriving: set[TConn] = set()
        self.max_buffer = getattr(self.app, "max_buffer", 2 * DEFAULT_MAX_BODY)
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
        conn.arrived = bytearray()
        conn.continued = False  # "100 Continue" sent for this request
        conn.timeout = time.monotonic() + self.cfg.keepalive
        self.arriving.add(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_bytes, conn))

    def _on_bytes(self, conn: TConn, _sock: Any) -> None:
        try:
            data = conn.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away before its request was complete
            self._drop(conn)
            return
        conn.arrived += data
        conn.timeout = time.monotonic() + self.cfg.keepalive
        if not request_arrived(conn.arrived, self.max_buffer):
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
        conn.parser.unreader.unread(without_expect(bytes(conn.arrived)))
        conn.arrived = bytearray()
        self.enqueue_req(conn)

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
    max_body: int = DEFAULT_MAX_BODY
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
        self.max_buffer = 2 * limits.max_body + 1
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

    def __init__(self, max_buffer: int) -> None:
        self.max_buffer = max_buffer


class Server:
    """One `BufferingWorker` serving `wsgi_app` on a thread of this process, for tests,
    demos and benchmarks; `port=0` picks a free port. `start()`, then `stop()`."""

    def __init__(self, wsgi_app: WSGIApp, host: str = "127.0.0.1", port: int = 0,
                 threads: int = 8, connection_limit: int = DEFAULT_CONNECTION_LIMIT,
                 idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
                 max_body: int = DEFAULT_MAX_BODY, grace: float = 10.0,
                 reuse_port: bool = False) -> None:
        self.wsgi_app = wsgi_app
        limits = Limits(threads=threads, connection_limit=connection_limit,
                        idle_timeout=idle_timeout, max_body=max_body, grace=grace)
        cfg = Config()
        options = {**limits.options(), "bind": [f"{host}:{port}"], "reuse_port": reuse_port}
        for name, value in options.items():
            if name != "logger_class":
                cfg.set(name, value)
        self.listeners = create_sockets(cfg, glogging.Logger(cfg))
        self.worker = BufferingWorker(0, os.getppid(), self.listeners,
                                      _Holder(2 * max_body + 1), cfg.timeout, cfg,
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
