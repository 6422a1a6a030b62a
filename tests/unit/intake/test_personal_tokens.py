"""A personal token's reports through intake (bot.intake.telemetry, bot.intake.ingest): what
names nobody counts for the token's owner, what names another person is refused, what a
shared token sends is counted as before (real Redis; Slack never asked: the emails used are
in the cache or linked). Expectations worked out from what each test sends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.core.periods import day_bucket
from bot.intake.identities import Identities, for_owner
from bot.intake.ingest import ingest_events
from bot.intake.telemetry import count_points
from bot.sources.otlp import Decoded, Point
from bot.store.store import Store
from bot.web.ingest_route import ingest_json
from bot.web.otlp_routes import partial_success

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
NS = 1_000_000_000
NOBODY = {"service.name": "aider", "user.id": "installation-7"}  # names no person


def point(value: float, who: dict[str, str], series: str, quantity: str = "tokens",
          token_type: str | None = "output") -> Point:
    start = NOW - timedelta(minutes=1)
    return Point(tool="aider", quantity=quantity, token_type=token_type, value=value,
                 cumulative=False, start_ns=int(start.timestamp()) * NS,
                 time_ns=int(NOW.timestamp()) * NS, attributes=who, model=None,
                 series=series, event_id=None)


def day(store: Store, user: str) -> dict[str, float]:
    return store.reads.day_counts(NOW.date(), user)


def people(store: Store) -> dict[str, float]:
    """user → tokens of NOW's day."""
    return {p.user: p.tokens for p in store.reads.period_totals(day_bucket(NOW.date()))}


@pytest.mark.parametrize(("who", "owner", "expected"), [
    ("U0ANA", None, "U0ANA"),  # a shared token: whoever the report names
    ("otel:acc-1", None, "otel:acc-1"),
    ("U0ANA", "U0ANA", "U0ANA"),  # the owner
    ("otel:acc-1", "U0ANA", "U0ANA"),  # an identity that maps to nobody: the owner's
    ("email:x@example.com", "W0ANA", "W0ANA"),
    ("U0BOB", "U0ANA", None),  # another person: refused
    ("W0BOB", "U0ANA", None),
])
def test_whom_a_report_counts_for(who: str, owner: str | None, expected: str | None) -> None:
    assert for_owner(who, owner) == expected


# -- OpenTelemetry ----------------------------------------------------------------------


def test_a_personal_tokens_points_naming_nobody_count_for_its_owner(
        store: Store, identities: Identities) -> None:
    sent = [point(1200, NOBODY, "s1"), point(800, NOBODY, "s2", token_type="input"),
            point(0.75, NOBODY, "s3", "cost", None)]
    counted = count_points(store, identities, Decoded(points=sent), "metrics", "ana-laptop",
                           now=NOW, owner="U0ANA")
    assert (counted.counted, counted.rejected, counted.unmapped) == (3, [], [])
    counts = day(store, "U0ANA")
    assert (counts["tokens"], counts["output_tokens"], counts["input_tokens"],
            counts["cost"]) == (1200 + 800, 1200, 800, 0.75)
    assert people(store) == {"U0ANA": 2000}


def test_a_point_naming_another_person_is_refused_and_the_rest_counts(
        store: Store, identities: Identities) -> None:
    store.slack_cache.put_email("bob@example.com", "U0BOB")  # what Slack answered earlier
    store.slack_cache.put_email("ana@example.com", "U0ANA")
    identities.link("U0CY", "otel:acc-cy")
    decoded = Decoded(points=[
        point(500, NOBODY, "s1"),
        point(70, {"user.email": "bob@example.com"}, "s2"),  # Bob: refused
        point(30, {"user.account_uuid": "acc-cy"}, "s3"),  # linked to Cy: refused
        point(40, {"user.email": "ana@example.com"}, "s4"),  # the owner herself
        point(9, {"user.account_uuid": "acc-unknown"}, "s5"),  # maps to nobody: hers
    ])
    counted = count_points(store, identities, decoded, "metrics", "ana-laptop", now=NOW,
                           owner="U0ANA")
    rejected, message = partial_success(decoded, counted)
    assert [r.index for r in counted.rejected] == [1, 2]
    assert (counted.counted, rejected, counted.unmapped) == (3, 2, [])
    assert message == ("aider: a data point names (by user.email, enduser.id, "
                       "user.account_uuid, user.account_id or cursor.user.id) another "
                       "person than this personal token's owner; a personal token reports "
                       "only for its owner, so it was not counted")
    assert people(store) == {"U0ANA": 500 + 40 + 9}


def test_a_shared_tokens_points_naming_nobody_are_still_refused(
        store: Store, identities: Identities) -> None:
    decoded = Decoded(points=[point(100, NOBODY, "s1")])
    counted = count_points(store, identities, decoded, "metrics", "fleet", now=NOW)
    rejected, message = partial_success(decoded, counted)
    assert (counted.counted, rejected) == (0, 1)
    assert message.startswith("aider: a data point has no user.email, enduser.id, "
                              "user.account_uuid")
    assert people(store) == {}


# -- /ingest ------------------------------------------------------------------------------


def usage(id: str, tokens: int, **who: object) -> dict:
    return {"id": id, "type": "usage", "ts": NOW.isoformat(), "tool": "script",
            "tokens": tokens, **who}


def test_ingest_with_a_personal_token_may_leave_out_user(store: Store,
                                                         identities: Identities) -> None:
    store.slack_cache.put_email("bob@example.com", "U0BOB")
    store.slack_cache.put_email("gone@example.com", "")  # Slack knows no such person
    events = [usage("e1", 1000), usage("e2", 250, user="U0ANA"),
              usage("e3", 7, user="U0BOB"), usage("e4", 8, email="bob@example.com"),
              usage("e5", 30, email="gone@example.com"), usage("e6", 5, user=None)]
    counted = ingest_events(store, identities, events, now=NOW, sender="ana-script",
                            owner="U0ANA")
    answer = ingest_json(events, counted)
    assert answer["accepted"] == 4 and "unmapped" not in answer
    assert answer["rejected"] == [
        {"index": 2, "id": "e3", "error": "user U0BOB is not U0ANA, whose personal token "
                                          "this is; a personal token reports only for its "
                                          "owner"},
        {"index": 3, "id": "e4", "error": "email bob@example.com is another person's than "
                                          "this personal token's owner; a personal token "
                                          "reports only for its owner"}]
    assert people(store) == {"U0ANA": 1000 + 250 + 30 + 5}
    # the same report without `user` and with the owner's id is the same report: a retry
    again = ingest_events(store, identities, [usage("e1", 1000, user="U0ANA")], now=NOW,
                          sender="ana-script", owner="U0ANA")
    assert (again.counted, again.duplicates) == (0, [0])


def test_ingest_without_a_personal_token_needs_user_or_email(store: Store,
                                                             identities: Identities) -> None:
    events = [usage("e1", 1000)]
    counted = ingest_events(store, identities, events, now=NOW, sender="ci")
    assert ingest_json(events, counted) == {"accepted": 0, "duplicates": 0, "rejected": [
        {"index": 0, "id": "e1",
         "error": "event: either user (a Slack user id) or email is required"}]}
    assert people(store) == {}
