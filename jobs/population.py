"""The background refresh of whole-population figures (ρ, τ, flag threshold, efficiency)
for the periods people are reading, every REFRESH_EVERY seconds, so a `/leaderboard`
request never ranks the whole org itself (see bot.leaderboard)."""

from __future__ import annotations

import logging
import os
import socket

from bot.deps import Deps
from bot.leaderboard import REFRESH_EVERY

log = logging.getLogger(__name__)
__all__ = ["REFRESH_EVERY", "refresh_figures"]
OWNER = f"{socket.gethostname()}:{os.getpid()}"


def refresh_figures(deps: Deps) -> int:
    """One round: refresh what changed among the periods read lately. Never raises."""
    try:
        done = deps.leaderboards.refresh_wanted(owner=OWNER)
    except Exception:
        log.exception("refreshing population figures failed")
        return 0
    if done:
        log.debug("population figures refreshed for %s", ", ".join(b.suffix for b in done))
    return len(done)
