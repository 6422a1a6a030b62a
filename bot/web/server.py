"""gunicorn, set up so that slow or idle clients cannot starve complete requests.

`tokenboard serve` runs `WebServer`: a gunicorn master (prefork) with WEB_CONCURRENCY
worker processes of `BufferingWorker`, each with WEB_THREADS threads. Tests, demos and
benchmarks run the same worker class in process on a thread (`Server`).

- `BufferingWorker` (`bot.web.buffering_worker`) is gunicorn's threaded worker, except
  that a connection is handed to a thread only once its whole request has arrived.
- Each path has its own body limit (`BodyLimits`, `bot.web.request_arrival`, built from
  Settings), applied by the worker before the body is buffered.
- HTTP_CONNECTION_LIMIT bounds open connections over all workers (gunicorn's
  `worker_connections`, per worker); a worker at its share stops accepting until some
  close. The soft RLIMIT_NOFILE is raised to the hard limit so the limit can be reached.
- On SIGTERM (gunicorn's graceful stop) each worker stops accepting, lets requests in
  flight finish for up to `grace` seconds, then exits.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import math
import os
import selectors
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gunicorn import glogging
from gunicorn.app.base import BaseApplication
from gunicorn.config import Config
from gunicorn.sock import create_sockets

from bot.core.settings import Settings

# The request reading and the worker live in modules of their own; these names stay
# importable from here.
from bot.web.buffering_worker import ACCEPT_BATCH, LINGER, RECV_SIZE, BufferingWorker
from bot.web.request_arrival import (
    CONTINUE,
    DEFAULT_MAX_BODY,
    MAX_HEAD,
    BodyLimits,
    Head,
    Step,
    arrival,
    expects_continue,
    read_head,
    request_arrived,
    request_path,
    too_large,
    without_expect,
)

__all__ = [
    "ACCEPT_BATCH", "CONTINUE", "DEFAULT_MAX_BODY", "LINGER", "MAX_HEAD", "RECV_SIZE",
    "BodyLimits", "BufferingWorker", "GunicornLog", "Head", "Limits", "Server", "Step",
    "WebServer", "arrival", "expects_continue", "raise_fd_limit", "read_head",
    "request_arrived", "request_path", "too_large", "without_expect",
]

log = logging.getLogger(__name__)

DEFAULT_CONNECTION_LIMIT = 4000
DEFAULT_IDLE_TIMEOUT = 10
FD_MARGIN = 64  # descriptors kept for Redis, Slack, logs and the like
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
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
            "worker_class": f"{BufferingWorker.__module__}.BufferingWorker",
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


def freeze_before_fork(_arbiter: Any, _worker: Any) -> None:
    """gunicorn's pre_fork: what the master holds now (the app, its modules) is moved out
    of the garbage collector's sight (`gc.freeze`), so a worker's full collections walk
    only what the worker made itself. Without it each full collection walked ~170,000
    objects inherited from the master, stalling every request of that worker for 80 ms
    on an idle core (over 200 ms on a busy one), and touched, so copied, the pages
    shared with the master."""
    gc.freeze()


def die_with_master(_arbiter: Any, worker: Any) -> None:
    """gunicorn's post_fork, in the new worker: on Linux the kernel sends the worker
    SIGTERM (its graceful stop) the moment its master dies (`PR_SET_PDEATHSIG`), so the
    workers of a master killed with SIGKILL (kill -9, the OOM killer) let go of the port
    at once, booting or not, and a restarted `tokenboard serve` binds it. Elsewhere, or if
    the call fails, the worker's own check of its master, once a second, does the same
    a little later."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
            return
    except (OSError, AttributeError):
        return
    if os.getppid() != worker.ppid:  # the master died before the request was made
        os.kill(os.getpid(), signal.SIGTERM)


class WebServer(BaseApplication):
    """The gunicorn master of `tokenboard serve`: `load` builds the WSGI app once, in the
    master (preload), and the workers fork from it, with the master's objects frozen
    (`freeze_before_fork`), each to be stopped when the master dies (`die_with_master`)."""

    def __init__(self, load: Callable[[], WSGIApp], bind: str, limits: Limits,
                 hooks: dict[str, Callable[..., Any]] | None = None) -> None:
        self._load = load
        self.body_limits = limits.body  # read by each worker (forked from this master)
        self.settings_ = {**limits.options(), "bind": [bind], "preload_app": True,
                          "pre_fork": freeze_before_fork, "post_fork": die_with_master,
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
