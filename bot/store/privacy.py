"""Privacy: who is left out of the boards others see, and forgetting a person entirely."""

from __future__ import annotations

from datetime import date

from bot.core.periods import Bucket
from bot.store.identity_map import IdentityMap
from bot.store.lua import Call, Script
from bot.store.workspace import WorkspaceRedis

DAY_FORGET = Script("day_forget")


def day_forget_call(*, days: str, user: str) -> Call:
    """lua/day_forget.lua: delete `user`'s packed day in the day's directory `days`."""
    return Call([days], [user])


class Privacy:
    def __init__(self, ws: WorkspaceRedis, identity_map: IdentityMap) -> None:
        self.ws = ws
        self.identity_map = identity_map

    def opted_out(self) -> frozenset[str]:
        return frozenset(m.decode() for m in self.ws.r.smembers(self.ws.keys.key("optout")))

    def set_opt_out(self, user: str, out: bool) -> None:
        pipe = self.ws.r.pipeline(transaction=True)
        (pipe.sadd if out else pipe.srem)(self.ws.keys.key("optout"), user)
        pipe.incr(self.ws.keys.key("gen"))
        pipe.execute()

    def forget_user(self, user: str) -> int:
        """Delete everything stored about `user`; returns how many keys or entries went.

        SCANs the sorted sets in small steps (never a blocking KEYS) and removes the person
        from each; the day sets name the days whose counts to delete, so the day buckets
        need no scan of their own.
        """
        r, k = self.ws.r, self.ws.keys
        removed = 0
        days_prefix = k.board("tokens", Bucket("d", ""))
        doomed = [k.key("user", user), k.rank_chart(user)]
        r.script_load(DAY_FORGET.text)  # run by SHA inside the pipelines below
        pipe = r.pipeline(transaction=False)
        for raw_key in r.scan_iter(match=k.key("z", "*"), count=1000):
            key = raw_key.decode()
            pipe.zrem(key, user)
            if key.startswith(days_prefix) and not key.endswith(":rebuild"):
                day = date.fromisoformat(key[len(days_prefix):])  # a day with counts
                DAY_FORGET.queue(pipe, day_forget_call(days=k.days(day), user=user))
            if len(pipe) >= 1000:
                removed += sum(pipe.execute())
        removed += sum(pipe.execute())
        emails = list(r.scan_iter(match=k.key("email", "*"), count=1000))
        for start in range(0, len(emails), 500):
            batch = emails[start:start + 500]
            doomed += [key for key, v in zip(batch, r.mget(batch), strict=True)
                       if v == user.encode()]
        for start in range(0, len(doomed), 500):
            removed += r.unlink(*doomed[start:start + 500])
        removed += self.identity_map.forget_user(user)  # links to them, pending claims
        pipe = r.pipeline(transaction=True)
        pipe.srem(k.key("optout"), user)
        pipe.incr(k.key("gen"))
        pipe.execute()
        return removed
