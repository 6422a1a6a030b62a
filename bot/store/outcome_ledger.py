"""What the outcome rules must remember between deliveries (`bot.core.outcome_rules` decides,
this keeps): when each pull request was last pushed and its size, every approval's delay,
reviews per reviewer–author pair and week, deployed (repository, commit, environment)s,
who triggered each incident, which issues merged pull requests close, and which pull
request each merge commit came from. Keys from `bot.store.keys` (`Keys.key`); everything
expires with the retention window (pair counts after 15 days).
"""

from __future__ import annotations

from datetime import datetime

import redis

from bot.store.keys import Keys
from bot.store.lua import Call, Script

PAIR_TTL = 15 * 86400
PAIR_REVIEW = Script("pair_review")
FIRST_DEPLOY = Script("first_deploy")
LATEST = Script("latest")


def pair_review_call(*, pairs: str, seen: str, review_object: str, pair: str, reverse: str,
                     ttl: int) -> Call:
    """lua/pair_review.lua: one review (`review_object`) of the week's `pair`
    ("reviewer>author"; `reverse` the other way)."""
    return Call([pairs, seen], [review_object, pair, reverse, ttl])


def first_deploy_call(*, deploy: str, status_object: str, ttl: int) -> Call:
    """lua/first_deploy.lua: whether `status_object` is the first deploy of `deploy`."""
    return Call([deploy], [status_object, ttl])


def latest_call(*, key: str, field: str, when: int, ttl: int,
                others: tuple[str, ...] = ()) -> Call:
    """lua/latest.lua: keep the later of `when` and `key`'s `field`; set the `others`
    field, value pairs."""
    return Call([key], [field, when, ttl, *others])


def iso_week(when: datetime) -> str:
    year, week, _ = when.isocalendar()
    return f"{year}-W{week:02d}"


class OutcomeLedger:
    def __init__(self, client: redis.Redis, keys: Keys, retention_days: int) -> None:
        self.r = client
        self.keys = keys
        self.ttl = max(retention_days, 1) * 86400

    # -- pull requests ---------------------------------------------------------------------
    def pushed(self, pr_object: str, when: datetime, lines: int | None) -> None:
        """The pull request was opened or pushed to at `when` (the latest time is kept)."""
        extra = ("lines", str(lines)) if lines is not None else ()
        LATEST.run(self.r, latest_call(key=self.keys.key("prinfo", pr_object), field="pushed",
                                       when=int(when.timestamp()), ttl=self.ttl, others=extra))

    def pr_info(self, pr_object: str) -> tuple[float | None, int | None]:
        """(last push epoch s, changed lines) as remembered, each None when unknown."""
        pushed, lines = self.r.hmget(self.keys.key("prinfo", pr_object), "pushed", "lines")
        return (float(pushed) if pushed is not None else None,
                int(lines) if lines is not None else None)

    def approve(self, pr_object: str, reviewer: str, delay_minutes: float | None) -> None:
        """An approval by `reviewer`, given `delay_minutes` after the last push (None:
        not known). A reviewer's longest delay is kept."""
        key = self.keys.key("approved", pr_object)
        old = self.r.hget(key, reviewer)
        value = -1.0 if delay_minutes is None else max(delay_minutes, 0.0)
        if old is not None and float(old) < 0 <= value:
            pass  # a known delay replaces an unknown one
        elif old is not None and (value < 0 or float(old) >= value):
            return
        pipe = self.r.pipeline(transaction=False)
        pipe.hset(key, reviewer, repr(value))
        pipe.expire(key, self.ttl)
        pipe.execute()

    def approvals(self, pr_object: str) -> dict[str, float | None]:
        """Reviewer → delay in minutes (None: not known)."""
        raw = self.r.hgetall(self.keys.key("approved", pr_object))
        return {k.decode(): (None if float(v) < 0 else float(v)) for k, v in raw.items()}

    def remember_merge_commit(self, repo: str, sha: str, number: int) -> None:
        self.r.set(self.keys.key("mergesha", f"{repo}@{sha.lower()}"), f"{repo}#{number}",
                   ex=self.ttl)

    def merged_by_commit(self, repo: str, sha: str) -> tuple[str, int] | None:
        raw = self.r.get(self.keys.key("mergesha", f"{repo}@{sha.lower()}"))
        if raw is None:
            return None
        name, _, number = raw.decode().rpartition("#")
        return name, int(number)

    # -- reviews per pair ------------------------------------------------------------------
    def pair_review(self, week: str, review_object: str, reviewer: str,
                    author: str) -> tuple[int, int]:
        """(ordinal, reverse): the review's place among `reviewer`'s reviews of `author`
        in `week`, and `author`'s reviews of `reviewer` that week so far. Once per review."""
        raw = PAIR_REVIEW.run(self.r, pair_review_call(
            pairs=self.keys.key("pairs", week), seen=self.keys.key("pairseen", week),
            review_object=review_object, pair=f"{reviewer}>{author}",
            reverse=f"{author}>{reviewer}", ttl=PAIR_TTL))
        ordinal, reverse = (raw.decode() if isinstance(raw, bytes) else raw).split(",")
        return int(ordinal), int(reverse)

    def pairs(self, week: str) -> dict[tuple[str, str], int]:
        """(reviewer, author) → reviews in `week`."""
        out = {}
        for field, count in self.r.hgetall(self.keys.key("pairs", week)).items():
            reviewer, _, author = field.decode().partition(">")
            out[(reviewer, author)] = int(count)
        return out

    # -- tickets ---------------------------------------------------------------------------
    def remember_closes(self, issues: tuple[tuple[str, int], ...]) -> None:
        if not issues:
            return
        pipe = self.r.pipeline(transaction=False)
        for repo, number in issues:
            pipe.set(self.keys.key("closes", f"{repo}#{number}"), 1, ex=self.ttl)
        pipe.execute()

    def closed_by_change(self, repo: str, number: int) -> bool:
        return bool(self.r.exists(self.keys.key("closes", f"{repo}#{number}")))

    # -- deploys ---------------------------------------------------------------------------
    def first_deploy(self, repo: str, sha: str, environment: str, status_object: str) -> bool:
        key = self.keys.key("deployed", f"{repo}@{sha.lower()}:{environment}")
        return FIRST_DEPLOY.run(self.r, first_deploy_call(
            deploy=key, status_object=status_object, ttl=self.ttl)) == 1

    # -- incidents -------------------------------------------------------------------------
    def triggered(self, incident_object: str, by: str, when: datetime) -> None:
        key = self.keys.key("incident", incident_object)
        pipe = self.r.pipeline(transaction=False)
        pipe.hsetnx(key, "by", by)
        pipe.hsetnx(key, "at", int(when.timestamp()))
        pipe.expire(key, self.ttl)
        pipe.execute()

    def trigger(self, incident_object: str) -> tuple[str | None, float | None]:
        """(who or what triggered it, when) as remembered."""
        by, at = self.r.hmget(self.keys.key("incident", incident_object), "by", "at")
        return (by.decode() if by is not None else None,
                float(at) if at is not None else None)
