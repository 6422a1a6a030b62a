"""Each route's body limit applies before its body is buffered: the buffering worker reads
the path from the request line and answers 413 itself once a body is over that path's
limit (from Content-Length at once, or as a chunked body passes it), holding no more than
the limit's worth of it."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.store.embedded import free_port
from bot.web.server import (
    MAX_HEAD,
    Server,
)
from tests.conftest import App, http
from tests.slack_stub import SlackStub
from tests.support.processes import base_env, children
from tests.support.request_bytes import LIMITS, MiB, chunk, head
from tests.support.serve_process import ServeProcess

BIG = 20_000_000  # bytes sent in each oversized request
PIECE = 64 * 1024


# -- the mapping and the decision, as pure functions ------------------------------------


# -- the worker, in process ---------------------------------------------------------------


def exchange(port: int, request: bytes, parts: Iterable[bytes] = ()) -> bytes:
    """Send `request` then `parts` from a thread (as a client that writes its whole body
    before reading does) and return all the server answers until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        def write() -> None:
            try:
                sock.sendall(request)
                for part in parts:
                    sock.sendall(part)
            except OSError:
                pass  # the server stopped reading: what it answered still counts
        writer = threading.Thread(target=write)
        writer.start()
        answer = b""
        while data := sock.recv(65536):
            answer += data
        writer.join(60)
    return answer


def status_and_json(answer: bytes) -> tuple[int, Any]:
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2] or b"null")


@dataclass
class Recorder:
    """A WSGI app that answers 200 with the length of the body it read."""

    paths: list[str]

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> list[bytes]:
        self.paths.append(environ["PATH_INFO"])
        body = environ["wsgi.input"].read()
        answer = str(len(body)).encode()
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(answer)))])
        return [answer]


@pytest.fixture
def small() -> Iterator[tuple[Server, Recorder, list[int]]]:
    """A server with LIMITS in front of a Recorder, and the bytes it held at each refusal."""
    recorder = Recorder([])
    server = Server(recorder, body_limits=LIMITS)
    held: list[int] = []
    refuse = server.worker._refuse

    def counting(conn: Any, why: Any) -> None:
        held.append(conn.size)  # all the bytes of the request read so far
        refuse(conn, why)

    server.worker._refuse = counting  # type: ignore[method-assign]
    server.start()
    yield server, recorder, held
    server.stop()


@pytest.mark.slow
def test_the_worker_refuses_before_the_app_sees_the_request(small) -> None:
    server, recorder, held = small
    chunked = head("/slack/events", "Transfer-Encoding: chunked")
    answer = exchange(server.port, chunked, [chunk(b"x" * 1000)] * 300 + [b"0\r\n\r\n"])
    assert status_and_json(answer) == (413, {"error": "body is over 100 bytes; the limit is "
                                                      "100 for /slack/*", "limit": 100})
    # What the worker held when it refused: headers + limit + 1 bytes, or what its first
    # read brought in before it knew the path (at most MAX_HEAD + 1, however much of the
    # body had arrived by then), never the 300 kB.
    assert len(held) == 1 and held[0] <= max(len(chunked) + 101, MAX_HEAD + 1), held
    answer = exchange(server.port, head("/ingest", "Content-Length: 300000"),
                      [b"x" * 300_000])
    assert status_and_json(answer)[0] == 413
    assert len(held) == 2 and held[1] <= MAX_HEAD + 1, held
    # within their limits the same requests reach the app, whole
    within = head("/v1/logs", "Connection: close", "Content-Length: 900") + b"x" * 900
    answer = exchange(server.port, within)
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"\r\n\r\n900")
    small_chunked = head("/slack/events", "Connection: close", "Transfer-Encoding: chunked")
    answer = exchange(server.port, small_chunked + chunk(b"abc") + b"0\r\n\r\n")
    assert answer.endswith(b"\r\n\r\n3")
    assert recorder.paths == ["/v1/logs", "/slack/events"]


@pytest.mark.slow
def test_expect_continue_over_the_limit_gets_413_not_100(small) -> None:
    server, recorder, _ = small
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head("/ingest", "Expect: 100-continue", "Content-Length: 201"))
        answer = b""
        while data := sock.recv(65536):  # the server answers, then closes: no body sent
            answer += data
    assert answer.startswith(b"HTTP/1.1 413 ") and b"100 Continue" not in answer
    assert status_and_json(answer)[1]["limit"] == 200
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head("/ingest", "Connection: close", "Expect: 100-continue",
                          "Content-Length: 200"))
        assert sock.recv(1024) == b"HTTP/1.1 100 Continue\r\n\r\n"  # within: invited
        sock.sendall(b"x" * 200)
        answer = b""
        while data := sock.recv(65536):
            answer += data
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"\r\n\r\n200")
    assert recorder.paths == ["/ingest"]


@pytest.mark.slow
def test_otlp_keeps_its_larger_limit_on_v1_only(app: App) -> None:
    three_mb = b"x" * 3_000_000  # over 2 MB, under OTLP's 16 MiB
    otlp = http("POST", app.url + "/v1/metrics", three_mb,
                {"Content-Type": "application/x-protobuf"})
    assert otlp.status == 401  # the route answered: no bearer token
    said = {"/ingest": " for /ingest", "/webhooks/github": " for /webhooks/*", "/healthz": ""}
    for path, where in said.items():
        refused = http("POST", app.url + path, three_mb, {"Content-Type": "application/json"})
        assert (refused.status, refused.json()) == (413, {
            "error": f"body is 3000000 bytes; the limit is 2000000{where}",
            "limit": 2_000_000}), path
        assert refused.headers["Connection"] == "close"
    slack = http("POST", app.url + "/slack/events", b"x" * 1_100_000,
                 {"Content-Type": "application/x-www-form-urlencoded"})
    assert (slack.status, slack.json()["limit"]) == (413, 1_048_576)


# -- `tokenboard serve`, measured -------------------------------------------------------


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of process `pid`, in bytes."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0]) * 1024
    return found


@pytest.fixture
def serve(tmp_path: Path, stub: SlackStub) -> Iterator[tuple[ServeProcess, int]]:
    """`tokenboard serve` with one web worker process, and that worker's pid."""
    port = free_port()
    env = {**base_env(tmp_path, stub), "PORT": str(port), "WEB_CONCURRENCY": "1",
           "SERVE_JOBS": "off"}
    running = ServeProcess(env, port, tmp_path).start()
    assert running.process is not None
    try:
        workers = [pid for pid, name in children(running.process.pid)
                   if name != "redis-server"]
        assert len(workers) == 1, children(running.process.pid)
        yield running, workers[0]
    finally:
        running.stop()


@pytest.mark.slow
def test_twenty_megabytes_to_slack_and_ingest_leave_the_worker_flat(serve) -> None:
    running, worker = serve
    slack = ["Content-Type: application/x-www-form-urlencoded"]
    ingest = ["Content-Type: application/json", "Authorization: Bearer nope"]
    # Warm up every path these requests take (the app, the worker's refusal).
    for _ in range(3):
        assert http("GET", running.url + "/healthz").status == 200
        assert http("POST", running.url + "/ingest", b"{}", {"Content-Type": "application/json"}
                    ).status == 401
        assert http("POST", running.url + "/slack/events", b"a=1").status == 401
        for path, headers in (("/slack/events", slack), ("/ingest", ingest)):
            announced = exchange(running.port, head(path, *headers, "Content-Length: 99999999"))
            assert status_and_json(announced)[0] == 413
    before = memory(worker)
    piece = chunk(b"x" * PIECE)
    pieces = BIG // PIECE
    for path, headers, limit, route in (("/slack/events", slack, 1_048_576, "/slack/*"),
                                        ("/ingest", ingest, 2_000_000, "/ingest")):
        with_length = exchange(running.port, head(path, *headers, f"Content-Length: {BIG}"),
                               [b"x" * PIECE] * pieces + [b"x" * (BIG - pieces * PIECE)])
        assert status_and_json(with_length) == (413, {
            "error": f"body is {BIG} bytes; the limit is {limit} for {route}", "limit": limit})
        chunked = exchange(running.port, head(path, *headers, "Transfer-Encoding: chunked"),
                           [piece] * (pieces + 1) + [b"0\r\n\r\n"])
        assert status_and_json(chunked) == (413, {
            "error": f"body is over {limit} bytes; the limit is {limit} for {route}",
            "limit": limit})
    after = memory(worker)
    grew = {name: after[name] - before[name] for name in after}
    # The chunked /ingest request is held up to its 2 MB limit; nothing grows with the
    # 20 MB sent (read in full, the four took the worker's peak up by over 100 MiB).
    assert grew["VmHWM"] < 4 * MiB and grew["VmRSS"] < 4 * MiB, (before, after, grew)
    assert http("GET", running.url + "/healthz").status == 200
    print(f"worker {worker}: before {before}, after {after}, grew {grew}")
