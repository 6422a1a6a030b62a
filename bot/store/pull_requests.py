"""How each merged pull request was credited (so a revert or a counterweight can take
exactly that back), and who approved a pull request as kept before approval delays were
(read only; `bot.store.outcome_ledger` keeps approvals now). Keys from `bot.store.keys`; entries
expire with retention.
"""

from __future__ import annotations

import json

import redis

from bot.store.keys import Keys


class PullRequests:
    def __init__(self, client: redis.Redis, keys: Keys, retention_days: int) -> None:
        self.r = client
        self.keys = keys
        self.ttl = retention_days * 86400

    def approved_by_other(self, pr_object_id: str, author: str) -> bool:
        """True when someone other than `author` approved the pull request."""
        reviewers = {m.decode() for m in self.r.smembers(self.keys.key("approvals",
                                                                        pr_object_id))}
        return bool(reviewers - {author})

    def remember_merge(self, repo: str, number: int, author: str,
                       modifiers: tuple[str, ...]) -> None:
        self.r.set(self.keys.key("merged", f"{repo}#{number}"),
                   json.dumps([author, list(modifiers)]), ex=self.ttl)

    def merged(self, repo: str, number: int) -> tuple[str, tuple[str, ...]] | None:
        """(author identity, modifiers) the merged pull request was credited with."""
        raw = self.r.get(self.keys.key("merged", f"{repo}#{number}"))
        if raw is None:
            return None
        author, modifiers = json.loads(raw)
        return author, tuple(modifiers)
