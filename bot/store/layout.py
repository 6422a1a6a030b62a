"""The storage layout's version, and moving the data of the older layout into the
current one.

Layout 1 (versions before event ids and days were bucketed) kept one hash per
person-day, `day:<date>:<user>` (field → count: tokens, cost, requests, input_tokens,
output_tokens, cache_read_tokens, cache_creation_tokens, sessions, `a:<activity>`,
`o:<kind>[~<mods>]`), and a sender's event ids in a hash per report day,
`seen:<sender>:<date>` (event id → the content fingerprint's 12 hex digits), or, in the
first versions, a string key per id, `seen:<sender>:<event id>` (value: the fingerprint;
its day was not kept). Layout 2 (the current one, `LAYOUT_VERSION`) packs a person's day
into the day's buckets (`days:<date>:<i>`) and keeps ids as 8-byte digests in a sender's
day of buckets (`ids:<sender>:<date>:<i>`); see bot/store/keys.py. Everything else
(the boards, an unmapped identity's `iday:` hashes, vendor rows, series) is the same in
both, except the rescoring lock `rebuild` (a string in layout 1, a hash now).

`Layout.migrate` moves layout 1's keys one at a time, each by one atomic script that
adds to what layout 2 already holds and deletes the old key (lua/migrate_ids.lua,
lua/migrate_day.lua), so a migration stopped anywhere and run again counts nothing
twice. Ids are moved first (a retried report is a duplicate again as soon as possible),
then the days. The SCAN cursor is saved after each page in `migrate` (phase, cursor,
counts); one process migrates at a time (`migrate:lock`). At the end the version is
written. The boards are the same keys in both layouts and already hold every count, so
they are left as they are.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from bot.core.counts import id_digest
from bot.store.claims import give_back, take
from bot.store.counting import stored_fingerprint
from bot.store.events import ttls
from bot.store.lua import Call, Script, run_pipeline
from bot.store.workspace import WorkspaceRedis

LAYOUT_VERSION = 2
LOCK_TTL = 60  # seconds; refreshed after every page, so a dead migrator frees it soon
SCAN_PAGE = 500  # keys per SCAN page (and ids per script call)
PHASES = ("ids", "days")

MIGRATE_DAY = Script("migrate_day")
MIGRATE_IDS = Script("migrate_ids")

Progress = Callable[[str, int, int], None]  # (phase, units done, units in all)


def migrate_day_call(*, old: str, days: str, rebuild_days: str, user: str, day: date,
                     ttl: int) -> Call:
    """lua/migrate_day.lua: the old day hash `old` of `user` into the day's `days`
    directory; `ttl` if the old hash has no expiry."""
    return Call([old, days, rebuild_days], [user, day.isoformat(), ttl])


def migrate_ids_call(*, old: str, directories: list[str], ttl: int, string_key: bool,
                     ids: list[tuple[str, bytes, bytes]]) -> Call:
    """lua/migrate_ids.lua: `ids` (old field, 8-byte digest, stored fingerprint) of the old
    key `old` claimed in each of `directories`."""
    args: list[object] = [ttl, "s" if string_key else "h"]
    for old_field, digest, fingerprint in ids:
        args += [old_field, digest, fingerprint]
    return Call([*directories, old], args)


class LayoutBusy(Exception):
    """Another process holds the migration lock, or a rescoring is running."""


@dataclass
class Migrated:
    """What a migration did (or, dry, would do)."""

    sender_days: int = 0      # `seen:<sender>:<date>` hashes
    ids: int = 0              # event ids in them (dry run), or claimed anew
    id_keys: int = 0          # one-per-id `seen:<sender>:<id>` keys
    person_days: int = 0
    fields: int = 0
    finished: bool = False    # the version was written (nothing of layout 1 is left)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def units(self) -> int:
        return self.sender_days + self.id_keys + self.person_days


class Layout:
    def __init__(self, ws: WorkspaceRedis) -> None:
        self.ws = ws
        self.owner = f"{socket.gethostname()} {os.getpid()}"

    # -- the version --------------------------------------------------------------------
    def version(self) -> int | None:
        """The layout version written in Redis, or None if none is."""
        raw = self.ws.r.get(self.ws.keys.layout())
        return int(raw) if raw is not None else None

    def state(self) -> str:
        """"current"; "fresh" (no version and nothing of an older layout: an empty
        install, or one whose older data has expired); or "older"."""
        version = self.version()
        if version is not None and version >= LAYOUT_VERSION:
            return "current"
        if version is None and not self._has_old_keys():
            return "fresh"
        return "older"

    def stamp(self) -> None:
        """Write the current version (a fresh install's first start)."""
        self.ws.r.set(self.ws.keys.layout(), LAYOUT_VERSION)

    def settle(self) -> str:
        """At start-up: stamp a fresh install; returns `state()` as it was."""
        state = self.state()
        if state == "fresh":
            self.stamp()
        return state

    def migrating(self) -> str | None:
        """Who holds the migration lock ("host pid"), or None."""
        raw = self.ws.r.get(self.ws.keys.migration("lock"))
        return raw.decode() if raw else None

    def _has_old_keys(self) -> bool:
        k = self.ws.keys
        for pattern in (k.layout1_days(), k.layout1_ids()):
            for _ in self.ws.r.scan_iter(match=pattern, count=1000):
                return True
        return False

    # -- the migration ------------------------------------------------------------------
    def count(self) -> Migrated:
        """What a migration would move (reads only)."""
        out = Migrated()
        r, k = self.ws.r, self.ws.keys
        page: list[bytes] = []
        for key in r.scan_iter(match=k.layout1_ids(), count=1000):
            page.append(key)
            if len(page) >= SCAN_PAGE:
                self._count_ids(page, out)
                page = []
        self._count_ids(page, out)
        out.person_days = sum(1 for _ in r.scan_iter(match=k.layout1_days(), count=1000))
        return out

    def _count_ids(self, page: list[bytes], out: Migrated) -> None:
        r = self.ws.r
        pipe = r.pipeline(transaction=False)
        for key in page:
            pipe.type(key)
        kinds = pipe.execute()
        hashes = [key for key, kind in zip(page, kinds, strict=True) if kind == b"hash"]
        strings = sum(1 for kind in kinds if kind == b"string")
        pipe = r.pipeline(transaction=False)
        for key in hashes:
            pipe.hlen(key)
        out.sender_days += len(hashes)
        out.ids += sum(pipe.execute()) + strings
        out.id_keys += strings

    def migrate(self, progress: Progress | None = None, stop_after: int | None = None,
                total: int | None = None) -> Migrated:
        """Move everything of layout 1 into layout 2, then write the version. Resumes
        where a stopped migration left off. `stop_after`: return after that many keys
        (tests: a migration that dies half-way). `total`: the units to show progress
        against (from `count()`). Raises LayoutBusy if another process migrates or a
        rescoring runs."""
        r, k = self.ws.r, self.ws.keys
        if not take(r, k.migration("lock"), self.owner, LOCK_TTL):
            raise LayoutBusy(f"{self.migrating() or 'another process'} is migrating")
        began = time.monotonic()
        out = Migrated()
        try:
            self._clear_layout1_lock()
            state = {x.decode(): v.decode() for x, v in r.hgetall(k.migration()).items()}
            phase = state.get("phase", PHASES[0])
            cursor = int(state.get("cursor", 0))
            done = int(state.get("done", 0))
            for name in PHASES[PHASES.index(phase):]:
                while True:
                    cursor, page = r.scan(cursor, match=self._pattern(name), count=SCAN_PAGE)
                    stopping = stop_after is not None and len(page) >= stop_after - out.units
                    if stopping:
                        page = page[:max(0, stop_after - out.units)]  # type: ignore[operator]
                    if name == "days":
                        self._move_days(page, out)
                    else:
                        for key in page:
                            self._move_ids(key, out)
                    if progress:
                        progress(name, done + out.units, max(total or 0, done + out.units))
                    if stopping:
                        return out  # as if the process died here: the cursor is not saved
                    self._save(name, cursor, done + out.units)
                    if cursor == 0:
                        break
            pipe = r.pipeline(transaction=True)
            pipe.set(k.layout(), LAYOUT_VERSION)
            pipe.delete(k.migration())
            pipe.incr(k.key("gen"))
            pipe.execute()
            out.finished = True
        finally:
            give_back(r, k.migration("lock"), self.owner)
            out.seconds = time.monotonic() - began
        return out

    def _pattern(self, phase: str) -> str:
        return self.ws.keys.layout1_ids() if phase == "ids" else self.ws.keys.layout1_days()

    def _save(self, phase: str, cursor: int, done: int) -> None:
        """The cursor after a page, and the lock refreshed (still ours, or we stop)."""
        r, k = self.ws.r, self.ws.keys
        pipe = r.pipeline(transaction=False)
        pipe.hset(k.migration(), mapping={"phase": phase if cursor else
                                          PHASES[min(PHASES.index(phase) + 1,
                                                     len(PHASES) - 1)],
                                          "cursor": cursor, "done": done})
        pipe.get(k.migration("lock"))
        pipe.expire(k.migration("lock"), LOCK_TTL)
        if pipe.execute()[1] != self.owner.encode():
            raise LayoutBusy("the migration lock was lost (this process stalled)")

    def _clear_layout1_lock(self) -> None:
        """Layout 1's rescoring lock was a string (its process belongs to the older
        version); a rescoring of this version (a hash) must end first."""
        r, key = self.ws.r, self.ws.keys.rebuild()
        kind = r.type(key)
        if kind == b"string":
            r.delete(key)
        elif kind == b"hash":
            raise LayoutBusy("a rescoring is running; migrate once it has finished")

    def _move_days(self, page: list[bytes], out: Migrated) -> None:
        """Each person-day of the page by its own script call, in one round trip (each
        call is atomic and idempotent, so a page sent again moves nothing twice)."""
        k = self.ws.keys
        calls = []
        for raw_key in page:
            key = raw_key.decode()
            parts = key[len(k.key("")):].split(":", 2)  # day:<date>:<user>
            day = _day(parts[1]) if len(parts) == 3 else None
            if day is None:
                out.notes.append(f"left as it is (not a person-day): {key}")
                continue
            user = parts[2]
            calls.append(migrate_day_call(old=key, days=k.days(day),
                                          rebuild_days=k.rebuild("days"), user=user, day=day,
                                          ttl=self._ttl(day)))

        def build(pipe: object) -> None:
            for call in calls:
                MIGRATE_DAY.queue(pipe, call)

        for moved in run_pipeline(self.ws.r, build, (MIGRATE_DAY,)) if calls else []:
            if int(moved):
                out.person_days += 1
                out.fields += int(moved)

    def _move_ids(self, raw_key: bytes, out: Migrated) -> None:
        key = raw_key.decode()
        parts = key[len(self.ws.keys.key("")):].split(":", 2)  # seen:<sender>:<date or id>
        kind = self.ws.r.type(key)
        day = _day(parts[2]) if len(parts) == 3 and kind == b"hash" else None
        if len(parts) < 3 or (kind == b"hash" and day is None):
            out.notes.append(f"left as it is (not a sender's ids): {key}")
            return
        _, sender, rest = parts
        if day is not None:
            out.sender_days += 1
            self._move_id_hash(key, sender, day, out)
        elif kind == b"string":
            value = self.ws.r.get(key)
            if value is None:
                return
            days = self._days_of_id_key(key)
            out.id_keys += 1
            out.ids += int(MIGRATE_IDS.run(self.ws.r, migrate_ids_call(
                old=key, directories=[self.ws.keys.ids(sender, d) for d in days],
                ttl=self._ttl(days[0]) + 86400, string_key=True,
                ids=[("", id_digest(rest), stored_fingerprint(value.decode()))])))

    def _move_id_hash(self, key: str, sender: str, day: date, out: Migrated) -> None:
        r = self.ws.r
        directory = self.ws.keys.ids(sender, day)
        while r.exists(key):
            cursor = 0
            while True:
                cursor, page = r.hscan(key, cursor, count=SCAN_PAGE)
                r.expire(self.ws.keys.migration("lock"), LOCK_TTL)  # a large day: still ours
                if page:
                    ids = [(name.decode(), id_digest(name.decode()),
                            stored_fingerprint(value.decode())) for name, value in page.items()]
                    out.ids += int(MIGRATE_IDS.run(r, migrate_ids_call(
                        old=key, directories=[directory], ttl=self._ttl(day) + 86400,
                        string_key=False, ids=ids)))
                if cursor == 0:
                    break

    def _days_of_id_key(self, key: str) -> list[date]:
        """A one-per-id key kept no day: it was written retention + 1 day before it
        expires, so its id goes into the sender's ids of the local day it was written on
        and of the day before (a report is mostly sent, and retried, on its own day)."""
        ttl = self.ws.r.ttl(key)
        keep = (self.ws.retention_days + 1) * 86400
        written = time.time() - (keep - ttl if ttl > 0 else 0)
        day = datetime.fromtimestamp(written, self.ws.tz).date()
        return [day, day - timedelta(days=1)]

    def _ttl(self, day: date) -> int:
        return _day_ttl(day, self.ws.tz, self.ws.retention_days, int(time.time()) // 60)


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


@lru_cache(maxsize=1024)
def _day_ttl(day: date, tz: ZoneInfo, retention_days: int, _minute: int) -> int:
    """The day's expiry as counting sets it (computed once a minute per day)."""
    return ttls(day, tz, retention_days).day
