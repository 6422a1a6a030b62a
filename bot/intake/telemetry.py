"""OpenTelemetry reports in: decoded OTLP points → who → usage → counted once.

The wire format lives in `bot.sources.otlp`; this module only decides what a point adds
to whose day, and hands it to the same counting as every other source
(`bot.intake.count.count`). The OTLP answer is built from the `Counted` by its route
(`bot.web.otlp_routes`).

- Who: the point's own attributes, then its resource's (what OTEL_RESOURCE_ATTRIBUTES
  sets). `user.email` decides when present (explicit identity links first, then Slack's
  users.lookupByEmail); otherwise `enduser.id` (an email, or `otel:ID`), then
  `user.account_uuid` / `user.account_id` (`otel:ID`), then Cursor's `cursor.user.id`
  (`cursor:ID`); the tool's own ids are linked with `tokenboard identities link`. Claude
  Code's `user.id` is an installation, not a person: never used. An identity that maps to
  nobody is kept, not dropped, and named in the answer. With a
  personal token (`owner`), a point naming nobody, the owner or an identity that maps to
  nobody counts for the owner, and one naming another person is refused.
- When: the local day of the point's own time, not of its arrival.
- Exactly once: a delta point's id is its series + start + time (a retried export is a
  duplicate); a cumulative series keeps its last point in Redis (a replay adds nothing, a
  new start time is a reset).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from bot.core.config import SUBSET_TOKEN_TYPES, BoardConfig
from bot.core.counts import Usage
from bot.core.identity import CURSOR, EMAIL, OTEL, IdentityError, normalize
from bot.core.tools import MULTI_SOURCE
from bot.core.tools import usage_fields as tool_fields
from bot.core.window import outside_window
from bot.intake.count import Counted, config_for, count
from bot.intake.identities import Identities, for_owner
from bot.intake.tool_sources import counts
from bot.sources.otlp import Decoded, Point
from bot.store.cached import Guard
from bot.store.store import Store

# Who a point is: the first of these attributes that gives a valid identity.
_WHO: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("user.email", lambda v: f"email:{v}"),
    ("enduser.id", lambda v: f"email:{v}" if EMAIL.match(v) else f"{OTEL}:{v}"),
    ("user.account_uuid", lambda v: f"{OTEL}:{v}"),
    ("user.account_id", lambda v: f"{OTEL}:{v}"),
    ("cursor.user.id", lambda v: f"{CURSOR}:{v}"),
)
WHO_KEYS = tuple(key for key, _ in _WHO)  # all that `identity_of` reads


def identity_of(attributes: dict[str, str]) -> str | None:
    """Who the point is, as an identity: `user.email`, else `enduser.id` (an email, or
    `otel:ID`), else `user.account_uuid` / `user.account_id` (`otel:ID`), else
    `cursor.user.id` (`cursor:ID`); malformed values are passed over. None when it names
    nobody."""
    for key, identity in _WHO:
        try:
            return normalize(identity(attributes.get(key, "").strip()))
        except IdentityError:
            continue
    return None


def usage_fields(point: Point, config: BoardConfig) -> tuple[tuple[str, float], ...]:
    """Day-hash fields the point adds to, per unit of its value: a token type's own field
    always, and "tokens" for the types in `config.token_types` (never for a type that is
    part of another, SUBSET_TOKEN_TYPES); tokens and cost also per tool, and tokens per
    model (`bot.core.tools`)."""
    if point.quantity == "tokens":
        kind = point.token_type or "input"
        fields: list[tuple[str, float]] = [(f"{kind}_tokens", 1.0)]
        if kind in config.token_types and kind not in SUBSET_TOKEN_TYPES:
            fields.append(("tokens", 1.0))
            fields += tool_fields(point.tool, tokens=1.0, model=point.model)
        return tuple(fields)
    if point.quantity == "cost":
        return (("cost", 1.0), *tool_fields(point.tool, cost=1.0))
    if point.quantity in ("sessions", "requests"):
        return ((point.quantity, 1.0),)
    if point.quantity.startswith("activity:"):
        return ((f"a:{point.quantity.split(':', 1)[1]}", 1.0),)
    return ()


def _id(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:32]


def point_usage(point: Point, config: BoardConfig) -> Usage:
    """What a point adds to its day, with its exactly-once id (or its series)."""
    ts = datetime.fromtimestamp(point.time_ns / 1e9, tz=UTC)
    fields = usage_fields(point, config)
    if point.cumulative:
        return Usage(id="", ts=ts, fields=fields, value=point.value, series=point.series,
                     start_ns=point.start_ns, time_ns=point.time_ns)
    if point.event_id is not None:  # a log event: one id per event and quantity
        event_id = _id("log", point.event_id, point.quantity, point.token_type)
    else:
        event_id = _id("metric", point.series, point.start_ns, point.time_ns)
    return Usage(id=event_id, ts=ts, fields=fields, value=point.value,
                 fingerprint=repr(float(point.value)))


def counted_here(point: Point, config: BoardConfig, signal: str) -> bool:
    """Claude Code reports the same tokens and cost as metrics and as api_request events,
    Codex the same tokens as metrics and as sse_event events: only the configured one
    counts (`claude_code_usage`, `codex_usage`). What only metrics carry always comes from
    them (Claude Code's sessions and activity, Codex's cost)."""
    if point.tool == "claude_code":
        setting, shared = config.claude_code_usage, ("tokens", "cost")
    elif point.tool == "codex":
        setting, shared = config.codex_usage, ("tokens",)
    else:
        return True
    if signal == "logs":
        return setting == "events"
    return setting == "metrics" or point.quantity not in shared


CONFLICT = ("a data point repeats an earlier one's series and time with another value "
            "(conflict); it was not counted")
NOT_OWNER = ("{tool}: a data point names (by user.email, enduser.id, user.account_uuid, "
             "user.account_id or cursor.user.id) "
             "another person than this personal token's owner; a personal token reports "
             "only for its owner, so it was not counted")


def count_points(store: Store, identities: Identities, decoded: Decoded, signal: str,
                 sender: str, now: datetime | None = None, owner: str | None = None,
                 guards: Sequence[Guard] | None = None,
                 settled: dict[int, int] | None = None) -> Counted:
    """Count the decoded points of one export (`signal` "metrics" or "logs"). Points that
    name nobody, lie outside the counting window or conflict are `rejected` (indices into
    `decoded.points`); the decoder's own refusals stay in `decoded`. `owner`: the Slack
    user of the personal token the export came with (`bot.intake.identities.for_owner`):
    points naming nobody count for them, points naming another person are rejected.

    Redis errors and LookupUnavailable propagate (the caller answers 503), and so does
    ScoringChanged after every point that could be counted has been: the exporter
    retries the whole export and the counted points are duplicates then.

    `guards` (not None): the caller authenticated from this process's caches at these
    versions; the configuration and identity links are then read from the caches too,
    and StaleCaches is raised when any of them moved (`bot.intake.count.count`, which
    keeps in `settled` what is already counted for the request's retry).
    """
    now = now or datetime.now(UTC)
    result = Counted()
    config, version = config_for(store, guards)
    kept: list[tuple[int, Usage, str]] = []
    ours: dict[str, bool] = {}  # tool → whether OpenTelemetry is the source that counts it
    whos: dict[tuple[str | None, ...], str | None] = {}  # the export's points mostly agree
    for index, point in enumerate(decoded.points):
        if not counted_here(point, config, signal):
            continue
        if point.tool in MULTI_SOURCE:  # another source may hold it (tool_sources)
            if point.tool not in ours:
                ours[point.tool] = counts(store, config, point.tool, "otlp")
            if not ours[point.tool]:
                continue
        named = tuple(map(point.attributes.get, WHO_KEYS))
        found = whos.get(named, False)
        if found is False:
            found = whos[named] = identity_of(point.attributes)
        who = found or owner
        if who is None:
            result.reject(f"{point.tool}: a data point has no user.email, enduser.id, "
                          "user.account_uuid, user.account_id or cursor.user.id attribute "
                          "(user.id is an installation id, not a person)", index)
            continue
        usage = point_usage(point, config)
        if not usage.fields:
            continue
        outside = outside_window(usage.ts, now, store.retention_days)
        if outside == "future":
            result.reject(f"{point.tool}: a data point is timed in the future "
                          f"({usage.ts.isoformat()})", index)
            continue
        if outside == "old":
            result.reject(f"{point.tool}: a data point is older than the "
                          f"{store.retention_days}-day retention window", index)
            continue
        kept.append((index, usage, who))
    firsts = [w for _, _, w in kept]
    resolved, guards = identities.resolve_guarded(firsts, guards)
    items = []
    for (index, usage, _), who in zip(kept, resolved, strict=True):
        mine = for_owner(who, owner)
        if mine is None:
            result.reject(NOT_OWNER.format(tool=decoded.points[index].tool), index)
        else:
            items.append((index, usage, mine))
    count(store, items, sender, (config, version), into=result, guards=guards,
          settled=settled)
    for index in result.conflicts:
        result.reject(CONFLICT, index)
    return result
