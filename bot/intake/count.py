"""Counting, one way for every source: (index, what, who) items in the counting model of
`bot.core.counts` → the store, each once, scored with the current configuration →
`Counted`.

Each source turns its wire format into `Usage` / `Outcome` at its own edge, drops what
`bot.core.window.outside_window` refuses, resolves who (`bot.intake.identities`) and then
calls `count`:

- `POST /ingest` JSON and Slack message metadata: `bot.intake.ingest`
- OpenTelemetry (OTLP) points: `bot.intake.telemetry`
- webhook facts (GitHub, GitLab, PagerDuty): `bot.intake.outcomes`
- vendors' daily rows (pulls and imports): `bot.connectors.runner`

One policy for a scoring change (`rescored`): the store answers STALE_CONFIG for a
report scored with a configuration an admin has replaced meanwhile; such reports are
scored again with the newest configuration, up to RESCORE_TRIES runs in all. Reports
still stale after that raise ScoringChanged, once everything else has been counted: the
sender retries the whole request and finds what was counted as duplicates. Crediting a
linked identity's kept days (`Identities.credit`) follows the same policy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from bot.core.config import BoardConfig
from bot.core.counts import Outcome, Usage
from bot.store.cached import Guard
from bot.store.store import (
    CONFLICT,
    COUNTED,
    DUPLICATE,
    REBUILDING,
    STALE_CACHE,
    STALE_CONFIG,
    Store,
    is_identity,
)

RESCORE_TRIES = 5  # runs of one report under ever newer configurations before giving up
REMOVED_KIND = -10  # status: an outcome kind an admin removed while it was being counted

T = TypeVar("T")
Item = tuple[int, Usage | Outcome, str]  # (index in what the source received, what, who)


class StaleCaches(Exception):
    """What the request was read with from this process's caches (the configuration,
    the sender's token, identity links: `bot.store.cached`) changed in Redis meanwhile;
    the counting call that found it counted nothing (a large batch's earlier calls may
    have counted theirs: `count`'s `settled`). Forget the caches and do the request
    again."""


class ScoringChanged(Exception):
    """The scoring configuration changed again and again while a request was counted (a
    rescore never pauses counting; this is an admin saving several times within the
    request); retry in a moment: what was counted is found as duplicates."""


@dataclass(frozen=True)
class Rejection:
    """Something a source refused, in its own words: `index` is its position in what the
    source received (an event, data point, fact or row), None when it is not one item."""

    reason: str
    index: int | None = None


@dataclass
class Counted:
    """What a request or batch came to, whatever its source. `count` fills `counted`,
    `duplicates`, `conflicts`, `removed` (item indices) and `unmapped` (identities
    counted for nobody yet, in order, once each); the source adds its `rejected`. Each
    source encodes this as its own answer."""

    counted: int = 0
    duplicates: list[int] = field(default_factory=list)
    conflicts: list[int] = field(default_factory=list)  # id used before for other content
    removed: list[int] = field(default_factory=list)  # kind removed by an admin meanwhile
    unmapped: list[str] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)

    def reject(self, reason: str, index: int | None = None) -> None:
        self.rejected.append(Rejection(reason, index))


def rescored(store: Store, items: Sequence[T],
             run: Callable[[list[T], BoardConfig, int], list[int]],
             config: tuple[BoardConfig, int] | None = None,
             keeps: Callable[[T, BoardConfig], bool] | None = None) -> list[int]:
    """Each item's final status from `run`, which writes items scored with a configuration
    and its version and answers a store status per item. Items answered STALE_CONFIG run
    again with the newest configuration (loaded once per run), up to RESCORE_TRIES runs in
    all; those still stale then are REBUILDING (the caller asks for a retry). An item
    that `keeps` says the newer configuration no longer counts is REMOVED_KIND. `config`:
    the (configuration, version) the caller just loaded, if it did."""
    statuses = [REBUILDING] * len(items)
    config, version = config or store.configs.load_versioned()
    pending = list(range(len(items)))
    for _run in range(RESCORE_TRIES):
        if not pending:
            break
        answers = run([items[i] for i in pending], config, version)
        stale = []
        for i, status in zip(pending, answers, strict=True):
            if status == STALE_CONFIG:
                stale.append(i)
            else:
                statuses[i] = status
        if stale:  # an admin changed the scoring while we were counting: use the new rules
            config, version = store.configs.load_versioned()
        pending = []
        for i in stale:
            if keeps is None or keeps(items[i], config):
                pending.append(i)
            else:
                statuses[i] = REMOVED_KIND
    return statuses


def _configured(item: Item, config: BoardConfig) -> bool:
    return isinstance(item[1], Usage) or item[1].kind in config.outcomes


def config_for(store: Store, guards: Sequence[Guard] | None) -> tuple[BoardConfig, int]:
    """The configuration and its version to count with: this process's cached copy when
    the caller read from caches (`guards` not None: the counting calls check the
    version), else read now."""
    return store.configs.load_cached() if guards is not None else store.configs.load_versioned()


def count(store: Store, items: Sequence[Item], sender: str,
          config: tuple[BoardConfig, int] | None = None,
          into: Counted | None = None, guards: Sequence[Guard] | None = None,
          settled: dict[int, int] | None = None) -> Counted:
    """Count (index, what, who) items from `sender` (event ids are scoped to it), each
    once, into `into` (or a new Counted). `who` is a Slack user id, or an identity that
    maps to nobody yet (kept for it, listed in `unmapped`). `config`: the (configuration,
    version) the caller just loaded, if it did.

    `guards` (not None): the caller read what it knows from this process's caches
    (`config` among them) at these versions; the counting call checks them and the
    configuration version, even with no items, and StaleCaches is raised when one moved
    (nothing of that call was counted). A large batch is several counting calls: those
    that went through are final, and `settled` (item index → status, kept by the caller
    for the request) records them, so the request's retry sends only the rest and
    answers the first ones as counted, not as duplicates.

    Redis errors propagate; ScoringChanged once every item that could be counted has
    been (see the module's policy for a scoring change)."""
    result = into if into is not None else Counted()
    if guards is not None:  # read from caches: the counting calls check them
        cfg, version = config or config_for(store, guards)
        settled = {} if settled is None else settled
        if not items:
            if store.counting.check(version, guards) in (STALE_CONFIG, STALE_CACHE):
                raise StaleCaches("read from caches that changed meanwhile")
            return result
        todo = [item for item in items if item[0] not in settled]
        answers = store.counting.record([(what, who) for _, what, who in todo], cfg,
                                        version, sender, guards) if todo else []
        stale = False
        for (index, _what, _who), status in zip(todo, answers, strict=True):
            if status in (STALE_CONFIG, STALE_CACHE):
                stale = True
            else:
                settled[index] = status
        if stale:
            raise StaleCaches("read from caches that changed meanwhile")
        statuses = [settled[index] for index, _what, _who in items]
    else:
        statuses = rescored(store, items,
                            lambda batch, cfg, version: store.counting.record(
                                [(what, who) for _, what, who in batch], cfg, version,
                                sender), config, _configured)
    for (index, _what, who), status in zip(items, statuses, strict=True):
        if status == COUNTED:
            result.counted += 1
            if is_identity(who) and who not in result.unmapped:
                result.unmapped.append(who)
        elif status == DUPLICATE:
            result.duplicates.append(index)
        elif status == CONFLICT:
            result.conflicts.append(index)
        elif status == REMOVED_KIND:
            result.removed.append(index)
    if REBUILDING in statuses:
        raise ScoringChanged("the scoring configuration changed while this was counted")
    return result
