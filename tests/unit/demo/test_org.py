from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict
from zoneinfo import ZoneInfo

import pytest

from bot.core.config import DEFAULT_OUTCOMES
from bot.demo.org import (
    OUTCOME_KINDS,
    PERSONAS,
    TOOLS,
    DemoPerson,
    events_in_batches,
    generate_org,
)
from bot.sources.reports import parse_ts, validate_report

END = dt.date(2026, 11, 24)
USAGE_KEYS = {"id", "type", "ts", "tool", "tokens", "cost_usd", "input_tokens",
              "output_tokens", "requests"}
OUTCOME_KEYS = {"id", "type", "ts", "kind", "count", "ref"}
USER_ID = re.compile(r"^U[A-Z0-9]{8}$")


@pytest.fixture(scope="module")
def org() -> tuple[list[DemoPerson], list[dict]]:
    return generate_org(60, 30, end=END, seed=7)


def _ts(event: dict) -> dt.datetime:
    return parse_ts(event["ts"])


def _persona_of(people: list[DemoPerson]):
    by_user = {p.user: p.persona for p in people}
    by_email = {p.email: p.persona for p in people}

    def persona(event: dict) -> str:
        return by_user[event["user"]] if "user" in event else by_email[event["email"]]

    return persona


def test_same_seed_same_output(org):
    assert generate_org(60, 30, end=END, seed=7) == org
    _, other_events = generate_org(60, 30, end=END, seed=8)
    assert other_events != org[1]


def test_people(org):
    people, _ = org
    assert len(people) == 60
    assert len({p.user for p in people}) == 60
    assert len({p.email for p in people}) == 60
    assert len({p.name for p in people}) == 60
    assert all(USER_ID.match(p.user) for p in people)
    assert all(p.persona in PERSONAS for p in people)
    assert sum(p.name == "<!channel> Mallory" for p in people) == 1


@pytest.mark.parametrize("size", [50, 60, 200])
def test_every_persona_present(size):
    people, _ = generate_org(size, 2, end=END)
    counts = Counter(p.persona for p in people)
    assert len(people) == size
    assert set(counts) == set(PERSONAS)
    assert min(counts.values()) >= 5


def test_ids_unique(org):
    _, events = org
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids))


def test_event_shape(org):
    people, events = org
    users = {p.user for p in people}
    emails = {p.email for p in people}
    kinds = Counter()
    epoch = iso = by_email = 0
    for e in events:
        assert isinstance(e["id"], str) and e["id"]
        assert ("user" in e) != ("email" in e)
        if "user" in e:
            assert e["user"] in users
        else:
            assert e["email"] in emails and e["type"] == "usage"
            by_email += 1
        who = {"user"} if "user" in e else {"email"}
        if isinstance(e["ts"], int):
            epoch += 1
        else:
            assert isinstance(e["ts"], str) and e["ts"].endswith("Z")
            iso += 1
        assert _ts(e).tzinfo is not None
        if e["type"] == "usage":
            assert set(e) == USAGE_KEYS | who
            assert e["tool"] in TOOLS
            for key in ("tokens", "input_tokens", "output_tokens", "requests"):
                assert type(e[key]) is int and e[key] >= 0
            assert e["tokens"] == e["input_tokens"] + e["output_tokens"]
            assert e["requests"] >= 1
            assert isinstance(e["cost_usd"], float) and e["cost_usd"] >= 0
        else:
            assert e["type"] == "outcome"
            assert set(e) == OUTCOME_KEYS | who
            assert e["kind"] in OUTCOME_KINDS
            assert type(e["count"]) is int and e["count"] >= 1
            assert e["ref"].startswith("https://git.example.com/")
            kinds[e["kind"]] += 1
    assert set(kinds) == set(OUTCOME_KINDS)
    assert epoch and iso and by_email


def test_events_pass_ingest_validation(org):
    _, events = org
    now = dt.datetime.combine(END + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    for e in events:
        validate_report(e, now=now, retention_days=40, known_kinds=set(DEFAULT_OUTCOMES))


def test_event_count_is_demo_sized(org):
    _, events = org
    assert 20_000 <= len(events) <= 60_000


@pytest.mark.parametrize("tz", [dt.UTC, ZoneInfo("America/Los_Angeles"), ZoneInfo("Asia/Tokyo")])
def test_span_is_exactly_days_ending_at_end(tz):
    _, events = generate_org(50, 10, end=END, tz=tz)
    local_days = {_ts(e).astimezone(tz).date() for e in events}
    assert local_days == {END - dt.timedelta(days=i) for i in range(10)}


def test_span_default(org):
    _, events = org
    local_days = {_ts(e).date() for e in events}
    assert min(local_days) == END - dt.timedelta(days=29)
    assert max(local_days) == END
    assert len(local_days) == 30
    assert [_ts(e) for e in events] == sorted(_ts(e) for e in events)


def test_not_after_drops_future_events():
    cutoff = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)
    _, events = generate_org(50, 3, end=END, not_after=cutoff)
    assert events and max(_ts(e) for e in events) <= cutoff


def test_persona_properties_hold(org):
    people, events = org
    persona = _persona_of(people)
    headcount = Counter(p.persona for p in people)
    tokens: dict[str, int] = defaultdict(int)
    outcomes: dict[str, int] = defaultdict(int)
    trivial: dict[str, int] = defaultdict(int)
    requests: dict[str, int] = defaultdict(int)
    for e in events:
        who = persona(e)
        if e["type"] == "usage":
            tokens[who] += e["tokens"]
            requests[who] += e["requests"]
        else:
            outcomes[who] += e["count"]
            if e["kind"] in ("commit", "review"):
                trivial[who] += e["count"]

    def mean(totals: dict[str, int], who: str) -> float:
        return totals[who] / headcount[who]

    burner, heavy = "token_burner", "heavy_productive"
    assert mean(tokens, burner) >= mean(tokens, heavy) * 0.8
    assert mean(outcomes, burner) <= mean(outcomes, heavy) * 0.05
    assert mean(requests, burner) > mean(requests, heavy)
    # heavy users top the tokens of everyone who is not a burner
    for other in ("steady_builder", "light_user", "outcome_spammer"):
        assert mean(tokens, heavy) > mean(tokens, other)
    assert mean(tokens, "light_user") < mean(tokens, "steady_builder")
    assert mean(trivial, "outcome_spammer") > mean(trivial, "steady_builder")


def test_events_in_batches():
    events = [{"id": str(i)} for i in range(1203)]
    batches = list(events_in_batches(events, size=500))
    assert [len(b) for b in batches] == [500, 500, 203]
    assert [e for b in batches for e in b] == events
    assert list(events_in_batches([], size=500)) == []
    with pytest.raises(ValueError):
        list(events_in_batches(events, size=0))
