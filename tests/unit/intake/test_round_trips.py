"""Redis round trips of a report at the report edge (`bot.web.edge.serve`, in process): an
OTLP export of a linked person, or an /ingest batch, costs one round trip once the
process has read the sender's token, the configuration and the links (`bot.store.cached`),
and a change made meanwhile by another process (a link, a revoked token, a new
configuration) is seen by the very next report. Round trips are counted on the
connection (one socket write per command or pipeline), never timed."""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis

from bot.core.config import BoardConfig
from bot.core.periods import ALL
from bot.core.settings import Settings
from bot.runtime.app import build_deps
from bot.runtime.deps import Deps
from bot.store.counting import CALL_EVENTS
from bot.store.senders import Senders
from bot.store.store import Store
from bot.web.edge import serve
from bot.web.ingest_route import IngestRoute
from bot.web.otlp_routes import OtlpRoute
from tests.conftest import INGEST_TOKEN
from tests.support.otlp_exports import export

PROTO = "application/x-protobuf"


class Counting(redis.Connection):
    sends = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        Counting.sends += 1
        super().send_packed_command(command, check_health)


def counting_deps(settings: Settings, redis_client: redis.Redis, rate: int
                  ) -> Iterator[Deps]:
    """The app's Deps on a client whose connections count their round trips, with
    INGEST_RATE_LIMIT `rate`."""
    kwargs = redis_client.connection_pool.connection_kwargs
    client = redis.Redis(connection_pool=redis.ConnectionPool(
        connection_class=Counting, host=kwargs["host"], port=kwargs["port"], protocol=2))
    yield build_deps(dataclasses.replace(settings, ingest_rate_limit=rate), client)
    client.close()


@pytest.fixture
def deps(settings: Settings, redis_client: redis.Redis) -> Iterator[Deps]:
    """No rate limit."""
    yield from counting_deps(settings, redis_client, 0)


def post(deps: Deps, path: str, body: bytes, content_type: str,
         token: str = INGEST_TOKEN) -> tuple[int, int]:
    """(HTTP status, Redis round trips) of one request."""
    environ = {"PATH_INFO": path, "REQUEST_METHOD": "POST", "CONTENT_TYPE": content_type,
               "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body),
               "HTTP_AUTHORIZATION": f"Bearer {token}"}
    route = OtlpRoute("metrics") if path == "/v1/metrics" else IngestRoute()
    before = Counting.sends
    status, _, _ = serve(route, deps, environ)
    return status, Counting.sends - before


def tokens_of(deps: Deps, user: str) -> float:
    return deps.store.r.zscore(deps.store.keys.board("tokens", ALL), user) or 0.0


def test_an_otlp_export_costs_one_round_trip_once_caches_are_warm(deps: Deps) -> None:
    other = Store(redis.Redis(connection_pool=deps.store.r.connection_pool))  # "another process"
    other.identity_map.link("email:ana@example.com", "U0ANA")
    status, first = post(deps, "/v1/metrics", export("ana@example.com", 0), PROTO)
    assert status == 200 and first > 1  # token, configuration and links read once
    for n in range(1, 6):
        assert post(deps, "/v1/metrics", export("ana@example.com", n),
                    PROTO) == (200, 1)
    assert tokens_of(deps, "U0ANA") == 6 * 200

    # another process links a second identity and the email moves: the next export sees it
    other.identity_map.link("email:ana@example.com", "U0ANB")
    status, trips = post(deps, "/v1/metrics", export("ana@example.com", 6),
                         PROTO)
    assert status == 200 and trips > 1  # found stale, read afresh, counted once
    assert tokens_of(deps, "U0ANB") == 200 and tokens_of(deps, "U0ANA") == 6 * 200
    assert post(deps, "/v1/metrics", export("ana@example.com", 7),
                PROTO) == (200, 1)

    # a new configuration: the export is scored with it, then one round trip again
    other.configs.save(BoardConfig(token_types=["output"]))
    status, trips = post(deps, "/v1/metrics", export("ana@example.com", 8),
                         PROTO)
    assert status == 200 and trips > 1
    assert tokens_of(deps, "U0ANB") == 200 + 200 + 100  # only output tokens count now
    assert post(deps, "/v1/metrics", export("ana@example.com", 9),
                PROTO) == (200, 1)


def test_a_token_revoked_by_another_process_is_refused_at_once(deps: Deps) -> None:
    token = deps.senders.create("laptops")
    deps.store.identity_map.link("email:bo@example.com", "U0BO")
    assert post(deps, "/v1/metrics", export("bo@example.com", 0), PROTO,
                token)[0] == 200
    assert post(deps, "/v1/metrics", export("bo@example.com", 1), PROTO,
                token) == (200, 1)
    Senders(redis.Redis(connection_pool=deps.store.r.connection_pool),
            deps.store.keys).revoke("laptops")
    assert post(deps, "/v1/metrics", export("bo@example.com", 2, tokens=7),
                PROTO, token)[0] == 401
    assert tokens_of(deps, "U0BO") == 400  # nothing of the refused export counted


def test_an_ingest_batch_costs_one_round_trip(deps: Deps) -> None:
    now = datetime.now(UTC).isoformat()

    def batch(start: int) -> bytes:
        return json.dumps({"events": [
            {"id": f"e{i}", "type": "usage", "user": f"U0P{i % 7}", "ts": now, "tool": "t",
             "tokens": 10} if i % 4 else
            {"id": f"e{i}", "type": "outcome", "user": f"U0P{i % 7}", "ts": now,
             "kind": "pr_merged", "count": 1} for i in range(start, start + 50)]}).encode()

    assert post(deps, "/ingest", batch(0), "application/json")[0] == 200
    for start in range(50, 300, 50):
        assert post(deps, "/ingest", batch(start), "application/json") == (200, 1)
    # every event counted: 300 events, the 225 with i % 4 != 0 usage of 10 tokens each
    assert sum(tokens_of(deps, f"U0P{k}") for k in range(7)) == 225 * 10


def test_a_kind_added_by_another_process_is_known_to_the_next_batch(deps: Deps) -> None:
    now = datetime.now(UTC).isoformat()

    def outcome(i: int, kind: str) -> bytes:
        return json.dumps({"events": [{"id": f"o{i}", "type": "outcome", "user": "U0Q",
                                       "ts": now, "kind": kind, "count": 1}]}).encode()

    assert post(deps, "/ingest", outcome(0, "pr_merged"), "application/json")[0] == 200
    assert post(deps, "/ingest", outcome(1, "pr_merged"), "application/json") == (200, 1)
    other = Store(redis.Redis(connection_pool=deps.store.r.connection_pool))
    config = other.configs.load()
    rule = next(iter(config.outcomes.values()))
    other.configs.save(config.model_copy(update={"outcomes": {**config.outcomes,
                                                              "talk_given": rule}}))
    # the cached configuration does not know the kind: the batch is checked, found stale,
    # read afresh and counted
    status, trips = post(deps, "/ingest", outcome(2, "talk_given"), "application/json")
    assert status == 200 and trips > 1
    day = deps.store.reads.day_counts(datetime.now(UTC).date(), "U0Q")
    assert day.get("o:talk_given") == 1


def test_a_person_found_by_email_costs_one_round_trip_too(deps: Deps) -> None:
    """Not linked: the email → user answer the process read is trusted for
    EMAIL_MEMO_SECONDS (bot.slack.directory), so the export is one round trip again."""
    deps.store.slack_cache.put_email("cy@example.com", "U0CY")  # what Slack answered
    assert post(deps, "/v1/metrics", export("cy@example.com", 0), PROTO)[0] == 200
    for n in range(1, 4):
        assert post(deps, "/v1/metrics", export("cy@example.com", n), PROTO) == (200, 1)
    assert tokens_of(deps, "U0CY") == 4 * 200


@pytest.fixture
def limited(settings: Settings, redis_client: redis.Redis) -> Iterator[Deps]:
    """A rate limit of 3 requests a minute."""
    yield from counting_deps(settings, redis_client, 3)


def test_the_rate_limit_costs_no_round_trip_of_its_own(limited: Deps) -> None:
    """The request is counted against the sender's rate by the counting call itself; a
    sender over its rate is refused by that call (nothing counted), then at once by the
    process until its Retry-After has passed."""
    limited.store.identity_map.link("email:di@example.com", "U0DI")
    assert post(limited, "/v1/metrics", export("di@example.com", 0), PROTO)[0] == 200
    for n in (1, 2):  # a burst of 3 a minute is allowed
        assert post(limited, "/v1/metrics", export("di@example.com", n), PROTO) == (200, 1)
    assert post(limited, "/v1/metrics", export("di@example.com", 3), PROTO) == (429, 1)
    assert post(limited, "/v1/metrics", export("di@example.com", 4), PROTO) == (429, 0)
    assert tokens_of(limited, "U0DI") == 3 * 200  # the refused exports counted nothing


def test_a_bad_request_still_counts_against_the_rate(limited: Deps) -> None:
    for _ in range(3):
        assert post(limited, "/v1/metrics", b"not protobuf", PROTO)[0] == 400
    assert post(limited, "/v1/metrics", b"not protobuf", PROTO)[0] == 429


def test_a_batch_of_several_counting_calls_is_one_round_trip_under_the_rate_limit(
        limited: Deps, redis_client: redis.Redis) -> None:
    """A batch larger than one counting call (CALL_EVENTS) sends all its calls at once:
    the first counts the request against the rate, and when it is refused the request's
    gate keeps every later call of the batch from counting anything."""
    events = 3 * CALL_EVENTS + 5  # four calls, one person each
    now = datetime.now(UTC).isoformat()

    def batch(n: int) -> bytes:
        return json.dumps({"events": [
            {"id": f"b{n}-{i}", "type": "usage", "user": f"U0G{i % 4}", "ts": now,
             "tool": "t", "tokens": 10} for i in range(events)]}).encode()

    assert post(limited, "/ingest", batch(0), "application/json")[0] == 200
    for n in (1, 2):  # a burst of 3 a minute is allowed
        assert post(limited, "/ingest", batch(n), "application/json") == (200, 1)
    assert post(limited, "/ingest", batch(3), "application/json") == (429, 1)
    assert sum(tokens_of(limited, f"U0G{k}") for k in range(4)) == 3 * events * 10
    gates = redis_client.keys(limited.store.keys.rate_gate("*"))
    assert len(gates) == 1 and redis_client.pttl(gates[0]) > 0  # it goes away by itself


def test_a_batch_found_stale_part_of_the_way_answers_what_it_counted_as_counted(
        deps: Deps, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process saves the configuration between a large batch's counting calls:
    the calls before it are final, the rest is counted after a fresh read, and the
    answer says every event was accepted (none is a duplicate of this very request)."""
    events = 2 * CALL_EVENTS + 3  # three calls
    now = datetime.now(UTC).isoformat()

    def batch(n: int) -> bytes:
        return json.dumps({"events": [
            {"id": f"s{n}-{i}", "type": "usage", "user": f"U0S{i}", "ts": now,
             "tool": "t", "tokens": 10} for i in range(events)]}).encode()

    def ingest(body: bytes) -> dict[str, Any]:
        environ = {"PATH_INFO": "/ingest", "REQUEST_METHOD": "POST",
                   "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)),
                   "wsgi.input": io.BytesIO(body), "HTTP_AUTHORIZATION": f"Bearer {INGEST_TOKEN}"}
        status, answer, _ = serve(IngestRoute(), deps, environ)
        assert status == 200
        return json.loads(answer)

    assert ingest(batch(0))["accepted"] == events  # caches warm
    other = Store(redis.Redis(connection_pool=deps.store.r.connection_pool))
    counting = type(deps.store.counting)
    run, calls_seen = counting._run, []

    def saved_meanwhile(self: Any, calls: list) -> list:
        calls_seen.append(len(calls))
        if len(calls_seen) > 1:
            return run(self, calls)
        first = run(self, calls[:1])
        other.configs.save(BoardConfig(token_types=["output"]))  # a new version
        return first + run(self, calls[1:])

    monkeypatch.setattr(counting, "_run", saved_meanwhile)
    answer = ingest(batch(1))
    assert calls_seen == [3, 2]  # the retry sent only the two calls found stale
    assert (answer["accepted"], answer["duplicates"], answer["rejected"]) == (events, 0, [])
    assert sum(tokens_of(deps, f"U0S{i}") for i in range(events)) == 2 * events * 10
