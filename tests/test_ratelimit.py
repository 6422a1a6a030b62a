"""Per-sender request rate limit on /ingest (INGEST_RATE_LIMIT), kept in Redis."""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import pytest

from bot.runtime.app import build_deps
from tests.conftest import INGEST_TOKEN, App


def usage(event_id: str) -> list[dict]:
    return [{"id": event_id, "type": "usage", "user": "U0A", "ts": int(time.time()) - 60,
             "tool": "t", "tokens": 1}]


@pytest.mark.slow
def test_ingest_answers_429_past_the_senders_rate(settings, redis_client, stub,
                                                   caplog) -> None:
    caplog.set_level(logging.INFO)
    limited = App(build_deps(replace(settings, ingest_rate_limit=5), redis_client), stub)
    try:
        statuses = [limited.ingest(usage(f"a{i}")).status for i in range(5)]
        refused = limited.ingest(usage("a5"))
        other = limited.ingest(usage("b0"), token="ingest-secret-2")
    finally:
        limited.stop()
    assert statuses == [200] * 5
    assert refused.status == 429
    # 5 a minute, evenly spread: the next one is allowed 12 s after the first.
    assert 1 <= int(refused.headers["Retry-After"]) <= 12
    assert other.status == 200  # another sender has its own allowance
    # The refused event was not counted: 5 reports of 1 token from the first sender.
    assert redis_client.zscore("tb:{default}:z:tokens:a:all", "U0A") == 6  # 5 + other's 1
    assert INGEST_TOKEN not in caplog.text
    assert any("over the rate limit" in r.getMessage() and "env-" in r.getMessage()
               for r in caplog.records)


@pytest.mark.slow
def test_rate_limit_is_off_when_set_to_zero(settings, redis_client, stub) -> None:
    unlimited = App(build_deps(replace(settings, ingest_rate_limit=0), redis_client), stub)
    try:
        statuses = {unlimited.ingest(usage(f"z{i}")).status for i in range(30)}
    finally:
        unlimited.stop()
    assert statuses == {200}
    assert not redis_client.keys("tb:{default}:rate:*")


@pytest.mark.slow
def test_otlp_exports_share_the_senders_rate(settings, redis_client, stub) -> None:
    from google.rpc import status_pb2

    from tests.conftest import http

    limited = App(build_deps(replace(settings, ingest_rate_limit=3), redis_client), stub)
    headers = {"Authorization": f"Bearer {INGEST_TOKEN}",
               "Content-Type": "application/x-protobuf"}
    try:
        limited.ingest(usage("c0"))  # /ingest and /v1/* draw on one allowance
        answers = [http("POST", limited.url + "/v1/metrics", b"", headers) for _ in range(3)]
    finally:
        limited.stop()
    assert [a.status for a in answers] == [200, 200, 429]
    assert int(answers[2].headers["Retry-After"]) >= 1
    assert "requests a minute" in status_pb2.Status.FromString(answers[2].body).message


@pytest.mark.slow
def test_a_token_can_carry_its_own_rate(settings, redis_client, stub) -> None:
    deps = build_deps(replace(settings, ingest_rate_limit=2), redis_client)
    fleet = deps.senders.create("laptops", rate_limit=0)  # every laptop shares it
    tight = deps.senders.create("script", rate_limit=1)
    limited = App(deps, stub)
    try:
        fleet_answers = [limited.ingest(usage(f"f{i}"), token=fleet).status for i in range(6)]
        tight_answers = [limited.ingest(usage(f"t{i}"), token=tight).status for i in range(2)]
    finally:
        limited.stop()
    assert fleet_answers == [200] * 6
    assert tight_answers == [200, 429]
    rates = {s.name: s.rate_limit for s in deps.senders.list()}
    assert (rates["laptops"], rates["script"]) == (0, 1)
