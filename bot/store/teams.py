"""Teams in Redis: rosters, and each period's team sets kept exact as reports stream in.

Keys (all under the workspace's hash tag, beside those in bot.store.keys):

    tb:{ws}:team:all                  hash team → JSON {source, id, handle, label, note}
    tb:{ws}:team:members:<team>       set of the team's Slack user ids
    tb:{ws}:team:of:<user>            set of the person's teams (read by the counting scripts)
    tb:{ws}:team:version              bumped by every roster change
    tb:{ws}:team:z:<metric>:<scope>:<name>  sorted set team → the team's total of a period
                                      board (mirror of `z:<metric>:<scope>:<name>`)
    tb:{ws}:team:z:points:…:n         hash team → members active in the period
    tb:{ws}:team:z:…:built            'b|<stamp>|<token>' while built, 'r|<stamp>' ready
    tb:{ws}:team:sets                 the team sets ever built
    tb:{ws}:team:claim:<what>         one process runs the user-group sync at a time

**Membership rule: today's roster.** A team's figures for any period, past ones included,
are the sums of its *current* members' figures in that period. A roster change bumps the
roster version, and the next read of a period rebuilds its team sets from the people's
sets. Between changes the counting scripts' hook (bot/store/lua/common/teams.lua) moves each
of the reporting person's teams by exactly the report's amount, atomically with the
person's own sets, so team totals are exact while reports stream in.

A read costs O(teams) Redis work (two ZRANGEs of the team sets, two HGETALLs); a build
(after a roster change or rescoring, once per period read) costs one small script per
team, O(members · log n), never one long command.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from bot.core.periods import Bucket
from bot.core.teams import TeamTotals
from bot.store.lua import load
from bot.store.store import Store

BUILD_TRIES = 3
NEW_PERIOD_TTL = 400 * 86400  # a built team set of a period nobody has counted in yet
FILL_BATCH = 200  # team build calls per pipeline


@dataclass(frozen=True)
class TeamInfo:
    name: str
    source: str  # "usergroup" or "csv"
    id: str = ""  # the user group's id (S…)
    handle: str = ""  # the user group's handle
    label: str = ""  # the user group's display name
    note: str = ""  # e.g. "deleted in Slack on 2026-11-23; remove it with …"
    size: int = 0

    def meta(self) -> str:
        return json.dumps({"source": self.source, "id": self.id, "handle": self.handle,
                           "label": self.label, "note": self.note, "size": self.size})


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _infos(raw: Mapping) -> dict[str, TeamInfo]:
    """The `team:all` hash → TeamInfo by name, sorted by name."""
    out = {}
    for key in sorted(raw, key=lambda k: _text(k).casefold()):
        name = _text(key)
        out[name] = TeamInfo(name=name, **json.loads(raw[key]))
    return out


class TeamStore:
    """One workspace's teams (shares the Store's client and hash tag)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.r = store.r
        self._begin = self.r.register_script(load("team_build_begin"))
        self._fill = self.r.register_script(load("team_build_fill"))
        self._finish = self.r.register_script(load("team_build_finish"))

    # -- keys -------------------------------------------------------------------------
    def key(self, *parts: str) -> str:
        return self.store.keys.key("team", *parts)

    def team_set(self, metric: str, bucket: Bucket) -> str:
        return self.key("z", metric, bucket.scope, bucket.name)

    # -- rosters ------------------------------------------------------------------------
    def teams(self) -> dict[str, TeamInfo]:
        """Every team with its source and size, by name."""
        return _infos(self.r.hgetall(self.key("all")))

    def members(self, team: str) -> set[str]:
        return {_text(m) for m in self.r.smembers(self.key("members", team))}

    def rosters(self) -> dict[str, set[str]]:
        names = [_text(k) for k in self.r.hkeys(self.key("all"))]
        pipe = self.r.pipeline(transaction=False)
        for name in names:
            pipe.smembers(self.key("members", name))
        return {n: {_text(m) for m in ms} for n, ms in zip(names, pipe.execute(), strict=True)}

    def teams_of(self, user: str) -> list[str]:
        return sorted((_text(t) for t in self.r.smembers(self.key("of", user))),
                      key=str.casefold)

    def version(self) -> int:
        return int(self.r.get(self.key("version")) or 0)

    def save(self, teams: Mapping[str, tuple[TeamInfo, Iterable[str]]],
             remove: Iterable[str] = ()) -> int:
        """Set these teams' info and rosters (whole), remove `remove`; in one MULTI with
        the roster version bump. Returns how many memberships changed."""
        current = self.rosters()
        pipe = self.r.pipeline(transaction=True)
        changed = 0
        for name in remove:
            for user in current.get(name, ()):
                pipe.srem(self.key("of", user), name)
                changed += 1
            pipe.delete(self.key("members", name))
            pipe.hdel(self.key("all"), name)
        for name, (info, members) in teams.items():
            members, before = set(members), current.get(name, set())
            for user in members - before:
                pipe.sadd(self.key("of", user), name)
            for user in before - members:
                pipe.srem(self.key("of", user), name)
            changed += len(members ^ before)
            pipe.delete(self.key("members", name))
            if members:
                pipe.sadd(self.key("members", name), *sorted(members))
            pipe.hset(self.key("all"), name, replace(info, name=name, size=len(members)).meta())
        pipe.incr(self.key("version"))
        pipe.execute()
        return changed

    def remove(self, names: Iterable[str]) -> None:
        self.save({}, remove=list(names))

    def forget_member(self, user: str) -> None:
        """Take a person out of every team (they asked to be forgotten); the team sets
        are rebuilt on the next read, without the person's scores. Nothing without teams."""
        infos = self.teams()
        if not infos:
            return
        pipe = self.r.pipeline(transaction=True)
        for name in self.teams_of(user):
            pipe.srem(self.key("members", name), user)
            if name in infos:
                info = infos[name]
                pipe.hset(self.key("all"), name, replace(info, size=info.size - 1).meta())
        pipe.delete(self.key("of", user))
        pipe.incr(self.key("version"))
        pipe.execute()

    def invalidate(self) -> None:
        """The people's sets changed under the team sets (a person forgotten): rebuild on
        the next read."""
        self.r.incr(self.key("version"))

    def claim(self, what: str, seconds: int) -> bool:
        """One process does `what` per `seconds` (e.g. the user-group sync)."""
        return bool(self.r.set(self.key("claim", what), "1", nx=True, ex=seconds))

    # -- period team sets -----------------------------------------------------------------
    def _stamp(self, raw_metric: str) -> str:
        """What a built team set depends on: the rosters, the configuration the points
        were rebuilt with, and the raw metric whose sets are complete."""
        configs = self.store.configs
        return f"{self.version()}.{configs.scored_version()}.{configs.raw_sets()}.{raw_metric}"

    def _pairs(self, bucket: Bucket, raw_metric: str) -> list[str]:
        """(person set, team set) of the raw metric then points (points last: active)."""
        keys: list[str] = []
        for metric in (raw_metric, "points"):
            keys += [self.store.keys.board(metric, bucket), self.team_set(metric, bucket)]
        return keys

    def build(self, bucket: Bucket, raw_metric: str) -> bool:
        """Build the period's team sets from the people's sets; True when ready."""
        version = self.version()
        stamp = self._stamp(raw_metric)
        marker = f"b|{stamp}|{secrets.token_hex(6)}"
        pairs = self._pairs(bucket, raw_metric)
        self._begin(keys=[self.key("sets"), *pairs], args=[marker, NEW_PERIOD_TTL])
        names = [_text(k) for k in self.r.hkeys(self.key("all"))]
        for start in range(0, len(names), FILL_BATCH):
            pipe = self.r.pipeline(transaction=False)
            for name in names[start:start + FILL_BATCH]:
                self._fill(keys=[self.key("members", name), *pairs], args=[name, marker],
                           client=pipe)
            if not all(int(x) for x in pipe.execute()):
                return False
        return bool(self._finish(keys=[self.key("version"), pairs[1], pairs[3]],
                                 args=[marker, version, f"r|{stamp}"]))

    def period_totals(self, bucket: Bucket, raw_metric: str = "tokens") -> list[TeamTotals]:
        """Every team's totals and active members in the period, read from the team sets
        (built first if the rosters, scores or raw metric changed since)."""
        raw_key, points_key = self.team_set(raw_metric, bucket), self.team_set("points", bucket)
        for _ in range(BUILD_TRIES):
            pipe = self.r.pipeline(transaction=True)  # one instant: a consistent board
            pipe.get(raw_key + ":built")
            pipe.get(points_key + ":built")
            pipe.zrange(raw_key, 0, -1, withscores=True)
            pipe.zrange(points_key, 0, -1, withscores=True)
            pipe.hgetall(points_key + ":n")
            pipe.hgetall(self.key("all"))
            m_raw, m_points, raw, points, active, names = pipe.execute()
            ready = f"r|{self._stamp(raw_metric)}".encode()
            if m_raw == ready and m_points == ready:
                break
            self.build(bucket, raw_metric)
        else:
            raise RuntimeError("team sets kept changing while being built")
        raws = {_text(t): float(s) for t, s in raw}
        pts = {_text(t): float(s) for t, s in points}
        act = {_text(t): int(n) for t, n in active.items()}
        return [TeamTotals(team=n, members=info.size, active=act.get(n, 0),
                           raw=raws.get(n, 0.0), points=pts.get(n, 0.0))
                for n, info in _infos(names).items()]

    def member_scores(self, team: str, bucket: Bucket, raw_metric: str
                      ) -> dict[str, tuple[float, float, float]]:
        """The team's members active in the period: user → (raw, points, tokens).
        O(members · log n)."""
        members = sorted(self.members(team))
        if not members:
            return {}
        pipe = self.r.pipeline(transaction=True)
        for metric in (raw_metric, "points", "tokens"):
            pipe.zmscore(self.store.keys.board(metric, bucket), members)
        raw, points, tokens = pipe.execute()
        return {u: (float(r or 0), float(p), float(t or 0))
                for u, r, p, t in zip(members, raw, points, tokens, strict=True)
                if p is not None}
