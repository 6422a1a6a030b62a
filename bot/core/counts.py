"""What one report adds to a person's (or an identity's) day, whatever wire format it
came in (our JSON, an OTLP data point or log event, a webhook, a vendor report):
`Usage` for usage, `Outcome` for outcomes.

`fields` names raw day-hash counters with an amount per unit of `value`; the store adds
`amount × value` to each (for a cumulative OTLP series, `value` becomes the increase
since the series' previous point). The fields `tokens`, `cost` and `requests` also feed
the raw boards; everything else (token types, sessions, `a:` activity) is kept per day
for display and for admins.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime

BOARD_FIELDS = ("tokens", "cost", "requests")

# One-letter names of the common day fields as the store packs a person's day (see
# bot/store/lua/common/day.lua; tests/test_store_lua.py checks the two agree).
DAY_CODES = {"tokens": "T", "cost": "C", "requests": "R", "input_tokens": "I",
             "output_tokens": "O", "cache_read_tokens": "K", "cache_creation_tokens": "W",
             "sessions": "S"}


@dataclass(frozen=True)
class Usage:
    id: str                                  # dedupe id within its sender ("" for a series)
    ts: datetime                             # when it happened: its local day is the day
    fields: tuple[tuple[str, float], ...]    # day-hash field → amount per unit of value
    value: float = 1.0
    series: str = ""                         # cumulative series digest; "" = one-off/delta
    start_ns: int = 0                        # cumulative series: its start time
    time_ns: int = 0                         # cumulative series: this point's time
    fingerprint: str = field(default="", compare=False)
    # A vendor's daily row (`source|identity`): it replaces what that source said before
    # for the identity and `day`, which is its own calendar date, whatever the time zone.
    row: str = ""
    day: date | None = None

    def amount(self, name: str) -> float:
        return sum(a for f, a in self.fields if f == name) * self.value


def id_digest(event_id: str) -> bytes:
    """The 8-byte digest an event id is remembered by (its first 4 bytes pick the bucket)."""
    return hashlib.sha256(event_id.encode()).digest()[:8]


def fingerprint(*parts: object) -> str:
    """A short digest of a report's content: a reused id with another content conflicts."""
    return fingerprint_of(repr(parts))


def fingerprint_of(text: str) -> str:
    """`fingerprint` of parts whose `repr` is `text`."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]  # 48 bits: per id, plenty


@dataclass(frozen=True)
class Outcome:
    """An outcome from a source that knows more than a count: `modifiers` (`small`,
    `self`) scale it by the configured fractions, `revert` takes it back; `count` may be
    negative only to undo an earlier report (never from a sender's wire format)."""

    id: str
    ts: datetime
    kind: str
    count: int = 1
    modifiers: tuple[str, ...] = ()
    ref: str | None = None
    fingerprint: str = field(default="", compare=False)
