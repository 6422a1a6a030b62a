"""The identity map: who a source's identity (`source:value`) is in Slack.

One map for every source: `email:ana@example.com`, `otel:user_01abc` (an OpenTelemetry
account id), `github:octocat`, `gitlab:ana`, `pagerduty:PABC123`, `anthropic-key:ci-bot`.
Emails also resolve through Slack's users.lookupByEmail; an explicit link wins over it.

Reports from an identity that maps to nobody are kept, not dropped: counted per identity
and day (see `Store.record`), listed for admins, and credited to the person, for every
period and past days included, as soon as an admin links the identity.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from bot.core.identity import IdentityError, normalize
from bot.intake.count import ScoringChanged, rescored
from bot.slack.directory import Directory
from bot.store.store import COUNTED, REBUILDING, Store

USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")


@dataclass(frozen=True)
class Unmapped:
    identity: str
    tokens: float
    outcomes: float
    last_seen: float | None


@dataclass(frozen=True)
class Claim:
    identity: str
    user: str          # who says the identity is theirs
    at: float          # when (epoch s)
    linked_to: str | None  # whom the identity is linked to now, if anyone


CLAIM_SOURCES = ("github", "gitlab", "pagerduty", "otel", "email")
MAX_CLAIMS_PER_USER = 10


@dataclass(frozen=True)
class LinkResult:
    identity: str
    user: str
    days_credited: int
    previous: str | None  # the person the identity was linked to before, if any


class Identities:
    def __init__(self, store: Store, directory: Directory) -> None:
        self.store = store
        self.directory = directory
        self.r = store.r
        self.map_key = store.keys.key("ident")

    # -- resolution ---------------------------------------------------------------------
    def linked(self, identities: Iterable[str]) -> dict[str, str]:
        """The explicit links among `identities` (one HMGET)."""
        wanted = list(dict.fromkeys(identities))
        if not wanted:
            return {}
        values = self.r.hmget(self.map_key, wanted)
        return {i: v.decode() for i, v in zip(wanted, values, strict=True) if v}

    def resolve_many(self, firsts: list[str]) -> list[str]:
        """Who each identity is: the Slack user it is linked to, else (for `email:`) the
        user Slack has with that email, else the identity itself (it maps to nobody yet).
        One HMGET for the links; the unlinked emails are looked up together (cached; the
        new ones concurrently). LookupUnavailable when Slack cannot answer right now:
        nothing is resolved, the caller answers 503."""
        links = self.linked(firsts)
        emails = {f[len("email:"):] for f in firsts
                  if f not in links and f.startswith("email:")}
        users = self.directory.users_for_emails(sorted(emails)) if emails else {}
        out = []
        for first in firsts:
            if first in links:
                out.append(links[first])
            elif first.startswith("email:"):
                out.append(users.get(first[len("email:"):]) or first)
            else:
                out.append(first)
        return out

    # -- admin ----------------------------------------------------------------------------
    def link(self, user: str, identity: str) -> LinkResult:
        """Link `identity` to `user` and credit everything kept for it so far."""
        if not USER_ID.match(user):
            raise IdentityError(f"{user!r} is not a Slack user id like U012AB3CD")
        identity = normalize(identity)
        previous = self.r.hget(self.map_key, identity)
        self.r.hset(self.map_key, identity, user)
        days = self.credit(identity, user)
        return LinkResult(identity, user, days, previous.decode() if previous else None)

    def credit(self, identity: str, user: str) -> int:
        """Credit the days kept for an unmapped `identity` to `user`; how many days.
        ScoringChanged (nothing of that day lost: it stays kept for the identity) when
        the scoring configuration kept changing (`bot.intake.count.rescored`)."""
        keys = self.store.keys
        credited = 0
        for _round in range(3):  # reports that resolved just before the link land late
            days = sorted(d.decode() for d in self.r.smembers(keys.identity_days(identity)))
            if not days:
                break
            for day_text in days:
                [status] = rescored(self.store, [date.fromisoformat(day_text)],
                                    lambda one, config, version: [self.store.credit_day(
                                        identity, user, one[0], config, version)])
                if status == REBUILDING:  # the day stays listed, so a later link credits it
                    raise ScoringChanged("the scoring configuration kept changing; link "
                                         "again in a minute")
                credited += status == COUNTED
                self.r.srem(keys.identity_days(identity), day_text)
        pipe = self.r.pipeline(transaction=True)
        for metric in ("tokens", "outcomes", "last"):
            if metric == "last":
                pipe.hdel(keys.unmapped("last"), identity)
            else:
                pipe.zrem(keys.unmapped(metric), identity)
        pipe.execute()
        return credited

    # -- self-service claims, approved by an admin --------------------------------------
    def claim(self, user: str, source: str, value: str, now: float) -> Claim:
        """Record that `user` says `source:value` is theirs, for an admin to approve or
        reject. Nothing is linked (or credited) until an admin approves."""
        source = source.lower()
        if source not in CLAIM_SOURCES:
            raise IdentityError(f"{source!r} is not a source you can claim; use one of "
                                f"{', '.join(CLAIM_SOURCES)}")
        identity = normalize(f"{source}:{value}")
        linked = self.linked([identity]).get(identity)
        if linked == user:
            raise IdentityError(f"{identity} is already linked to you")
        key = self.store.keys.key("claims")
        mine = [f for f in self.r.hkeys(key) if f.decode().endswith(f"|{user}")]
        if len(mine) >= MAX_CLAIMS_PER_USER:
            raise IdentityError(f"you already have {len(mine)} claims waiting for an admin")
        self.r.hset(key, f"{identity}|{user}", now)
        return Claim(identity, user, now, linked)

    def claims(self) -> list[Claim]:
        """Pending claims, oldest first."""
        raw = self.r.hgetall(self.store.keys.key("claims"))
        pending = []
        for field, at in raw.items():
            identity, _, user = field.decode().rpartition("|")
            pending.append((float(at), identity, user))
        links = self.linked([identity for _, identity, _ in pending])
        return [Claim(identity, user, at, links.get(identity))
                for at, identity, user in sorted(pending)]

    def decide(self, identity: str, user: str, approve: bool) -> LinkResult | None:
        """Approve (link and credit) or reject a pending claim; None if there is no such
        claim (already decided)."""
        removed = self.r.hdel(self.store.keys.key("claims"), f"{identity}|{user}")
        if not removed:
            return None
        if not approve:
            return LinkResult(identity, user, 0, None)
        return self.link(user, identity)

    def unlink(self, identity: str) -> str | None:
        """Forget the link (future reports from it are kept unmapped again; what it
        already credited stays with the person). Returns who it pointed to."""
        identity = normalize(identity)
        user = self.r.hget(self.map_key, identity)
        self.r.hdel(self.map_key, identity)
        return user.decode() if user else None

    def export(self) -> list[tuple[str, str]]:
        """(slack_user, identity) pairs, sorted by user then identity."""
        pairs = [(v.decode(), k.decode()) for k, v in
                 self.r.hscan_iter(self.map_key, count=1000)]
        return sorted(pairs)

    def export_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["slack_user", "identity"])
        writer.writerows(self.export())
        return out.getvalue()

    def parse_csv(self, text: str) -> tuple[list[tuple[str, str]], list[str]]:
        """Rows of a `slack_user,identity` CSV, and every problem as 'line N: why'."""
        reader = csv.reader(io.StringIO(text))
        rows: list[tuple[str, str]] = []
        errors: list[str] = []
        header = next(reader, None)
        if [h.strip().lower() for h in header or []] != ["slack_user", "identity"]:
            return [], ["line 1: the header must be exactly slack_user,identity"]
        for number, row in enumerate(reader, start=2):
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != 2:
                errors.append(f"line {number}: expected 2 columns, got {len(row)}")
                continue
            user, identity = row[0].strip(), row[1].strip()
            if not USER_ID.match(user):
                errors.append(f"line {number}: {user!r} is not a Slack user id")
                continue
            try:
                rows.append((user, normalize(identity)))
            except IdentityError as exc:
                errors.append(f"line {number}: {exc}")
        return rows, errors

    def unmapped(self, limit: int = 20) -> tuple[list[Unmapped], int]:
        """The identities with the most kept usage (then outcomes), and how many in all."""
        keys = self.store.keys
        pipe = self.r.pipeline(transaction=False)
        pipe.zrevrange(keys.unmapped("tokens"), 0, limit - 1, withscores=True)
        pipe.zrevrange(keys.unmapped("outcomes"), 0, limit - 1, withscores=True)
        pipe.zcard(keys.unmapped("tokens"))
        pipe.zcard(keys.unmapped("outcomes"))
        by_tokens, by_outcomes, _n_tokens, _n_outcomes = pipe.execute()
        tokens = {m.decode(): s for m, s in by_tokens}
        outcomes = {m.decode(): s for m, s in by_outcomes}
        names = list(dict.fromkeys(list(tokens) + list(outcomes)))[:limit]
        if not names:
            return [], 0
        pipe = self.r.pipeline(transaction=False)
        for name in names:
            pipe.zscore(keys.unmapped("tokens"), name)
            pipe.zscore(keys.unmapped("outcomes"), name)
        scores = pipe.execute()
        last = self.r.hmget(keys.unmapped("last"), names)
        rows = [Unmapped(name, scores[2 * i] or 0.0, scores[2 * i + 1] or 0.0,
                         float(last[i]) if last[i] else None) for i, name in enumerate(names)]
        rows.sort(key=lambda u: (-u.tokens, -u.outcomes, u.identity))
        total = int(self.r.hlen(keys.unmapped("last")))
        return rows, total
