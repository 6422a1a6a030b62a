"""bot.web.request_arrival: each route's body limit, the request path as gunicorn routes it,
when a request has arrived or is refused (413), and `Expect: 100-continue`; bytes in,
decisions out, no sockets."""

from __future__ import annotations

import json

from bot.core.settings import Settings
from bot.web.request_arrival import (
    MAX_HEAD,
    BodyLimits,
    Head,
    Step,
    arrival,
    read_head,
    request_path,
    too_large,
)
from bot.web.server import expects_continue, request_arrived, without_expect
from tests.support.request_bytes import LIMITS, MiB, chunk, head


def test_a_request_is_handed_on_once_it_has_arrived() -> None:
    head = b"POST /ingest HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n"
    assert not request_arrived(head[:-2], cap=100)  # headers not finished
    assert not request_arrived(head + b"01234", cap=100)  # half the body
    assert request_arrived(head + b"0123456789", cap=100)
    assert request_arrived(head, cap=5)  # over the cap: the worker answers 413 unread
    assert request_arrived(head.replace(b"10", b"ten"), cap=100)  # the parser answers 400
    assert request_arrived(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", cap=100)
    chunked = b"POST /v1/logs HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"
    assert not request_arrived(chunked, cap=100)
    assert request_arrived(chunked + b"0\r\n\r\n", cap=100)
    assert request_arrived(b"GET /" + b"x" * 70_000, cap=100)  # too long: parser refuses


def test_expect_100_continue_is_answered_once_and_taken_out() -> None:
    head = (b"POST /ingest HTTP/1.1\r\nHost: t\r\nExpect: 100-Continue\r\n"
            b"Content-Length: 2\r\n\r\n")
    assert expects_continue(head)
    assert not expects_continue(head.replace(b"HTTP/1.1", b"HTTP/1.0"))
    assert not expects_continue(head[:-4])
    assert without_expect(head + b"{}") == (b"POST /ingest HTTP/1.1\r\nHost: t\r\n"
                                            b"Content-Length: 2\r\n\r\n{}")


def test_each_path_gets_its_routes_limit_from_settings() -> None:
    settings = Settings(max_body_bytes=2_000_000, slack_max_body_bytes=1_000,
                        otlp_max_bytes=16 * MiB)
    limits = BodyLimits.from_settings(settings)
    expected = {
        "/slack/events": 1_000, "/slack/install": 1_000, "/slack/oauth_redirect": 1_000,
        "/ingest": 2_000_000, "/webhooks/github": 2_000_000, "/webhooks/pagerduty": 2_000_000,
        "/v1/metrics": 16 * MiB, "/v1/logs": 16 * MiB,
        "/healthz": 2_000_000, "/": 2_000_000, "/v1": 2_000_000, "/slack": 2_000_000,
        "/ingestion": 2_000_000, "": 2_000_000,
    }
    assert {path: limits.for_path(path) for path in expected} == expected
    assert limits.route("/v1/logs") == ("/v1/", 16 * MiB)
    assert limits.route("/nowhere") == ("", 2_000_000)
    # the longest matching entry wins, whatever the order
    nested = BodyLimits(routes=(("/a/", 1), ("/a/b/", 2), ("/a/b/c", 3)), default=9)
    assert [nested.for_path(p) for p in ("/a/x", "/a/b/x", "/a/b/c", "/a/b/cd")] == [1, 2, 3, 2]


def test_the_path_is_read_as_gunicorn_routes_it() -> None:
    assert request_path(b"POST /ingest HTTP/1.1") == "/ingest"
    assert request_path(b"POST /v1/metrics?x=1#y HTTP/1.1") == "/v1/metrics"
    assert request_path(b"POST /%73lack/events HTTP/1.1") == "/slack/events"
    assert request_path(b"POST http://example.com/slack/events HTTP/1.1") == "/slack/events"
    assert request_path(b"OPTIONS * HTTP/1.1") == ""
    assert request_path(b"garbage") == ""


def test_a_body_announced_over_its_routes_limit_is_refused_from_the_headers() -> None:
    slack = head("/slack/events", "Content-Length: 101")
    assert arrival(slack, LIMITS) is Step.REFUSE
    assert read_head(slack, LIMITS) == Head(len(slack), 100, "/slack/", 101)
    # the same length is fine where the limit is larger, and waited for
    ingest = head("/ingest", "Content-Length: 101")
    assert read_head(ingest, LIMITS) == Head(len(ingest), 200, "/ingest", 101)
    assert arrival(ingest, LIMITS) is Step.WAIT
    assert arrival(ingest + b"x" * 100, LIMITS) is Step.WAIT
    assert arrival(ingest + b"x" * 101, LIMITS) is Step.READY
    assert arrival(head("/slack/events", "Content-Length: 100") + b"x" * 100, LIMITS) \
        is Step.READY
    # an Expect: 100-continue request is refused before any body, never invited to send it
    expecting = head("/ingest", "Expect: 100-continue", "Content-Length: 201")
    assert arrival(expecting, LIMITS) is Step.REFUSE
    # other paths get the default; a bad Content-Length goes to gunicorn's parser (400)
    assert arrival(head("/healthz", "Content-Length: 51"), LIMITS) is Step.REFUSE
    assert arrival(head("/healthz", "Content-Length: 50") + b"x" * 50, LIMITS) is Step.READY
    assert arrival(head("/ingest", "Content-Length: 1e9"), LIMITS) is Step.READY
    # several Content-Length headers: the largest counts
    twice = head("/slack/events", "Content-Length: 5", "Content-Length: 500")
    assert arrival(twice, LIMITS) is Step.REFUSE


def test_a_chunked_body_is_refused_once_past_its_routes_limit() -> None:
    start = head("/slack/events", "Transfer-Encoding: chunked")
    at_limit = start + chunk(b"x" * 94)  # 100 bytes as sent: "5e\r\n" + 94 + "\r\n"
    assert len(at_limit) - len(start) == 100
    assert arrival(at_limit, LIMITS) is Step.WAIT
    assert arrival(at_limit + b"3", LIMITS) is Step.REFUSE  # one byte past it
    assert arrival(start + chunk(b"x" * 10) + b"0\r\n\r\n", LIMITS) is Step.READY
    # /v1/ takes more before refusing
    otlp = head("/v1/logs", "Transfer-Encoding: chunked") + chunk(b"x" * 500)
    assert arrival(otlp, LIMITS) is Step.WAIT
    # Transfer-Encoding overrides a Content-Length within the limit
    both = head("/slack/events", "Content-Length: 5", "Transfer-Encoding: chunked")
    assert arrival(both + b"x" * 101, LIMITS) is Step.REFUSE
    # the worker keeps only the last bytes: the end is found from them and the count
    parsed = read_head(start, LIMITS)
    assert parsed is not None and parsed.chunked
    assert parsed.step(len(start) + 40, b"\r\n\r\n") is Step.WAIT
    assert parsed.step(len(start) + 40, b"0\r\n\r\n") is Step.READY
    assert parsed.step(len(start) + 101, b"0\r\n\r\n") is Step.REFUSE


def test_no_more_than_the_limits_worth_is_held_before_deciding() -> None:
    incomplete = b"POST /slack/events HTTP/1.1\r\nHost: t\r\n"
    assert read_head(incomplete, LIMITS) is None
    assert arrival(incomplete, LIMITS) is Step.WAIT
    assert arrival(b"POST /" + b"x" * MAX_HEAD, LIMITS) is Step.READY  # the parser refuses
    start = head("/slack/events", "Transfer-Encoding: chunked")
    parsed = read_head(start, LIMITS)
    assert parsed is not None and parsed.keep == len(start) + 100 + 1
    # every prefix shorter than `keep` waits, and `keep` bytes decide
    body = start + b"x" * 200
    steps = [arrival(body[:n], LIMITS) for n in range(len(start), parsed.keep + 1)]
    assert steps == [Step.WAIT] * 101 + [Step.REFUSE]


def test_the_413_answer_says_the_routes_limit() -> None:
    announced = read_head(head("/ingest", "Content-Length: 2100000"),
                          BodyLimits.from_settings(Settings()))
    assert announced is not None
    status, _, rest = too_large(announced).partition(b"\r\n")
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert status == b"HTTP/1.1 413 Content Too Large"
    assert b"Connection: close" in headers.split(b"\r\n")
    assert f"Content-Length: {len(body)}".encode() in headers.split(b"\r\n")
    assert json.loads(body) == {"error": "body is 2100000 bytes; the limit is 2000000 for "
                                         "/ingest", "limit": 2_000_000}
    chunked = read_head(head("/v1/logs", "Transfer-Encoding: chunked"), LIMITS)
    assert chunked is not None
    assert json.loads(too_large(chunked).partition(b"\r\n\r\n")[2]) == {
        "error": "body is over 1000 bytes; the limit is 1000 for /v1/*", "limit": 1000}
