"""waitress, set up so that slow or idle clients cannot starve complete requests.

- waitress hands a request to a worker thread only once its headers and body have
  arrived, so slow clients never hold the threads that answer complete requests; they hold
  only a connection, for at most `idle_timeout` seconds without sending anything.
- `connection_limit` (default 4000) bounds open connections; once reached, waitress stops
  accepting until some close. poll() instead of select() (select() fails past 1024 file
  descriptors), and the soft RLIMIT_NOFILE raised to the hard limit at start so the limit
  can be reached.
- Bodies above twice `max_body` (the largest limit of any route) are refused (413) by
  waitress from their Content-Length, before a byte of them is read; below that, the
  route answers its own 413 with the limit in the message.
- `stop()` (SIGTERM in `tokenboard serve`) stops accepting, closes idle connections and
  those whose request has not fully arrived, lets complete requests finish and their
  answers go out for up to `grace` seconds, then closes the rest and the worker threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher

log = logging.getLogger(__name__)

DEFAULT_CONNECTION_LIMIT = 4000
DEFAULT_IDLE_TIMEOUT = 10
DEFAULT_MAX_BODY = 2_000_000
FD_MARGIN = 64  # descriptors kept for Redis, Slack, logs and the like
ACCEPT_BATCH = 256  # connections accepted per wake-up of the loop


class _Listener(TcpWSGIServer):
    """waitress's TCP server, accepting every pending connection when woken, not one.

    waitress accepts one connection per turn of its loop, and each turn polls every open
    connection: a burst of 1,000 connections would take a second to accept, with new
    requests waiting behind it.
    """

    def handle_accept(self) -> None:
        for _ in range(ACCEPT_BATCH):
            before = len(self._map)
            if before >= self.adj.connection_limit:
                return
            super().handle_accept()
            if len(self._map) == before:  # nothing left to accept (or a failed accept)
                return


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


class Server:
    """waitress serving `wsgi_app`; `port=0` picks a free port (tests, benchmarks).

    `run()` serves on the calling thread until `request_stop()`; `start()` runs it on a
    background thread and `stop()` ends it and waits.
    """

    def __init__(self, wsgi_app: Callable, host: str = "127.0.0.1", port: int = 0,
                 threads: int = 8, loop_timeout: float = 1.0,
                 connection_limit: int = DEFAULT_CONNECTION_LIMIT,
                 idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
                 max_body: int = DEFAULT_MAX_BODY, grace: float = 10.0) -> None:
        # loop_timeout: how often waitress's loop wakes; small values make stop() quick.
        # waitress counts its own listening socket and wake-up pipe among the connections.
        limit = raise_fd_limit(connection_limit) + 2
        adj = Adjustments(
            host=host, port=port, threads=threads, ident="tokenboard",
            asyncore_loop_timeout=loop_timeout, asyncore_use_poll=True,
            connection_limit=limit, channel_timeout=idle_timeout,
            cleanup_interval=min(1.0, idle_timeout), max_request_body_size=2 * max_body + 1)
        if len(adj.listen) != 1:
            raise ValueError(f"{host}:{port} is {len(adj.listen)} addresses; give one")
        dispatcher = ThreadedTaskDispatcher()
        dispatcher.set_thread_count(threads)
        self.server = _Listener(wsgi_app, {}, dispatcher=dispatcher, adj=adj,
                                sockinfo=adj.listen[0])
        self.loop_timeout = loop_timeout
        self.grace = grace
        self.thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def port(self) -> int:
        return self.server.effective_port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def run(self) -> None:
        """Serve until `request_stop()`, then drain and close (see the module docstring)."""
        channels = self.server._map
        while not self._stop.is_set():
            wasyncore.loop(timeout=self.loop_timeout, map=channels, use_poll=True, count=1)
        self._drain(channels)

    def request_stop(self) -> None:
        """Ask `run()` to stop; safe from a signal handler or another thread."""
        self._stop.set()

    def _drain(self, channels: dict) -> None:
        # Only this thread touches the sockets: stop listening, finish what is in flight.
        wasyncore.dispatcher.close(self.server)  # the listening socket only
        deadline = time.monotonic() + self.grace
        while True:
            busy = 0
            for channel in list(channels.values()):
                if not isinstance(channel, HTTPChannel):
                    continue
                if channel.requests or channel.total_outbufs_len:
                    busy += 1  # a complete request being answered, or its answer unsent
                else:  # idle, half-sent (its client retries), or answered
                    channel.handle_close()
            if not busy or time.monotonic() >= deadline:
                break
            wasyncore.loop(timeout=min(0.05, self.loop_timeout), map=channels,
                           use_poll=True, count=1)
        if busy:
            log.warning("shutting down with %d request(s) still unfinished", busy)
        self.server.task_dispatcher.shutdown(cancel_pending=True, timeout=2)
        wasyncore.close_all(channels)  # remaining connections and waitress's wake-up pipe

    def start(self) -> Server:
        self.thread = threading.Thread(target=self.run, daemon=True, name="waitress")
        self.thread.start()
        return self

    def stop(self) -> None:
        self.request_stop()
        if self.thread:
            self.thread.join(timeout=self.grace + 5)
