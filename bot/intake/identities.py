"""The identity map: who a source's identity (`source:value`) is in Slack.

One map for every source: `email:ana@example.com`, `otel:user_01abc` (an OpenTelemetry
account id), `cursor:4821` (Cursor's user id over OpenTelemetry), `github:octocat`,
`gitlab:ana`, `pagerduty:PABC123`, `anthropic-key:ci-bot`.
Emails also resolve through Slack's users.lookupByEmail; an explicit link wins over it.

Reports from an identity that maps to nobody are kept, not dropped: counted per identity
and day (see `Store.counting.record`), listed for admins, and credited to the person, for every
period and past days included, as soon as an admin links the identity.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from bot.core.config import BoardConfig
from bot.core.identity import Claim, IdentityError, normalize
from bot.intake.count import ScoringChanged, rescored
from bot.slack.directory import Directory
from bot.store.cached import Guard
from bot.store.store import COUNTED, REBUILDING, Store

USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")


@dataclass(frozen=True)
class Unmapped:
    identity: str
    tokens: float
    outcomes: float
    last_seen: float | None


def for_owner(who: str, owner: str | None) -> str | None:
    """Whom a report counts for, `who` being what it names resolved (a Slack user id, or
    an identity that maps to nobody) and `owner` the Slack user of the personal token it
    came with (None: a shared token, which reports for anyone). A personal token is one
    person's: a report naming its owner, or an identity that maps to nobody, counts for
    the owner; one naming another person is refused (None)."""
    if owner is None or who == owner:
        return who
    return None if USER_ID.match(who) else owner


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
        self.map = store.identity_map

    # -- resolution ---------------------------------------------------------------------
    def linked(self, identities: Iterable[str]) -> dict[str, str]:
        """The explicit links among `identities` (one HMGET)."""
        return self.map.links(list(dict.fromkeys(identities)))

    def resolve_many(self, firsts: list[str]) -> list[str]:
        """Who each identity is: the Slack user it is linked to, else (for `email:`) the
        user Slack has with that email, else the identity itself (it maps to nobody yet).
        One HMGET for the links; the unlinked emails are looked up together (cached; the
        new ones concurrently). LookupUnavailable when Slack cannot answer right now:
        nothing is resolved, the caller answers 503."""
        return self._resolve(firsts, self.linked(firsts))

    def resolve_many_cached(self, firsts: list[str]) -> tuple[list[str], Guard | None]:
        """`resolve_many` with the links this process read before at their current
        version (`bot.store.cached`), and the guard the counting call checks (None: no
        identity to resolve): linked identities then cost no Redis round trip."""
        if not firsts:
            return [], None
        links, guard = self.map.links_cached(firsts)
        return self._resolve(firsts, links), guard

    def resolve_guarded(self, firsts: list[str], guards: Sequence[Guard] | None,
                        ) -> tuple[list[str], list[Guard] | None]:
        """`resolve_many`; with `guards` (the caller's caches), `resolve_many_cached`,
        and `guards` with the links' guard added (None stays None)."""
        if guards is None:
            return self.resolve_many(firsts), None
        users, links = self.resolve_many_cached(firsts)
        return users, [*guards, *([links] if links else [])]

    def _resolve(self, firsts: list[str], links: dict[str, str]) -> list[str]:
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
        previous = self.map.link(identity, user)
        days = self.credit(identity, user)
        return LinkResult(identity, user, days, previous)

    def credit(self, identity: str, user: str) -> int:
        """Credit the days kept for an unmapped `identity` to `user`; how many days.
        ScoringChanged (nothing of that day lost: it stays kept for the identity) when
        the scoring configuration kept changing (`bot.intake.count.rescored`)."""
        credited = 0
        for _round in range(3):  # reports that resolved just before the link land late
            days = self.map.kept_days(identity)
            if not days:
                break
            for day_text in days:
                def credit_one(one: list[date], config: BoardConfig,
                               version: int) -> list[int]:
                    return [self.store.counting.credit_day(identity, user, one[0], config,
                                                           version)]

                [status] = rescored(self.store, [date.fromisoformat(day_text)], credit_one)
                if status == REBUILDING:  # the day stays listed, so a later link credits it
                    raise ScoringChanged("the scoring configuration kept changing; link "
                                         "again in a minute")
                credited += status == COUNTED
                self.map.drop_kept_day(identity, day_text)
        self.map.drop_kept_totals(identity)
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
        mine = self.map.claims_of(user)
        if mine >= MAX_CLAIMS_PER_USER:
            raise IdentityError(f"you already have {mine} claims waiting for an admin")
        self.map.add_claim(identity, user, now)
        return Claim(identity, user, now, linked)

    def claims(self) -> list[Claim]:
        """Pending claims, oldest first."""
        pending = self.map.claims()
        links = self.linked([identity for _, identity, _ in pending])
        return [Claim(identity, user, at, links.get(identity))
                for at, identity, user in sorted(pending)]

    def decide(self, identity: str, user: str, approve: bool) -> LinkResult | None:
        """Approve (link and credit) or reject a pending claim; None if there is no such
        claim (already decided)."""
        if not self.map.remove_claim(identity, user):
            return None
        if not approve:
            return LinkResult(identity, user, 0, None)
        return self.link(user, identity)

    def unlink(self, identity: str) -> str | None:
        """Forget the link (future reports from it are kept unmapped again; what it
        already credited stays with the person). Returns who it pointed to."""
        identity = normalize(identity)
        return self.map.unlink(identity)

    def export(self) -> list[tuple[str, str]]:
        """(slack_user, identity) pairs, sorted by user then identity."""
        return sorted(self.map.all_links())

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
        kept, total = self.map.kept_totals(limit)
        rows = [Unmapped(k.identity, k.tokens, k.outcomes, k.last_seen) for k in kept]
        rows.sort(key=lambda u: (-u.tokens, -u.outcomes, u.identity))
        return rows, total
