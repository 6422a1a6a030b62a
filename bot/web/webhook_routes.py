"""`POST /webhooks/github`, `/webhooks/gitlab`, `/webhooks/pagerduty`.

401 for a bad signature or token, 400 for a body that cannot be read, 404 (logged once)
for a source whose secret is not configured, 413 past the size limit, 503 with
Retry-After when Redis is unreachable or the scoring changed mid-request (all three senders
retry on 5xx); nothing is counted in any of these cases. Everything else is 200,
including events tokenboard does not count.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import redis

from bot.intake.ingest import ScoringChanged
from bot.intake.outcomes import receive
from bot.runtime.deps import Deps
from bot.slack.directory import LookupUnavailable
from bot.sources.github import github_facts, github_verify
from bot.sources.gitlab import gitlab_facts, gitlab_verify
from bot.sources.pagerduty import pagerduty_facts, pagerduty_verify
from bot.sources.webhook_facts import Fact, WebhookError
from bot.web.body import BodyError, declared_length, read_body

log = logging.getLogger(__name__)
Answer = tuple[int, dict, list[tuple[str, str]]]
SOURCES = ("github", "gitlab", "pagerduty")
_warned: set[str] = set()


def _header(environ: dict[str, Any], name: str) -> str:
    return environ.get("HTTP_" + name.upper().replace("-", "_"), "")


def _secret(deps: Deps, source: str) -> tuple[str, str]:
    settings = deps.settings
    return {"github": (settings.github_webhook_secret, "GITHUB_WEBHOOK_SECRET"),
            "gitlab": (settings.gitlab_webhook_token, "GITLAB_WEBHOOK_TOKEN"),
            "pagerduty": (settings.pagerduty_webhook_secret, "PAGERDUTY_WEBHOOK_SECRET")
            }[source]


def _facts(source: str, secret: str, environ: dict[str, Any], body: bytes) -> list[Fact]:
    """Verify the delivery, then read its facts (WebhookError 401 / 400)."""
    if source == "github":
        github_verify(secret, body, _header(environ, "X-Hub-Signature-256"))
        return github_facts(_header(environ, "X-GitHub-Event"), body)
    if source == "gitlab":
        gitlab_verify(secret, _header(environ, "X-Gitlab-Token"))
        return gitlab_facts(_header(environ, "X-Gitlab-Event"), body)
    pagerduty_verify(secret, body, _header(environ, "X-PagerDuty-Signature"))
    return pagerduty_facts(body)


def handle(deps: Deps, environ: dict[str, Any], source: str) -> Answer:
    secret, variable = _secret(deps, source)
    if not secret:
        if source not in _warned:
            _warned.add(source)
            log.warning("a %s webhook arrived but %s is not set: answering 404", source,
                        variable)
        return 404, {"error": f"{source} webhooks are not configured here (set {variable})"}, []
    try:
        body = read_body(environ, declared_length(environ, deps.settings.max_body_bytes))
    except BodyError as exc:
        return exc.status, {"error": exc.message}, []
    try:
        facts = _facts(source, secret, environ, body)
    except WebhookError as exc:
        if exc.status == 401:
            log.info("%s webhook refused: %s (%d bytes)", source, exc.message, len(body))
        return exc.status, {"error": exc.message}, []
    if not facts:
        log.debug("%s webhook: nothing to count in this delivery", source)
        return 200, {"counted": 0, "duplicates": 0}, []
    prs = deps.store.pull_requests
    retry = 5
    try:
        receipt = receive(deps.store, deps.identities, prs, facts, source)
    except ScoringChanged:
        message, retry = ("the scoring configuration changed while this was counted; retry "
                          "(nothing counts twice)", 5)
    except LookupUnavailable as exc:
        message = f"cannot resolve people right now ({exc}); retry"
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        log.warning("%s webhook: Redis unavailable: %s", source, exc)
        message = "storage unavailable; retry (nothing is counted twice)"
    else:
        deps.store.heard.mark(source)
        return 200, receipt.as_dict(), []
    return 503, {"error": message}, [("Retry-After", str(retry))]


def route(path: str) -> Callable[[Deps, dict[str, Any]], Answer] | None:
    """The handler for a /webhooks/<source> path, or None."""
    source = path.removeprefix("/webhooks/")
    if not path.startswith("/webhooks/") or source not in SOURCES:
        return None
    return lambda deps, environ: handle(deps, environ, source)
