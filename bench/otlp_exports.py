"""The OTLP exports the throughput benchmarks send, and the people they are from.

Each export is one person's 60-second delta export, as Claude Code sends it by default:
OTLP/HTTP protobuf, delta temporality, 8 data points (claude_code.token.usage × 4 types
with `model`, cost.usage, session.count, lines_of_code.count × 2) carrying `user.email`,
`user.account_uuid`, `user.id`, `session.id`, `organization.id`, `terminal.type`; resource
`service.name=claude-code` (`ExportBuilder`, the generated opentelemetry-proto classes).

The bodies are serialized before any timing, all the same length (fixed-width strings,
doubles, fixed64 times), into one file (`build_workload`). The load walks an endless
sequence k = 0, 1, 2, ...: export k is person k % P at round k // P; the round is written
into bits 8..23 of every point's time (two bytes at known offsets, `Workload.body`), so
every export is a new point (never a duplicate) and each person exports again in each
round.

The people (`email`, `slack_id`) are found by the app either through their `email:`
identities linked in advance (`link_people`, what `tokenboard identities link` writes) or
through the email → Slack user cache (`cache_emails`).
"""

from __future__ import annotations

import mmap
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1 import resource_pb2

from bench._common import INGEST_TOKEN, WORKSPACE
from bot.core.config import BoardConfig
from bot.sources.otlp import decode_metrics
from bot.store.store import Store

POINTS = 8
MAX_ROUNDS = 1 << 16
TOKEN_TYPES = (("input", "input"), ("output", "output"), ("cacheRead", "cache_read"),
               ("cacheCreation", "cache_creation"))
MODEL = "claude-sonnet-4-5-20250929"
HEADERS = {"Content-Type": "application/x-protobuf",
           "Authorization": f"Bearer {INGEST_TOKEN}"}


# -- the exports ------------------------------------------------------------------------------

def email(i: int) -> str:
    return f"u{i:07d}@example.com"


def slack_id(i: int) -> str:
    return f"UB{i:07d}"


def _kv(key: str, value: str) -> common_pb2.KeyValue:
    return common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(string_value=value))


@dataclass
class Export:
    body: bytes
    tokens: int  # what the tokens board counts (default token types: all four)


class ExportBuilder:
    """One ExportMetricsServiceRequest (generated classes), re-filled per person: the
    8 points' times, values and the person's attributes are set, then serialized. Setting
    fields is ~20x quicker than building the message tree for each of 100,000 people."""

    PERSON_KEYS = ("user.id", "session.id", "user.email", "user.account_uuid")

    def __init__(self) -> None:
        person = [_kv("user.id", "0" * 64), _kv("session.id", str(uuid.UUID(int=0))),
                  _kv("organization.id", "3f1c2a9e-5b7d-4e21-9c0a-7d8e6f5a4b3c"),
                  _kv("user.email", email(0)), _kv("user.account_uuid", str(uuid.UUID(int=0))),
                  _kv("terminal.type", "vscode")]

        def point(*extra: common_pb2.KeyValue) -> metrics_pb2.NumberDataPoint:
            return metrics_pb2.NumberDataPoint(attributes=person + list(extra), as_double=0.0)

        def counter(name: str, unit: str, points: list) -> metrics_pb2.Metric:
            return metrics_pb2.Metric(name=name, unit=unit, sum=metrics_pb2.Sum(
                data_points=points, is_monotonic=True,
                aggregation_temporality=metrics_pb2.AGGREGATION_TEMPORALITY_DELTA))

        metrics = [
            counter("claude_code.session.count", "count", [point()]),
            counter("claude_code.token.usage", "tokens", [
                point(_kv("type", t), _kv("model", MODEL)) for t, _ in TOKEN_TYPES]),
            counter("claude_code.cost.usage", "USD", [point(_kv("model", MODEL))]),
            counter("claude_code.lines_of_code.count", "count", [
                point(_kv("type", "added")), point(_kv("type", "removed"))]),
        ]
        self.request = metrics_service_pb2.ExportMetricsServiceRequest(resource_metrics=[
            metrics_pb2.ResourceMetrics(
                resource=resource_pb2.Resource(attributes=[
                    _kv("service.name", "claude-code"), _kv("service.version", "2.0.14"),
                    _kv("os.type", "linux"), _kv("os.version", "6.8.0"),
                    _kv("host.arch", "amd64")]),
                scope_metrics=[metrics_pb2.ScopeMetrics(
                    scope=common_pb2.InstrumentationScope(name="com.anthropic.claude_code",
                                                          version="2.0.14"),
                    metrics=metrics)])])
        m = self.request.resource_metrics[0].scope_metrics[0].metrics
        # (point, value key): session 1, tokens by type, cost, lines added/removed
        self.points = [(m[0].sum.data_points[0], "session")]
        self.points += [(dp, t) for dp, (t, _) in zip(m[1].sum.data_points, TOKEN_TYPES,
                                                      strict=True)]
        self.points += [(m[2].sum.data_points[0], "cost"),
                        (m[3].sum.data_points[0], "added"), (m[3].sum.data_points[1], "removed")]
        self.counted = set(BoardConfig().token_types)

    def build(self, i: int, time_ns: int, rng: random.Random) -> Export:
        """Person i's 60 s delta export ending at time_ns."""
        person = {"user.id": f"{rng.getrandbits(256):064x}",
                  "session.id": str(uuid.UUID(int=rng.getrandbits(128))),
                  "user.email": email(i), "user.account_uuid": str(uuid.UUID(int=i + 1))}
        for dp, _ in self.points:
            for kv in dp.attributes:
                if kv.key in person:
                    kv.value.string_value = person[kv.key]
        values = {"session": 1.0, "input": rng.randint(50, 5_000),
                  "output": rng.randint(100, 20_000), "cacheRead": rng.randint(0, 200_000),
                  "cacheCreation": rng.randint(0, 30_000),
                  "added": rng.randint(0, 400), "removed": rng.randint(0, 150)}
        values["cost"] = round(values["input"] * 3e-6 + values["output"] * 15e-6
                               + values["cacheRead"] * 3e-7
                               + values["cacheCreation"] * 3.75e-6, 6)
        for dp, key in self.points:
            dp.start_time_unix_nano = time_ns - 60 * 10**9
            dp.time_unix_nano = time_ns
            dp.as_double = float(values[key])
        tokens = sum(values[t] for t, ours in TOKEN_TYPES if ours in self.counted)
        return Export(self.request.SerializeToString(), tokens)


def time_offsets(body: bytes, time_ns: int) -> list[int]:
    """Byte offsets of every time_unix_nano (fixed64, little-endian) in a body."""
    needle = time_ns.to_bytes(8, "little")
    out, at = [], body.find(needle)
    while at >= 0:
        out.append(at)
        at = body.find(needle, at + 1)
    return out


def patch(body: bytes | bytearray, offsets: Sequence[int], rnd: int) -> bytes:
    """The body with `rnd` in bits 8..23 of each point's time."""
    out = bytearray(body)
    lo, hi = rnd & 0xFF, rnd >> 8
    for at in offsets:
        out[at + 1] = lo
        out[at + 2] = hi
    return bytes(out)


@dataclass
class Workload:
    path: Path  # P bodies of `length` bytes, back to back
    people: int
    length: int
    offsets: list[int]
    tokens: list[int]  # per person

    def body(self, k: int, data: bytes | mmap.mmap) -> bytes:
        i, rnd = k % self.people, k // self.people
        if rnd >= MAX_ROUNDS:
            raise RuntimeError("out of rounds")
        return patch(data[i * self.length:(i + 1) * self.length], self.offsets, rnd)

    def tokens_sent(self, start: int, count: int) -> int:
        full, part = divmod(count, self.people)
        total = full * sum(self.tokens)
        first = start % self.people
        for j in range(part):
            total += self.tokens[(first + j) % self.people]
        return total


def build_workload(people: int, directory: Path, seed: int = 11) -> Workload:
    rng = random.Random(seed)
    now_ns = time.time_ns()
    # A minute ago, bits 0..23 cleared for the round (and so every person's time differs
    # by whole 16.8 ms steps): points in the past, a retried export is a duplicate.
    base = ((now_ns - 60 * 10**9) >> 24) << 24
    path = directory / "exports.bin"
    length, offsets, tokens = 0, None, []
    builder = ExportBuilder()
    with path.open("wb") as out:
        for i in range(people):
            t = base - (i << 24)
            export = builder.build(i, t, rng)
            found = time_offsets(export.body, t)
            if len(found) != POINTS:
                raise RuntimeError(f"found {len(found)} time fields in export {i}")
            if offsets is None:
                length, offsets = len(export.body), found
            elif len(export.body) != length or found != offsets:
                raise RuntimeError("exports differ in layout; they must be fixed-width")
            if i == 0:  # what the receiver makes of it: 8 points, this person
                decoded = decode_metrics(export.body, False)
                emails = {p.attributes.get("user.email") for p in decoded.points}
                if len(decoded.points) != POINTS or decoded.rejected or emails != {email(0)}:
                    raise RuntimeError(f"the receiver decodes export 0 as {decoded}")
            out.write(export.body)
            tokens.append(export.tokens)
    return Workload(path, people, length, offsets or [], tokens)


def cache_emails(client: redis.Redis, store: Any, people: int, ttl: int) -> None:
    """What `Store.slack_cache.put_email` writes after a Slack lookup, for everyone, pipelined."""
    for lo in range(0, people, 10_000):
        pipe = client.pipeline(transaction=False)
        for i in range(lo, min(people, lo + 10_000)):
            pipe.set(store.keys.key("email", email(i)), slack_id(i), ex=ttl)
        pipe.execute()
    probe = people // 2
    if store.slack_cache.email(email(probe)) != slack_id(probe):
        raise RuntimeError("email cache not where Store.slack_cache.email looks")


def link_people(client: redis.Redis, people: int) -> None:
    """Every person's `email:` identity linked to their Slack user (what `identities link`
    writes), so an export is found without the email look-up."""
    imap = Store(client, workspace=WORKSPACE).identity_map
    pipe = client.pipeline(transaction=False)
    for i in range(people):
        pipe.hset(imap._links, f"email:{email(i)}", slack_id(i))
    pipe.incr(imap.version_key)
    pipe.execute()
    if imap.links([f"email:{email(people // 2)}"]) != {f"email:{email(people // 2)}":
                                                      slack_id(people // 2)}:
        raise RuntimeError("links not where the identity map reads them")
