"""Rescoring after a weight change, and the raw metric's day, week and month sets: a
rebuild of one metric from the people's day counts while ingest goes on (see
`Rescoring.rebuild_points`; the double-writes are in lua/common/event.lua)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import date

from bot.core.config import BoardConfig
from bot.core.periods import Bucket, buckets_for_day
from bot.store.configs import Configs
from bot.store.events import RAW_METRICS, scoring_rules
from bot.store.lua import Call, Script
from bot.store.reads import Reads
from bot.store.workspace import WorkspaceRedis, user_hash

REBUILD_BUCKETS = 1  # day buckets (~100-200 people) per rescoring call: ~1-2 ms of Redis
REBUILD_COPY = 250  # people per copying call of a rebuild: ~1 ms of Redis
REBUILD_LOCK_TTL = 300  # refreshed as the rebuild progresses; stops the double-writes if we die
DONE = 1_000_000_000  # a rebuilt day's progress: every bucket done (lua/common/rebuild.lua)
TMP_TTL = 7200  # a rebuild's temporary keys expire if it dies (lua/common/rebuild.lua)

REBUILD_START = Script("rebuild_start")
RESCORE = Script("rescore")
REBUILD_COPY_SCRIPT = Script("rebuild_copy")
REBUILD_RELEASE = Script("rebuild_release")


class RebuildAborted(Exception):
    """A rebuild stopped (the configuration changed, or its state expired); nothing of it
    was swapped in. Run it again."""


def rebuild_start_call(*, state: str, days_done: str, token: str, version: int, metric: str,
                       ttl: int, days: Sequence[date]) -> Call:
    """lua/rebuild_start.lua: take the rebuild `state` for `token` unless one runs."""
    return Call([state, days_done], [token, version, metric, ttl,
                                     *(d.isoformat() for d in days)])


def rescore_call(*, state: str, days_done: str, version_key: str, days: str, live: str,
                 periods: Sequence[str], version: int, day: date, first_bucket: int,
                 buckets: int, rules: str, metric: str) -> Call:
    """lua/rescore.lua: the next `buckets` of `day` from `first_bucket`: into `live`'s
    temporary set, and the corrections into the temporary `periods` sets."""
    return Call([state, days_done, version_key, days, live, live + ":rebuild", *periods],
                [version, day.isoformat(), first_bucket, buckets, rules, metric])


def rebuild_copy_call(*, state: str, cursors: str, version_key: str, live: str, version: int,
                      cursor: int, people: Sequence[str] = ()) -> Call:
    """lua/rebuild_copy.lua: copy `people`'s live scores of `live` into its temporary set;
    `cursor`: the highest user hash copied once they are (-1: only start mirroring)."""
    tmp = live + ":rebuild"
    return Call([state, cursors, version_key, live, tmp, tmp + ":new"],
                [version, cursor, *people])


def rebuild_release_call(*, state: str, others: Sequence[str], token: str) -> Call:
    """lua/rebuild_release.lua: delete the rebuild's `state` and `others` if still ours."""
    return Call([state, *others], [token])


class Rescoring:
    def __init__(self, ws: WorkspaceRedis, configs: Configs, reads: Reads) -> None:
        self.ws = ws
        self.configs = configs
        self.reads = reads

    def rebuild_points(self, config: BoardConfig,
                       progress: Callable[[int, int], None] | None = None,
                       metric: str = "points", version: int | None = None) -> dict[str, int]:
        """Recompute `metric` (outcome points with `config`'s rules; or cost or requests,
        whose day, week and month sets are kept only while they are the raw metric) for
        every retained day, week, month (and, for points, all-time) from the day counts,
        while ingest goes on. `version`: the configuration version `config` is (default:
        the stored one); events scored with another version are not mirrored.

        Phase 1 walks each day's buckets of counts, a few per Lua call: a person's new day
        value goes into the temporary day set, and new − live day value into the temporary
        week/month/all-time sets (a correction that events scored with this version leave
        unchanged). Phase 2 adds each person's live week/month/all-time score to those,
        a chunk of people per call in user-hash order. Events counted meanwhile with the
        same version also write into the temporary sets wherever the rebuild has already
        passed (lua/common/event.lua), so each counts exactly once and ingest never
        waits. Everything is swapped in by one MULTI of O(1) UNLINK/RENAMEs that also
        ends the double-writes: readers see either the old scores or the new ones. Points
        of days already past retention stay in the week/month/all-time sets.

        `progress(done, total)` is called after each day and each week/month/all-time set.
        Raises RuntimeError if another rebuild is running, RebuildAborted if the
        configuration changed meanwhile (run it again with the new one).
        """
        k, r = self.ws.keys, self.ws.r
        if version is None:
            version = self.configs.version()
        token = uuid.uuid4().hex
        prefix = k.board("tokens", Bucket("d", ""))
        days = sorted(date.fromisoformat(x.decode()[len(prefix):])
                      for x in r.scan_iter(match=prefix + "*", count=1000))
        state = [k.rebuild(), k.rebuild("days"), k.rebuild("copy")]
        if not int(REBUILD_START.run(r, rebuild_start_call(
                state=state[0], days_done=state[1], token=token, version=version,
                metric=metric, ttl=REBUILD_LOCK_TTL, days=days))):
            raise RuntimeError("another rebuild is running")
        scopes = ("w", "m", "a") if metric == "points" else ("w", "m")
        rules = scoring_rules(config)
        periods = dict.fromkeys(b for day in days for b in buckets_for_day(day)[1:]
                                if b.scope in scopes)
        steps = len(days) + len(periods)
        swaps: list[tuple[str, str]] = []
        stats = {"days": 0, "person_days": 0, "buckets": 0}
        try:
            for i, day in enumerate(days):
                self._still_ours(state, token)
                day_b, *rest = buckets_for_day(day)
                live = k.board(metric, day_b)
                self._rescore_day(day, live, [k.board(metric, b) + ":rebuild" for b in rest
                                              if b.scope in scopes],
                                  state, version, rules, metric)
                swaps.append((live + ":rebuild", live))
                stats["days"] += 1
                if progress:
                    progress(i + 1, steps)
            for i, bucket in enumerate(periods, start=len(days)):
                self._still_ours(state, token)
                live = k.board(metric, bucket)
                self._copy_scores(live, version, state)
                swaps.append((live + ":rebuild", live))
                if progress:
                    progress(i + 1, steps)
            pipe = r.pipeline(transaction=False)
            for tmp, _ in swaps[:stats["days"]]:
                pipe.zcard(tmp)
            stats["person_days"] = sum(pipe.execute())
            self._still_ours(state, token)
            self._swap(swaps, drop=state + [tmp + ":new" for tmp, _ in swaps[stats["days"]:]])
            stats["buckets"] = len(swaps)
        finally:
            REBUILD_RELEASE.run(r, rebuild_release_call(
                state=state[0], token=token,
                others=state[1:] + [tmp for tmp, _ in swaps] + [tmp + ":new" for tmp, _ in swaps]))
        return stats

    def _still_ours(self, state: list[str], token: str) -> None:
        """Refresh the rebuild's expiry; RebuildAborted if it expired (writes stopped
        mirroring into its sets, so they cannot be swapped in)."""
        pipe = self.ws.r.pipeline(transaction=False)
        pipe.hget(state[0], "token")
        for key in state:
            pipe.expire(key, REBUILD_LOCK_TTL)
        if pipe.execute()[0] != token.encode():
            raise RebuildAborted("the rebuild's state expired")

    def _rescore_day(self, day: date, live: str, periods: list[str], state: list[str],
                     version: int, rules: str, metric: str) -> None:
        """Phase 1 for one day: lua/rescore.lua over all its buckets."""
        done = 0
        while done != DONE:  # one call per round trip: ingest gets Redis in between
            done = int(RESCORE.run(self.ws.r, rescore_call(
                state=state[0], days_done=state[1],
                version_key=self.ws.keys.key("config", "version"),
                days=self.ws.keys.days(day), live=live, periods=periods, version=version,
                day=day, first_bucket=done, buckets=REBUILD_BUCKETS, rules=rules,
                metric=metric)))
            if done < 0:
                raise RebuildAborted("the configuration changed during the rebuild")

    def _copy_scores(self, live: str, version: int, state: list[str]) -> None:
        """Phase 2 for one week/month/all-time set: copy everyone's live score."""

        def copy(cursor: int, people: Sequence[str] = ()) -> None:
            if int(REBUILD_COPY_SCRIPT.run(self.ws.r, rebuild_copy_call(
                    state=state[0], cursors=state[2],
                    version_key=self.ws.keys.key("config", "version"), live=live,
                    version=version, cursor=cursor, people=people))) < 0:
                raise RebuildAborted("the configuration changed during the rebuild")

        copy(-1)  # from here on, people new to the live set are mirrored (event.lua)
        people = sorted((user_hash(u), u) for u in self.reads.scores(live))
        start = 0
        while start < len(people):  # one call per round trip, as above
            end = min(start + REBUILD_COPY, len(people))
            while end < len(people) and people[end][0] == people[end - 1][0]:
                end += 1  # one user hash never straddles two calls
            copy(people[end - 1][0], [u for _, u in people[start:end]])
            start = end

    def _swap(self, swaps: list[tuple[str, str]], drop: Sequence[str] = ()) -> None:
        """Rename each existing temporary set over its live one (keeping the live TTL) and
        unlink `drop`, in one MULTI."""
        pipe = self.ws.r.pipeline(transaction=False)
        for tmp, dest in swaps:
            pipe.exists(tmp)
            pipe.pttl(dest)
        answers = pipe.execute()
        ready = [(pair, ttl) for pair, exists, ttl in zip(swaps, answers[::2], answers[1::2],
                                                          strict=True) if exists]
        pipe = self.ws.r.pipeline(transaction=True)
        for (tmp, dest), ttl in ready:
            pipe.unlink(dest)  # freed in the background, not on Redis's main thread
            pipe.rename(tmp, dest)
            if ttl > 0:
                pipe.pexpire(dest, ttl)
            else:
                pipe.persist(dest)
        if drop:
            pipe.unlink(*drop)
        pipe.incr(self.ws.keys.key("gen"))
        pipe.execute()

    def sync_raw_sets(self, config: BoardConfig, version: int,
                      progress: Callable[[int, int], None] | None = None
                      ) -> dict[str, int] | None:
        """Make the day, week and month sets of `config.raw_metric` complete (a rebuild of
        that metric from the day counts) and drop those of a raw metric no longer chosen.
        Returns the rebuild's stats, or None if nothing had to be built."""
        built, wanted = self.configs.raw_sets(), config.raw_metric
        stats = None
        if wanted != built and wanted in RAW_METRICS:
            stats = self.rebuild_points(config, progress, metric=wanted, version=version)
        if built != wanted and built in RAW_METRICS:
            r = self.ws.r
            doomed = [key for scope in "dwm" for key in r.scan_iter(
                match=self.ws.keys.board(built, Bucket(scope, "")) + "*", count=1000)]
            for start in range(0, len(doomed), 500):
                r.unlink(*doomed[start:start + 500])
        self.configs.set_raw_sets(wanted)
        return stats
