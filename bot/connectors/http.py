"""One HTTP client and one retry policy for every vendor connector (httpx).

- 429 and 503 wait as long as `Retry-After` says (seconds or an HTTP date), up to
  MAX_WAIT; without it, an exponential back-off.
- Other 5xx answers and network errors are retried with back-off, RETRIES times.
- Any other 4xx fails at once with the vendor's own message: a wrong key or org will not
  fix itself. `PullFailed.status` keeps the HTTP status, so a connector whose vendor
  documents a 404 as "no data for this day" can tell it apart (`bot.connectors.vendors`).
- Every request to a vendor's API first takes a token from the vendor's `Pacer`, so a long
  pull stays under the vendor's documented request rate instead of bursting into 429s;
  429 handling stays as the fallback. Downloads from signed URLs on other hosts (Copilot's
  report files) are not requests to the vendor's API and are not paced.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

RETRIES = 5
MAX_WAIT = 300.0  # seconds: a longer Retry-After fails the pull (it resumes next time)
BACKOFF = 1.0
TIMEOUT = 60.0
USER_AGENT = "tokenboard/0.1 (admin usage reports)"


class PullFailed(Exception):
    """A vendor request that could not be completed; the message says which and why, and
    `status` is the vendor's HTTP status when it answered with one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Pacer:
    """A token bucket: at most `rate` requests in any `per` seconds, and at most `burst` at
    once. The bucket holds `burst` tokens and refills at (rate - burst) / per a second, so
    any window of `per` seconds sees at most burst + (rate - burst) = rate requests.

    `clock` and `sleep` are injectable (tests pass a fake clock). The wait is computed once
    and slept; time is then taken as having passed, so a `sleep` that returns early never
    lets requests through faster than the rate."""

    def __init__(self, rate: int, per: float = 60.0, burst: int = 1,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if not 1 <= burst < rate:
            raise ValueError(f"a pacer needs 1 <= burst < rate (burst {burst}, rate {rate})")
        self.rate, self.per, self.burst = rate, per, burst
        self.refill = (rate - burst) / per  # tokens a second
        self.clock, self.sleep = clock, sleep
        self.tokens = float(burst)
        self.last: float | None = None  # when `tokens` was last brought up to date
        self.waited = 0.0  # seconds this pacer has slept, in all

    @property
    def interval(self) -> float:
        """Seconds between requests once the burst is spent."""
        return 1 / self.refill

    def take(self) -> float:
        """Wait until a request may go (one token), take it; the seconds waited."""
        now = self.clock()
        if self.last is None:
            self.last = now
        elapsed = max(0.0, now - self.last)
        self.tokens = min(float(self.burst), self.tokens + elapsed * self.refill)
        self.last = max(self.last, now)
        wait = 0.0
        if self.tokens < 1.0:
            wait = (1.0 - self.tokens) / self.refill
            self.sleep(wait)
            self.waited += wait
            self.tokens = 1.0
            self.last += wait
        self.tokens -= 1.0
        return wait


def retry_after(header: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or HTTP date)."""
    if not header:
        return None
    header = header.strip()
    if header.isdigit():
        return float(header)
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class VendorHTTP:
    """A vendor's API at `base_url` (scheme://host:port) with its auth headers."""

    def __init__(self, name: str, base_url: str, headers: dict[str, str] | None = None,
                 auth: httpx.Auth | tuple[str, str] | None = None,
                 sleep: Callable[[float], None] = time.sleep, retries: int = RETRIES,
                 max_wait: float = MAX_WAIT, pacer: Pacer | None = None) -> None:
        self.name = name
        self.sleep = sleep
        self.pacer = pacer
        self.retries = retries
        self.max_wait = max_wait
        self.requests = 0
        self.client = httpx.Client(base_url=base_url, auth=auth, timeout=TIMEOUT,
                                   headers={"User-Agent": USER_AGENT, **(headers or {})})
        # downloads from signed URLs on other hosts never carry the vendor's credentials
        self.plain = httpx.Client(timeout=TIMEOUT, headers={"User-Agent": USER_AGENT})

    def close(self) -> None:
        self.client.close()
        self.plain.close()

    def request(self, method: str, url: str, *, signed_url: bool = False,
                **kwargs: Any) -> httpx.Response:
        """The answer to one request, after the retry policy; PullFailed otherwise."""
        client = self.plain if signed_url else self.client
        what = f"{self.name} {method} {url.split('?')[0]}"
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            backoff = BACKOFF * 2 ** attempt
            if self.pacer is not None and not signed_url:
                self.pacer.take()
            self.requests += 1
            try:
                answer = client.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                if last:
                    raise PullFailed(f"{what}: {type(exc).__name__}: {exc}") from None
                self.sleep(backoff)
                continue
            status = answer.status_code
            if status < 400:
                return answer
            if status in (429, 503) or status >= 500:
                wait = retry_after(answer.headers.get("Retry-After"))
                wait = backoff if wait is None else wait
                if last or wait > self.max_wait:
                    raise PullFailed(f"{what}: HTTP {status} after {attempt + 1} attempts"
                                     + (f" (asked to wait {wait:.0f}s)" if wait > self.max_wait
                                        else "") + f": {_said(answer)}", status)
                self.sleep(wait)
                continue
            raise PullFailed(f"{what}: HTTP {status}: {_said(answer)}", status)
        raise AssertionError("unreachable")

    def json(self, method: str, url: str, **kwargs: Any) -> Any:
        answer = self.request(method, url, **kwargs)
        try:
            return answer.json()
        except ValueError:
            raise PullFailed(f"{self.name} {method} {url.split('?')[0]}: the answer is not "
                             "JSON") from None


def _said(answer: httpx.Response) -> str:
    """The vendor's error message, short."""
    text = answer.text.strip().replace("\n", " ")
    return text[:300] or answer.reason_phrase
