"""gunicorn's threaded worker (gthread), handing a connection to a thread only once its
whole request has arrived, so that slow or idle clients cannot starve complete requests.

- A connection waits in the worker's poller, costing no thread, until its request
  (headers and body, as announced by Content-Length, or up to the last chunk) has
  arrived, for at most HTTP_IDLE_TIMEOUT seconds without a byte (gunicorn's
  `keepalive`, which also bounds idle kept-alive connections). Slow or stalled clients
  therefore hold only a connection, never the threads that answer complete requests.
- Each request's body limit is that of its path (`bot.web.request_arrival.BodyLimits`,
  read from the gunicorn application object's `body_limits`). A body over it is refused
  before it is buffered: the worker never holds more than the headers and the limit's
  worth of body (at most 64 KiB in all when that is more: its first read, before the
  path is known). After the 413 it reads and drops what the client still sends until it
  closes (for LINGER = 30 s at most), so a client that writes its whole body before
  reading gets the 413 rather than a reset. The routes check Content-Length against the
  same limits again.
- `Expect: 100-continue` is answered by the worker while it waits for a body within the
  limit, and taken out of the request it hands on.
- On SIGTERM (gunicorn's graceful stop) the worker stops accepting and closes its
  listening socket at once, drops connections whose request has not fully arrived (their
  clients retry), lets requests in flight finish for up to the grace period, then exits.
  A worker whose master was killed (SIGKILL) does the same: at once on Linux, where
  the kernel sends it SIGTERM (`bot.web.server.die_with_master`), else within a second.
"""

from __future__ import annotations

import errno
import logging
import selectors
import socket
import time
from functools import partial
from typing import Any

from gunicorn.workers.gthread import TConn, ThreadWorker

from bot.core.settings import Settings
from bot.web.request_arrival import (
    CONTINUE,
    MAX_HEAD,
    BodyLimits,
    Head,
    Step,
    expects_continue,
    read_head,
    too_large,
    without_expect,
)

log = logging.getLogger(__name__)

ACCEPT_BATCH = 256  # connections accepted per wake-up of a worker's loop
RECV_SIZE = 256 * 1024
LINGER = 30.0  # seconds a refused request's remaining bytes are read and dropped, at most


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

