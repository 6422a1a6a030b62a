"""`POST /webhooks/github`, `/webhooks/gitlab`, `/webhooks/pagerduty`, on the report edge
(`bot.web.edge`).

401 for a bad signature or token, 400 for a body that cannot be read, 404 (logged once)
for a source whose secret is not configured, 413 past the size limit, 503 with
Retry-After when Redis is unreachable or the scoring changed mid-request (all three senders
retry on 5xx); nothing is counted in any of these cases. Everything else is 200,
including events tokenboard does not count. Webhooks have no bearer token and no
request rate: each source proves itself with its own secret, and counts in the
environment's workspace.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from bot.intake.count import Counted
from bot.intake.outcomes import count_facts
from bot.runtime.deps import Deps
from bot.sources.github import github_facts, github_verify
from bot.sources.gitlab import gitlab_facts, gitlab_verify
from bot.sources.pagerduty import pagerduty_facts, pagerduty_verify
from bot.sources.webhook_facts import Fact, WebhookError
from bot.web.edge import Answer, Caller, Environ, Refused, Wording, json_answer, json_refusal

log = logging.getLogger(__name__)
SOURCES = ("github", "gitlab", "pagerduty")
_warned: set[str] = set()


def _header(environ: Environ, name: str) -> str:
    return environ.get("HTTP_" + name.upper().replace("-", "_"), "")


def _secret(deps: Deps, source: str) -> tuple[str, str]:
    settings = deps.settings
    return {"github": (settings.github_webhook_secret, "GITHUB_WEBHOOK_SECRET"),
            "gitlab": (settings.gitlab_webhook_token, "GITLAB_WEBHOOK_TOKEN"),
            "pagerduty": (settings.pagerduty_webhook_secret, "PAGERDUTY_WEBHOOK_SECRET")
            }[source]


def _verify(source: str, secret: str, environ: Environ, body: bytes) -> None:
    """WebhookError(401) unless the delivery carries `source`'s proof of `secret`."""
    if source == "github":
        github_verify(secret, body, _header(environ, "X-Hub-Signature-256"))
    elif source == "gitlab":
        gitlab_verify(secret, _header(environ, "X-Gitlab-Token"))
    else:
        pagerduty_verify(secret, body, _header(environ, "X-PagerDuty-Signature"))


def _facts(source: str, environ: Environ, body: bytes) -> list[Fact]:
    """The delivery's facts (WebhookError 400 for a body that cannot be read)."""
    if source == "github":
        return github_facts(_header(environ, "X-GitHub-Event"), body)
    if source == "gitlab":
        return gitlab_facts(_header(environ, "X-Gitlab-Event"), body)
    return pagerduty_facts(body)


@dataclass(frozen=True)
class SourceSecret:
    """A webhook source's own secret (GITHUB_WEBHOOK_SECRET, GITLAB_WEBHOOK_TOKEN,
    PAGERDUTY_WEBHOOK_SECRET): 404 while it is not set, 401 when the delivery does not
    prove it. The caller is the environment's workspace, the sender the source."""

    source: str

    def caller(self, deps: Deps, environ: Environ) -> Caller:
        secret, variable = _secret(deps, self.source)
        if not secret:
            if self.source not in _warned:
                _warned.add(self.source)
                log.warning("a %s webhook arrived but %s is not set: answering 404",
                            self.source, variable)
            raise Refused(404, f"{self.source} webhooks are not configured here "
                               f"(set {variable})")
        return Caller(deps, self.source, limited=False)

    def verify(self, caller: Caller, environ: Environ, body: bytes) -> None:
        try:
            _verify(self.source, _secret(caller.deps, self.source)[0], environ, body)
        except WebhookError as exc:
            if exc.status == 401:
                log.info("%s webhook refused: %s (%d bytes)", self.source, exc.message,
                         len(body))
            raise Refused(exc.status, exc.message) from None


class WebhookRoute:
    """The receiver of one webhook source: a delivery's facts in, `{"counted",
    "duplicates", "ignored"?, "unmapped"?}` out (a conflict, the same object delivered
    again with other details, was counted before: it is a duplicate here)."""

    wording = Wording(
        scoring_changed="the scoring configuration changed while this was counted; retry "
                        "(nothing counts twice)",
        lookup="cannot resolve people right now ({}); retry", lookup_retry=5,
        storage="storage unavailable; retry (nothing is counted twice)")

    def __init__(self, source: str) -> None:
        self.source = source
        self.name = f"{source} webhook"
        self.auth = SourceSecret(source)

    def refuse(self, environ: Environ, refused: Refused) -> Answer:
        return json_refusal(refused)

    def decode(self, caller: Caller, environ: Environ, body: bytes, limit: int) -> list[Fact]:
        try:
            return _facts(self.source, environ, body)
        except WebhookError as exc:
            raise Refused(exc.status, exc.message) from None

    def count(self, caller: Caller, decoded: list[Fact]) -> Counted:
        if not decoded:
            log.debug("%s webhook: nothing to count in this delivery", self.source)
            return Counted()
        store = caller.deps.store
        prs = store.pull_requests
        return count_facts(store, caller.deps.identities, prs, decoded, self.source)

    def answer(self, caller: Caller, environ: Environ, decoded: list[Fact],
               result: Counted) -> Answer:
        if decoded:
            caller.deps.store.heard.mark(self.source)
        return json_answer(200, webhook_json(result))


def webhook_json(counted: Counted) -> dict[str, Any]:
    """A webhook delivery's answer: `{"counted", "duplicates", "ignored"?, "unmapped"?}`
    (a conflict, the same object delivered again with other details, is a duplicate)."""
    out: dict[str, Any] = {"counted": counted.counted,
                           "duplicates": len(counted.duplicates) + len(counted.conflicts)}
    if counted.rejected:
        out["ignored"] = [rejection.reason for rejection in counted.rejected]
    if counted.unmapped:
        out["unmapped"] = counted.unmapped
    return out
