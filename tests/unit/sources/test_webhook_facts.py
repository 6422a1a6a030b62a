"""What every webhook source shares (bot/sources/webhook_facts.py): timestamps, and
arbitrary JSON or bytes only ever giving facts or WebhookError (hypothesis), for GitHub,
GitLab and PagerDuty alike; pure.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.sources.github import github_facts
from bot.sources.gitlab import gitlab_facts
from bot.sources.pagerduty import pagerduty_facts
from bot.sources.webhook_facts import Fact, WebhookError, timestamp
from tests.unit.sources.webhook_payloads import (
    USER_AGENT,
    gitlab_deployment,
    gitlab_mr,
    load,
    pd_event,
    refused,
    utc,
)

# ---------------------------------------------------------------------------------------
# Timestamps

@pytest.mark.parametrize(("text", "expected"), [
    ("2019-05-15T15:20:33Z", utc(2019, 5, 15, 15, 20, 33)),
    ("2019-05-15T15:20:33z", utc(2019, 5, 15, 15, 20, 33)),
    ("2019-05-15T17:20:33+02:00", utc(2019, 5, 15, 15, 20, 33)),
    ("2019-05-15T10:20:33-0500", utc(2019, 5, 15, 15, 20, 33)),
    ("2019-05-15 15:20:33 UTC", utc(2019, 5, 15, 15, 20, 33)),
    ("2021-04-28 21:50:00 +0200", utc(2021, 4, 28, 19, 50)),
    ("2020-10-02T18:45:22.169Z", datetime(2020, 10, 2, 18, 45, 22, 169000, tzinfo=UTC)),
    ("2021-02-23T02:41:37.886123456Z", datetime(2021, 2, 23, 2, 41, 37, 886123, tzinfo=UTC)),
    ("2019-05-16T00:20:33+09", utc(2019, 5, 15, 15, 20, 33)),
])
def test_timestamps(text: str, expected: datetime) -> None:
    when = timestamp({"t": text}, "t")
    assert when == expected and when.tzinfo is UTC


@pytest.mark.parametrize("text", ["2019-05-15T15:20:33", "2019-05-15", "1557933633",
                                  "2019-02-30T00:00:00Z", "2019-05-15T15:20:33+25:00",
                                  "2019-05-15T24:00:00Z", "", 1557933633, None])
def test_bad_timestamps_are_400(text: Any) -> None:
    refused(400, timestamp, {"t": text}, "t")



# ---------------------------------------------------------------------------------------
# Fuzz: arbitrary JSON only ever gives facts or WebhookError

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=30)


def key_paths(doc: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every path to a key of every object in `doc`."""
    out: list[tuple[str, ...]] = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            out.append((*prefix, key))
            out.extend(key_paths(value, (*prefix, key)))
    return out


EVENTS = [
    ("github", "pull_request", load("pull_request/merged.json")),
    ("github", "pull_request_review", load("pull_request_review/submitted.json")),
    ("github", "deployment_status", load("deployment_status/success.json")),
    ("github", "issues", load("issues/closed.json")),
    ("gitlab", "Merge Request Hook", gitlab_mr("merge", user_id=6, username="user1")),
    ("gitlab", "Merge Request Hook", gitlab_mr("approval", user_id=6, username="user1")),
    ("gitlab", "Deployment Hook", gitlab_deployment("success")),
    ("pagerduty", "", pd_event("incident.resolved", USER_AGENT)),
]


def facts_of(source: str, event: str, body: bytes) -> list[Fact]:
    if source == "github":
        return github_facts(event, body)
    if source == "gitlab":
        return gitlab_facts(event, body)
    return pagerduty_facts(body)


def only_facts_or_webhook_errors(source: str, event: str, body: bytes) -> None:
    try:
        facts = facts_of(source, event, body)
    except WebhookError as exc:
        assert exc.status == 400 and exc.message
        return
    assert isinstance(facts, list)
    for fact in facts:
        assert isinstance(fact, Fact) and fact.ts.tzinfo is UTC and ":" in fact.actor


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(0, len(EVENTS) - 1), doc=JSON)
def test_fuzz_arbitrary_json(index: int, doc: Any) -> None:
    source, event, _template = EVENTS[index]
    only_facts_or_webhook_errors(source, event, json.dumps(doc).encode())


@settings(max_examples=400, deadline=None)
@given(data=st.data(), index=st.integers(0, len(EVENTS) - 1))
def test_fuzz_counted_events_with_fields_broken(data: st.DataObject, index: int) -> None:
    """A counted event with one to three fields deleted or replaced by arbitrary JSON, so
    the fuzzing reaches past the first checks of each event."""
    source, event, template = EVENTS[index]
    doc = copy.deepcopy(template)
    paths = key_paths(doc)
    for _ in range(data.draw(st.integers(1, 3))):
        *parents, leaf = data.draw(st.sampled_from(paths))
        target: Any = doc
        for key in parents:
            target = target.get(key) if isinstance(target, dict) else None
        if isinstance(target, dict) and leaf in target:
            if data.draw(st.booleans()):
                del target[leaf]
            else:
                target[leaf] = data.draw(JSON)
    only_facts_or_webhook_errors(source, event, json.dumps(doc).encode())


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=64), event=st.sampled_from(
    ["pull_request", "issues", "Merge Request Hook", "Deployment Hook", "ping"]))
def test_fuzz_arbitrary_bytes(body: bytes, event: str) -> None:
    for source in ("github", "gitlab", "pagerduty"):
        only_facts_or_webhook_errors(source, event, body)
