"""The connector tests' days, vendor key and read-backs, rows as Claude Code's and
Copilot's APIs send them, and a pull with the vendor's own pacer on a fake clock
(FakeClock: time passes only when slept).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from bot.connectors import vendors
from bot.connectors.runner import PullResult, run_pull
from bot.core.periods import Bucket
from bot.runtime.deps import Deps

TODAY = datetime.now(UTC).date()
D1, D2, D3 = (TODAY - timedelta(days=n) for n in (6, 5, 4))
KEY = "sk-ant-admin-test"


def board(deps: Deps, metric: str, bucket: Bucket, who: str) -> float | None:
    return deps.store.r.zscore(deps.store.keys.board(metric, bucket), who)


class FakeClock:
    """Time that passes only when slept; the pacer's waits are kept apart from the retry
    policy's (`paced`)."""

    def __init__(self) -> None:
        self.t = 0.0
        self.paced: list[float] = []

    def now(self) -> float:
        return self.t

    def pace(self, seconds: float) -> None:
        self.paced.append(seconds)
        self.t += seconds


def pull(deps: Deps, source: str, since: date, until: date, sleeps: list[float] | None = None,
         clock: FakeClock | None = None, **settings: str) -> PullResult:
    """Pull with the vendor's own pacer on a fake clock; retry waits go to `sleeps` (and
    move the clock on too)."""
    config = replace(deps.settings, **settings)
    clock = clock or FakeClock()
    waits = sleeps if sleeps is not None else []

    def retry_sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.t += seconds

    connector = vendors.build(config, source, sleep=retry_sleep,
                              pace=vendors.pacer(source, clock.now, clock.pace))
    return run_pull(deps.store, deps.identities, connector, since, until)


# -- Claude Code ---------------------------------------------------------------------------

def claude_record(day: date, tokens: tuple[int, int, int, int], cents: float,
                  email: str = "", key: str = "", sessions: int = 1) -> dict:
    actor = ({"type": "user_actor", "email_address": email} if email
             else {"type": "api_actor", "api_key_name": key})
    half = [t // 2 for t in tokens]
    rest = [t - h for t, h in zip(tokens, half, strict=True)]
    return {"date": f"{day.isoformat()}T00:00:00Z", "actor": actor,
            "organization_id": "org", "customer_type": "api", "terminal_type": "vscode",
            "core_metrics": {"num_sessions": sessions,
                             "lines_of_code": {"added": 10, "removed": 2},
                             "commits_by_claude_code": 1, "pull_requests_by_claude_code": 0},
            "tool_actions": {},
            "model_breakdown": [  # two models: the row adds them up
                {"model": "claude-sonnet", "tokens": dict(zip(
                    ("input", "output", "cache_read", "cache_creation"), half, strict=True)),
                 "estimated_cost": {"currency": "USD", "amount": cents / 2}},
                {"model": "claude-opus", "tokens": dict(zip(
                    ("input", "output", "cache_read", "cache_creation"), rest, strict=True)),
                 "estimated_cost": {"currency": "USD", "amount": cents / 2}}]}


# -- Copilot --------------------------------------------------------------------------------


def copilot_record(login: str, day: date, prompt: int, output: int, interactions: int = 1
                   ) -> dict:
    return {"user_login": login, "user_id": hash(login) % 1000, "day": day.isoformat(),
            "user_initiated_interaction_count": interactions,
            "code_generation_activity_count": 2, "code_acceptance_activity_count": 1,
            "loc_added_sum": 5, "loc_deleted_sum": 1,
            "totals_by_cli": {"request_count": 3, "session_count": 1, "token_usage": {
                "prompt_tokens_sum": prompt, "output_tokens_sum": output}}}
