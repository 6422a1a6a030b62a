"""The fault suite's stream (tests/test_faults.py): what is sent (/ingest batches, OTLP
exports, GitHub deliveries) and what it must add up to, sending each request until it is
answered 200 (with the very same body) while faults are injected, and the all-time
boards read back against the plan.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import math
import random
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
import redis
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.sdk.metrics import Counter as OtelCounter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.resources import Resource

from bot.core.periods import buckets_for_day, local_date
from bot.intake.identities import Identities
from bot.slack.directory import Directory
from bot.store.store import Store
from tests.slack_stub import SlackStub
from tests.support.webhook_requests import GH_SECRET, merged_pr

SENDER, TOKEN = "faults", "fault-suite-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BATCHES, PER_BATCH, PEOPLE = 200, 50, 20
OTLP_PEOPLE, EXPORTS = 4, 8  # each: EXPORTS delta and EXPORTS cumulative exports
AUTHORS, PRS = 4, 6  # GitHub: merged pull requests per author, each delivered twice
LANES = 3  # concurrent senders, so a fault nearly always finds a request in flight
FAULTS = 4
DEADLINE = 120.0  # seconds; a stream that has not finished by then fails the test
CLAUDE = "com.anthropic.claude_code"


# -- what is sent, and what it must add up to ---------------------------------------------
@dataclass
class Request:
    path: str
    body: bytes
    headers: dict[str, str]
    events: int  # events (or OTLP data points) it carries


@dataclass
class Plan:
    lanes: list[list[Request]]
    day: datetime  # the ts of every /ingest event
    tokens: Counter[str] = field(default_factory=Counter)  # all-time tokens per person
    requests: Counter[str] = field(default_factory=Counter)  # usage events per person
    deploys: Counter[str] = field(default_factory=Counter)  # deploy outcomes per person
    merges: Counter[str] = field(default_factory=Counter)  # merged pull requests per person
    links: dict[str, str] = field(default_factory=dict)  # github:<login> → person
    events: int = 0

    @property
    def total(self) -> int:
        return sum(len(lane) for lane in self.lanes)


def otlp_bodies(values: list[int], delta: bool, email: str, kind: str) -> list[bytes]:
    """One protobuf export per value, as the SDK encodes them (a delta or cumulative
    series of claude_code.token.usage of `kind` for `email`)."""
    temporality = {OtelCounter: AggregationTemporality.DELTA} if delta else None
    reader = InMemoryMetricReader(preferred_temporality=temporality)
    provider = MeterProvider(resource=Resource.create({"service.name": "claude-code",
                                                       "user.email": email}),
                             metric_readers=[reader])
    counter = provider.get_meter(CLAUDE).create_counter("claude_code.token.usage")
    bodies = []
    for value in values:
        counter.add(value, {"type": kind})
        bodies.append(encode_metrics(reader.get_metrics_data()).SerializeToString())
    provider.shutdown()
    return bodies


def make_plan(rng: random.Random, stub: SlackStub) -> Plan:
    people = [f"U0FLT{i:03d}" for i in range(PEOPLE)]
    ts = datetime.now(UTC) - timedelta(seconds=30)
    plan = Plan(lanes=[[] for _ in range(LANES)], day=ts)
    headers = {"Content-Type": "application/json", **AUTH}
    for batch in range(BATCHES):
        events: list[dict[str, object]] = []
        for j in range(PER_BATCH):
            user, tokens = people[rng.randrange(PEOPLE)], rng.randint(1, 5000)
            events.append({"id": f"u-{batch}-{j}", "type": "usage", "user": user,
                           "ts": ts.isoformat(), "tool": "faultbench", "tokens": tokens})
            plan.tokens[user] += tokens
            plan.requests[user] += 1
        if batch % 2 == 0:  # 5 deploys per person: under the daily cap of 10
            user = people[(batch // 2) % PEOPLE]
            events.append({"id": f"o-{batch}", "type": "outcome", "user": user,
                           "ts": ts.isoformat(), "kind": "deploy"})
            plan.deploys[user] += 1
        plan.events += len(events)
        body = json.dumps({"events": events}).encode()
        plan.lanes[batch % LANES].append(Request("/ingest", body, headers, len(events)))
    proto = {"Content-Type": "application/x-protobuf", **AUTH}
    for i, user in enumerate(people[:OTLP_PEOPLE]):
        email = f"{user.lower()}@example.com"
        stub.add_user(user, real_name=user, email=email)
        delta = [rng.randint(1, 9000) for _ in range(EXPORTS)]
        growth = [rng.randint(0, 9000) for _ in range(EXPORTS)]  # 0: a repeated value
        plan.tokens[user] += sum(delta) + sum(growth)
        streams = [otlp_bodies(delta, True, email, "output"),
                   otlp_bodies(growth, False, email, "input")]
        for n, bodies in enumerate(streams):  # a stream stays in one lane, in order
            lane = plan.lanes[(i * 2 + n) % LANES]
            for body in bodies:  # spread among the batches, order kept
                at = rng.randint(0, len(lane))
                later = [k for k, r in enumerate(lane) if r.body in bodies]
                at = max([at] + [k + 1 for k in later])
                lane.insert(at, Request("/v1/metrics", body, proto, 1))
                plan.events += 1
    for i, user in enumerate(people[-AUTHORS:]):
        login, merger = f"dev{i}", f"dev{(i + 1) % AUTHORS}"
        plan.links[f"github:{login}"] = user
        for n in range(PRS):
            pr_id = 50_000 + i * 100 + n
            doc = merged_pr(pr_id, pr_id, login, merger, lines=40, when=ts)
            body = json.dumps(doc).encode()
            signature = "sha256=" + hmac.new(GH_SECRET.encode(), body,
                                             hashlib.sha256).hexdigest()
            plan.merges[user] += 1
            plan.events += 1
            for hook in ("repo", "org"):  # two hooks deliver the same merge: it counts once
                headers = {"Content-Type": "application/json", "X-GitHub-Event": "pull_request",
                           "X-GitHub-Delivery": f"{hook}-{pr_id}",
                           "X-Hub-Signature-256": signature}
                lane = plan.lanes[rng.randrange(LANES)]
                lane.insert(rng.randint(0, len(lane)),
                            Request("/webhooks/github", body, headers, 1))
    return plan


def link_identities(plan: Plan, redis_url: str) -> None:
    """As `tokenboard identities link` does: GitHub logins → Slack users."""
    client = redis.Redis.from_url(redis_url, protocol=2)
    try:
        store = Store(client)
        identities = Identities(store, Directory(store, None))
        for identity, user in plan.links.items():
            identities.link(user, identity)
    finally:
        client.close()


# -- sending, with retries ----------------------------------------------------------------
@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: int = 0
    attempts: int = 0
    statuses: Counter[str] = field(default_factory=Counter)  # non-200 answers and errors
    accepted: int = 0  # /ingest events answered as accepted
    duplicates: int = 0  # /ingest events answered as duplicates (a retry after a fault)
    failures: list[str] = field(default_factory=list)

    def note(self, what: str) -> None:
        with self.lock:
            self.attempts += 1
            if what != "200":
                self.statuses[what] += 1


def send_until_ok(request: Request, base: str, tally: Tally, stop: threading.Event) -> None:
    """POST the same body until it is answered 200; connection errors and 5xx (and 429)
    are retried, any other answer is a failure."""
    while not stop.is_set():
        req = urllib.request.Request(base + request.path, data=request.body, method="POST",
                                     headers=request.headers)
        try:
            with urllib.request.urlopen(req, timeout=15) as resp:
                status, body = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, body = err.code, err.read()
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            tally.note(type(reason).__name__)
            time.sleep(0.05)
            continue
        tally.note(str(status))
        if status == 200:
            check_answer(request, body, tally)
            return
        if status >= 500 or status == 429:
            time.sleep(0.05)
            continue
        with tally.lock:
            tally.failures.append(f"{request.path} answered {status}: {body[:300]!r}")
        return


def check_answer(request: Request, body: bytes, tally: Tally) -> None:
    with tally.lock:
        tally.done += 1
        if request.path == "/ingest":
            answer = json.loads(body)
            tally.accepted += answer["accepted"]
            tally.duplicates += answer["duplicates"]
            if answer["rejected"] or answer["accepted"] + answer["duplicates"] != request.events:
                tally.failures.append(f"/ingest answer {answer} for {request.events} events")
        elif request.path == "/webhooks/github":
            answer = json.loads(body)
            if answer["counted"] + answer["duplicates"] != 1 or set(answer) != {
                    "counted", "duplicates"}:
                tally.failures.append(f"/webhooks/github answer {answer}")
        else:
            partial = metrics_service_pb2.ExportMetricsServiceResponse.FromString(body)
            if partial.partial_success.rejected_data_points:
                tally.failures.append(f"/v1/metrics refused points: {partial}")


def stream(plan: Plan, base: str, fault: Callable[[], None], rng: random.Random
           ) -> tuple[Tally, int]:
    """Send the plan on LANES threads while `fault` is injected FAULTS times, at random
    moments between 10% and 85% of the requests; returns the tally and faults injected."""
    tally, stop = Tally(), threading.Event()

    def lane(requests: list[Request]) -> None:
        for request in requests:
            send_until_ok(request, base, tally, stop)

    threads = [threading.Thread(target=lane, args=(reqs,), daemon=True, name=f"lane-{i}")
               for i, reqs in enumerate(plan.lanes)]
    marks = sorted(rng.sample(range(plan.total // 10, plan.total * 85 // 100), FAULTS))
    injected = 0
    deadline = time.monotonic() + DEADLINE
    try:
        for thread in threads:
            thread.start()
        for mark in marks:
            while tally.done < mark and time.monotonic() < deadline:
                time.sleep(0.005)
            if time.monotonic() >= deadline:
                break
            time.sleep(rng.uniform(0, 0.03))  # somewhere inside the requests in flight
            fault()
            injected += 1
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=20)
    return tally, injected


# -- reading back -------------------------------------------------------------------------
def check_totals(plan: Plan, tally: Tally, injected: int, redis_url: str, seed: int,
                 what: str, log: str) -> None:
    client = redis.Redis.from_url(redis_url, protocol=2)
    try:
        store = Store(client)
        everyone = buckets_for_day(local_date(plan.day, UTC))[3]

        def board(metric: str) -> dict[str, float]:
            return {m.decode(): s for m, s in client.zrange(
                store.keys.board(metric, everyone), 0, -1, withscores=True)}

        tokens, requests, points = board("tokens"), board("requests"), board("points")
        day = local_date(plan.day, UTC)
        deploys = {u: int(store.reads.day_counts(day, u).get("o:deploy", 0)) for u in plan.deploys}
        # merges of every size step (`o:pr_merged~pl14`: 40 lines, see bot/core/outcome_rules.py)
        merges = {u: int(sum(n for f, n in store.reads.day_counts(day, u).items()
                             if f.partition("~")[0] == "o:pr_merged")) for u in plan.merges}
        unmapped = client.zcard(store.keys.unmapped("tokens"))
    finally:
        client.close()
    lost = sum(max(0, n - requests.get(u, 0)) for u, n in plan.requests.items())
    doubled = sum(max(0, requests.get(u, 0) - n) for u, n in plan.requests.items())
    sent_tokens, held_tokens = sum(plan.tokens.values()), int(sum(tokens.values()))
    summary = (f"{what}: seed {seed}, {injected} faults, {plan.total} requests carrying "
               f"{plan.events} events and {sent_tokens} tokens; {tally.attempts} attempts "
               f"({dict(tally.statuses)}); ingest answers: {tally.accepted} accepted, "
               f"{tally.duplicates} duplicates; held {held_tokens} tokens; usage events "
               f"lost {lost}, doubled {doubled}")
    print(summary)
    context = f"{summary}\n--- serve log ---\n{log}"
    assert not tally.failures, f"{tally.failures[:5]}\n{context}"
    assert tally.done == plan.total, context
    assert injected == FAULTS, context
    assert (lost, doubled) == (0, 0), context
    assert tokens == {u: float(n) for u, n in plan.tokens.items()}, context
    assert requests == {u: float(n) for u, n in plan.requests.items()}, context
    assert deploys == dict(plan.deploys), context
    assert merges == dict(plan.merges), context
    # a day's points: 3 × √deploys + 5 × √merges (both under their daily cap of 10)
    assert points.keys() == tokens.keys(), context
    for user, score in points.items():
        expected = 3 * math.sqrt(plan.deploys[user]) + 5 * math.sqrt(plan.merges[user])
        assert score == pytest.approx(expected, abs=1e-9), context
    assert unmapped == 0, context
