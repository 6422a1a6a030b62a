"""The background refresh, every REFRESH_EVERY seconds, of what a `/leaderboard` request
must not compute itself: the whole-population figures (ρ, τ, flag threshold, efficiency)
of the periods people are reading, and, for an org too large to draw on request, each
period's slope chart (see bot.boards.leaderboard and bot.slack.board_chart)."""

from __future__ import annotations

import logging
import os
import socket

from bot.boards.leaderboard import REFRESH_EVERY, ranked_on_request
from bot.core.periods import PERIODS, bucket_for_period
from bot.runtime.deps import Deps
from bot.slack.board_chart import refresh_shared_chart

log = logging.getLogger(__name__)
__all__ = ["REFRESH_EVERY", "refresh_figures"]
OWNER = f"{socket.gethostname()}:{os.getpid()}"


def refresh_figures(deps: Deps) -> int:
    """One round: refresh what changed among the periods read lately, then their charts.
    Never raises; returns how many periods were refreshed."""
    try:
        config = deps.store.configs.load()
        done = deps.leaderboards.refresh_wanted(config, owner=OWNER)
    except Exception:
        log.exception("refreshing population figures failed")
        return 0
    lb = deps.leaderboards
    for period, bucket in done:
        try:
            if deps.client is None or period not in PERIODS or bucket != bucket_for_period(
                    period, deps.store.tz, lb.now()):
                continue  # a period that has moved on (yesterday's "today"), or no Slack
            pb = lb.period_board(period, config, viewer=None, remember=False)
            if not ranked_on_request(pb.board.people):
                refresh_shared_chart(deps, deps.client, pb)
        except Exception:
            log.exception("drawing the %s chart failed", period)
    if done:
        log.debug("population figures refreshed for %s",
                  ", ".join(b.suffix for _, b in done))
    return len(done)
