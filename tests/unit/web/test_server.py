"""`WebServer` (bot/web/server.py): the workers fork with the master's objects frozen, so
a worker's full garbage collections walk only what the worker made itself; a worker is
told to stop the moment its master dies."""

from __future__ import annotations

import gc
import os
import select
import signal
import struct
import sys
import time
from types import SimpleNamespace

from bot.web.server import Limits, WebServer, die_with_master, freeze_before_fork


def test_the_master_freezes_what_it_holds_before_each_fork() -> None:
    server = WebServer(lambda: None, "127.0.0.1:0", Limits())
    assert server.cfg.pre_fork is freeze_before_fork
    held = [[n] for n in range(1000)]  # objects the collector tracks
    try:
        gc.unfreeze()
        assert gc.get_freeze_count() == 0
        freeze_before_fork(None, None)
        assert gc.get_freeze_count() >= len(held)
        oldest = {id(obj) for obj in gc.get_objects(2)}  # what a full collection walks
        assert not any(id(x) in oldest for x in held)
    finally:
        gc.unfreeze()


def _next_bytes(fd: int, n: int, timeout: float) -> bytes:
    ready, _, _ = select.select([fd], [], [], timeout)
    return os.read(fd, n) if ready else b""


def test_a_worker_gets_sigterm_the_moment_its_master_is_killed() -> None:
    """A process forked like a worker (post_fork: die_with_master) by a "master" that is
    then killed with SIGKILL hears SIGTERM from the kernel on Linux; without the hook it
    would sleep on for a minute. Elsewhere the hook does nothing (the worker's own check
    of its master, once a second, is what stops it there), and no signal comes."""
    assert WebServer(lambda: None, "127.0.0.1:0", Limits()).cfg.post_fork is die_with_master
    linux = sys.platform.startswith("linux")
    r, w = os.pipe()
    master = os.fork()
    if master == 0:  # the master: forks its worker, then waits to be killed
        try:
            if os.fork() == 0:  # the worker
                try:
                    signal.signal(signal.SIGTERM, lambda *_: (os.write(w, b"T"), os._exit(0)))
                    die_with_master(None, SimpleNamespace(ppid=os.getppid()))
                    os.write(w, b"R" + struct.pack("=i", os.getpid()))
                    time.sleep(60)
                finally:
                    os._exit(0)
            time.sleep(60)
        finally:
            os._exit(0)
    os.close(w)
    worker = 0
    try:
        ready = _next_bytes(r, 5, 30)
        assert ready[:1] == b"R"  # the worker is up, the hook called
        worker = struct.unpack("=i", ready[1:])[0]
        os.kill(master, signal.SIGKILL)
        os.waitpid(master, 0)
        heard = _next_bytes(r, 1, 30 if linux else 2)
        if heard == b"T":
            worker = 0  # it has exited
        assert heard == (b"T" if linux else b"")
    finally:
        os.close(r)
        try:
            if worker > 0:  # still sleeping (0 would be this process group)
                os.kill(worker, signal.SIGKILL)
            os.kill(master, signal.SIGKILL)
            os.waitpid(master, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
