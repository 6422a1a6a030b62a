"""The guarantees `bench.servers` checks of each web server (`bench.wsgi_servers`), on a
running server:

- (a) slow clients (`slow_clients`): stalled half requests, then GET /healthz one after
  the other: how long the slowest took, how many failed;
- (b) a 20 MB body (`big_body`), with Content-Length and chunked: the answer, how much of
  the body was written when it came, and how much the server's resident memory grew;
- (c) SIGTERM with a request in flight (`sigterm`): whether new connections are refused,
  the request in flight is answered 200, and the server exits 0.

`guarantees` runs them and prints a line for each.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

from bench._common import INGEST_TOKEN
from bench.wsgi_servers import Running, get_healthz

BIG = 20_000_000  # bytes of the oversized body in (b)
PIECE = 64 * 1024
MiB = 1024 * 1024


def slow_clients(server: Running, n: int = 50, probes: int = 20,
                 timeout: float = 2.0) -> dict[str, Any]:
    """(a): `n` stalled half requests, then up to `probes` GET /healthz, each given
    `timeout` seconds (the probing stops at the second that fails); the slowest and
    failures."""
    stalled: list[socket.socket] = []
    times: list[float] = []
    failed = 0
    try:
        for i in range(n):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            if i % 2:  # half the headers
                sock.sendall(b"POST /ingest HTTP/1.1\r\nHost: tokenboard\r\n")
            else:  # whole headers (a sender's token: the app reads the body), a tenth
                sock.sendall(b"POST /ingest HTTP/1.1\r\nHost: tokenboard\r\n"
                             b"Authorization: Bearer " + INGEST_TOKEN.encode() + b"\r\n"
                             b"Content-Type: application/json\r\n"
                             b"Content-Length: 100\r\n\r\n0123456789")
            stalled.append(sock)
        time.sleep(0.3)
        for _ in range(probes):
            if failed >= 2:
                break
            t0 = time.perf_counter()
            try:
                status, _took = get_healthz(server.url, timeout)
                if status != 200:
                    failed += 1
            except OSError:
                failed += 1
            times.append(time.perf_counter() - t0)
    finally:
        for sock in stalled:
            sock.close()
    time.sleep(0.3)
    return {"stalled": n, "probes": len(times), "failed": failed, "slowest_s": max(times),
            "first_s": times[0], "held": failed == 0 and max(times) < 1.0}


def exchange(port: int, request: bytes, parts: Callable[[], Any]) -> tuple[bytes, int, float]:
    """Send `request`, then what `parts()` yields, from a thread; read the answer until the
    server closes. (answer, body bytes written when the first answer byte came, seconds.)"""
    written = [0]
    at_answer = [-1]
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        def write() -> None:
            try:
                sock.sendall(request)
                for part in parts():
                    sock.sendall(part)
                    written[0] += len(part)
            except OSError:
                pass  # the server stopped reading: what it answered still counts
        writer = threading.Thread(target=write, daemon=True)
        t0 = time.perf_counter()
        writer.start()
        answer = b""
        try:
            while data := sock.recv(65536):
                if at_answer[0] < 0:
                    at_answer[0] = written[0]
                answer += data
                if b"\r\n\r\n" in answer and _complete(answer):
                    break
        except OSError:
            pass
        took = time.perf_counter() - t0
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        writer.join(10)
    return answer, at_answer[0], took


def _complete(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return False


class RssSampler:
    """The server's resident memory every 5 ms on a thread: how far it rose."""

    def __init__(self, server: Running) -> None:
        self.server = server
        self.start_rss = self.peak = server.rss()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, self.server.rss())
            time.sleep(0.005)

    def start(self) -> RssSampler:
        self.thread.start()
        return self

    def stop(self) -> int:
        self.done.set()
        self.thread.join()
        return self.peak - self.start_rss


def big_body(server: Running) -> dict[str, Any]:
    """(b): 20 MB to /slack/events, with Content-Length and chunked."""
    out: dict[str, Any] = {}
    # signed-looking (the guard checks the signature only after the length)
    head = ("POST /slack/events HTTP/1.1\r\nHost: tokenboard\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"X-Slack-Request-Timestamp: {int(time.time())}\r\n"
            f"X-Slack-Signature: v0={'0' * 64}\r\n")
    pieces = BIG // PIECE
    piece = b"x" * PIECE
    for framing in ("length", "chunked"):
        if framing == "length":
            request = (head + f"Content-Length: {BIG}\r\n\r\n").encode()

            def parts() -> Any:
                yield from [piece] * pieces
                yield b"x" * (BIG - pieces * PIECE)
        else:
            request = (head + "Transfer-Encoding: chunked\r\n\r\n").encode()
            framed = b"%x\r\n" % PIECE + piece + b"\r\n"

            def parts(framed: bytes = framed) -> Any:
                yield from [framed] * (pieces + 1)
                yield b"0\r\n\r\n"
        hwm0 = server.hwm()
        sampler = RssSampler(server).start()
        answer, written, took = exchange(server.port, request, parts)
        time.sleep(0.2)
        peak = sampler.stop()
        status_line = answer.split(b"\r\n", 1)[0].decode(errors="replace")
        out[framing] = {"answer": status_line or "(none: connection closed)",
                        "written_at_answer": written, "seconds": took,
                        "hwm_growth": server.hwm() - hwm0, "rss_peak_growth": peak}
    grew = max(max(v["hwm_growth"], v["rss_peak_growth"]) for v in out.values())
    # refused (413, or 411 from the Slack guard for a body without Content-Length) with
    # the server's memory flat
    out["held"] = all(v["answer"].startswith(("HTTP/1.1 413", "HTTP/1.1 411"))
                      for v in out.values()) and grew < 4 * MiB
    return out


def sigterm(server: Running, stub: Any) -> dict[str, Any]:
    """(c): SIGTERM with a request in flight."""
    who = f"held-{server.kind}@example.com"
    stub.add_user(f"UHELD{server.port}", display_name="Held", email=who)
    reached, release = threading.Event(), threading.Event()

    def hold() -> None:
        reached.set()
        release.wait(10)

    stub.on_next_call("users.lookupByEmail", hold)
    answers: list[tuple[int, bytes]] = []
    event = {"id": f"held-{server.kind}", "type": "outcome", "email": who,
             "ts": int(time.time()) - 60, "kind": "deploy"}

    def send() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            conn.request("POST", "/ingest", json.dumps({"events": [event]}),
                         {"Authorization": f"Bearer {INGEST_TOKEN}",
                          "Content-Type": "application/json"})
            resp = conn.getresponse()
            answers.append((resp.status, resp.read()))
        except OSError as exc:
            answers.append((0, str(exc).encode()))
        finally:
            conn.close()

    sender = threading.Thread(target=send)
    sender.start()
    out: dict[str, Any] = {"reached": reached.wait(10)}
    t0 = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    refused_after = None
    while time.monotonic() - t0 < 1.5:
        try:
            socket.create_connection(("127.0.0.1", server.port), timeout=0.5).close()
        except OSError:
            refused_after = time.monotonic() - t0
            break
        time.sleep(0.05)
    time.sleep(max(0.0, 2.0 - (time.monotonic() - t0)))
    release.set()
    sender.join(20)
    try:
        code = server.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        code = server.proc.wait()
        out["killed"] = True
    status, body = answers[0] if answers else (0, b"")
    log = server.stderr()
    out.update(refused_new_after_s=refused_after, in_flight=status, body=body[:120].decode(
        errors="replace"), exit_code=code, exit_s=time.monotonic() - t0,
        traceback="Traceback" in log)
    out["held"] = bool(out["reached"] and status == 200 and code == 0
                       and not out.get("killed"))
    return out


def guarantees(srv: Running, stub: Any, sigterm_too: bool) -> dict[str, Any]:
    """(a), (b) and, with `sigterm_too`, (c) (which stops `srv`) on a running server."""
    name = srv.kind
    out: dict[str, Any] = {}
    for _ in range(3):  # warm-up: the app's first requests
        get_healthz(srv.url, 5)
    out["slow_clients"] = a = slow_clients(srv)
    print(f"   {name:9s} (a) {a['stalled']} stalled half requests: {a['probes']} "
          f"GET /healthz, slowest {a['slowest_s'] * 1000:.0f} ms, failed {a['failed']}: "
          f"{'held' if a['held'] else 'NOT held'}", flush=True)
    out["big_body"] = b = big_body(srv)
    for framing in ("length", "chunked"):
        f = b[framing]
        print(f"   {name:9s} (b) 20 MB {framing:7s}: {f['answer']} after "
              f"{f['written_at_answer'] / MiB:.1f} MiB written ({f['seconds']:.2f} s); "
              f"server peak RSS +{f['hwm_growth'] / MiB:.1f} MiB (sampled RSS "
              f"+{f['rss_peak_growth'] / MiB:.1f} MiB)", flush=True)
    print(f"   {name:9s} (b) {'held' if b['held'] else 'NOT held'}")
    if sigterm_too:
        out["sigterm"] = c = sigterm(srv, stub)
        refused = c["refused_new_after_s"]
        when = "not within 1.5 s" if refused is None else f"after {refused:.2f} s"
        print(f"   {name:9s} (c) SIGTERM with a request in flight: in flight answered "
              f"{c['in_flight']}, new connections refused {when}"
              f", exit {c['exit_code']} after {c['exit_s']:.1f} s"
              f"{', traceback logged' if c['traceback'] else ''}: "
              f"{'held' if c['held'] else 'NOT held'}", flush=True)
    return out
