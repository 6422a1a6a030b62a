"""Changing the configuration: validate, record who changed what, rescore if needed.

Used by the Slack modal and by `tokenboard config import`, so both apply the same rules.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from bot.core.config import BoardConfig, check_config, describe_changes, scoring_changed
from bot.store.store import RebuildAborted, Store

log = logging.getLogger(__name__)


class ConfigInvalid(ValueError):
    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()))
        self.problems = problems


@dataclass
class SaveResult:
    version: int | None  # None: nothing changed
    changes: list[str] = field(default_factory=list)
    scoring: bool = False


def validate_config(data: object) -> BoardConfig:
    """A BoardConfig from plain data, or ConfigInvalid listing every problem."""
    try:
        config = BoardConfig.model_validate(data)
    except ValidationError as exc:
        problems = {}
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "config"
            msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
            problems[where] = msg.removeprefix("Value error, ")
        if isinstance(data, dict):  # also report the rules the field types cannot express
            try:
                partial = BoardConfig.model_construct(
                    **{k: v for k, v in data.items() if k in BoardConfig.model_fields})
                for where, problem in check_config(partial).items():
                    problems.setdefault(where, problem)
            except Exception:  # noqa: BLE001 - malformed beyond checking; types already said so
                pass
        raise ConfigInvalid(problems) from None
    problems = check_config(config)
    if problems:
        raise ConfigInvalid(problems)
    return config


def merge_config(current: BoardConfig, data: object) -> object:
    """`data` (a partial configuration, as read from a file) laid over `current`.

    Only what `data` lists changes: a field it names takes its value, an outcome kind it
    names takes the fields given for it (a new kind needs a whole rule), and every kind it
    does not name is kept. Anything that is not a mapping is returned as it is, for
    `validate_config` to refuse.
    """
    if not isinstance(data, dict):
        return data
    merged = current.model_dump(mode="json")
    for key, value in data.items():
        if key == "outcomes" and isinstance(value, dict):
            kinds = dict(merged["outcomes"])
            for kind, rule in value.items():
                old = kinds.get(kind)
                kinds[kind] = ({**old, **rule} if isinstance(old, dict) and isinstance(rule, dict)
                               else rule)
            merged["outcomes"] = kinds
        else:
            merged[key] = value
    return merged


def save_configuration(store: Store, new: BoardConfig, by: str) -> SaveResult:
    """Validate and store `new` as the next version, with an audit entry by `by`."""
    new = validate_config(new.model_dump())
    old = store.configs.load()
    changes = describe_changes(old, new)
    if not changes:
        return SaveResult(version=None)
    scoring = scoring_changed(old, new)
    version = store.configs.save(new, by=by, changes=changes, scoring=scoring)
    log.info("configuration v%s by %s: %s", version, by, "; ".join(changes))
    return SaveResult(version=version, changes=changes, scoring=scoring)


def last_scoring_version(store: Store) -> int:
    for entry in store.configs.history(limit=200):
        if entry.get("scoring"):
            return int(entry["version"])
    return 0


def rebuild_scores(store: Store, progress: Callable[[int, int], None] | None = None
                   ) -> dict[str, int] | None:
    """Rebuild outcome points if a scoring change has not been applied yet, and the raw
    metric's day, week and month sets if it changed to one whose sets are not kept.

    Ingest goes on meanwhile (events are mirrored into the rebuild, see
    `Store.rescoring.rebuild_points`). Loops until the points match the newest configuration, so a
    change saved while a rebuild was running is applied too (that rebuild stops and starts
    again with it). Returns the last rebuild's stats, or None.
    """
    stats = None
    for _attempt in range(20):
        config, version = store.configs.load_versioned()
        points = store.configs.scored_version() < last_scoring_version(store)
        raw = store.configs.raw_sets() != config.raw_metric
        if (points or raw) and store.layout.state() == "older":
            log.warning("rescoring waits: days of an older storage layout are not migrated "
                        "yet (`tokenboard migrate`, or a start with MIGRATE_ON_START=on)")
            return stats
        try:
            if points:
                stats = store.rescoring.rebuild_points(config, progress, version=version)
                store.configs.set_scored_version(version)
                log.info("outcome points rebuilt for configuration v%s: %s", version, stats)
            if raw:
                stats = store.rescoring.sync_raw_sets(config, version, progress) or stats
            return stats
        except RebuildAborted as exc:
            log.info("rebuild stopped (%s); starting again with the newest configuration", exc)
        except RuntimeError:
            log.info("a rebuild is already running on another process; it will apply this")
            return stats
    log.warning("the configuration kept changing during rebuilds; run the rescore again")
    return stats


def recent_changes(history: list[dict], names: dict[str, str], tz: ZoneInfo) -> list[str]:
    """'Ana: pr_merged weight 5 → 8 (24 Nov 14:02)' lines for audit entries (newest first)."""
    lines = []
    for entry in history:
        when = datetime.fromtimestamp(entry["at"], tz).strftime("%d %b %H:%M")
        who = names.get(entry.get("by", ""), entry.get("by") or "someone")
        lines.append(f"{who}: {'; '.join(entry['changes'])} ({when})")
    return lines


def scoring_changes_since(store: Store, since: float) -> list[str]:
    """Scoring changes saved after epoch `since`, oldest first, for the digest."""
    entries = [e for e in store.configs.history(limit=200) if e["at"] > since and e["scoring"]]
    return [c for e in reversed(entries) for c in e["changes"]
            if not c.startswith(("raw metric", "board size", "display", "flags", "digest",
                                 "timezone", "admins", "efficiency"))]
