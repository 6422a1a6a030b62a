"""`WebServer` (bot/web/server.py): the workers fork with the master's objects frozen, so
a worker's full garbage collections walk only what the worker made itself, and each is
told to stop the moment its master dies (`die_with_master`: tests/test_processes.py runs
it in real processes)."""

from __future__ import annotations

import gc

from bot.web.server import Limits, WebServer, die_with_master, freeze_before_fork


def test_the_master_freezes_what_it_holds_before_each_fork() -> None:
    server = WebServer(lambda: None, "127.0.0.1:0", Limits())
    assert server.cfg.pre_fork is freeze_before_fork
    assert server.cfg.post_fork is die_with_master
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
