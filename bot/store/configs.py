"""The board configuration: one JSON document, versioned by `lua/save_config.lua`, which
also appends the audit entry; the version outcome points were last rebuilt with, and the
raw metric whose day, week and month sets are complete."""

from __future__ import annotations

import json
from collections.abc import Sequence

from bot.core.config import BoardConfig
from bot.store.lua import Call, Script
from bot.store.workspace import WorkspaceRedis, time_now

CONFIG_HISTORY = 200  # audit entries kept
SAVE_CONFIG = Script("save_config")


def save_config_call(*, config: str, version: str, history: str, document: str,
                     expected_version: int | None, entry: str, keep: int) -> Call:
    """lua/save_config.lua: store `document` as the next version of `config` (only if
    `version` holds `expected_version`, unless None) and push `entry` onto `history`."""
    return Call([config, version, history],
                [document, -1 if expected_version is None else expected_version, entry, keep])


class Configs:
    def __init__(self, ws: WorkspaceRedis) -> None:
        self.ws = ws
        self._cached: tuple[BoardConfig, int] | None = None

    def _key(self, *what: str) -> str:
        return self.ws.keys.key("config", *what)

    def load(self) -> BoardConfig:
        return self.load_versioned()[0]

    def load_versioned(self) -> tuple[BoardConfig, int]:
        raw, version = self.ws.r.mget(self._key(), self._key("version"))
        config = BoardConfig.model_validate_json(raw) if raw else BoardConfig()
        self._cached = config, int(version or 0)
        return self._cached

    def load_cached(self) -> tuple[BoardConfig, int]:
        """The configuration and version this process read last (read now if none):
        for counting, whose script checks the version (`bot.store.cached`)."""
        return self._cached or self.load_versioned()

    def forget(self) -> None:
        """Drop what `load_cached` keeps."""
        self._cached = None

    def version(self) -> int:
        return int(self.ws.r.get(self._key("version")) or 0)

    def save(self, config: BoardConfig, by: str = "", changes: Sequence[str] = (),
             expected_version: int | None = None, scoring: bool = False) -> int | None:
        """Store a new version with its audit entry; None if `expected_version` is stale."""
        entry = json.dumps({"by": by, "at": time_now(), "changes": list(changes),
                            "scoring": scoring})
        version = SAVE_CONFIG.run(self.ws.r, save_config_call(
            config=self._key(), version=self._key("version"), history=self._key("history"),
            document=config.model_dump_json(), expected_version=expected_version,
            entry=entry, keep=CONFIG_HISTORY))
        return None if int(version) < 0 else int(version)

    def scored_version(self) -> int:
        """The configuration version outcome points were last rebuilt with."""
        return int(self.ws.r.get(self._key("scored")) or 0)

    def set_scored_version(self, version: int) -> None:
        self.ws.r.set(self._key("scored"), version)

    def history(self, limit: int = 20) -> list[dict]:
        """Newest first: {version, by, at (epoch s), changes, scoring}."""
        return [json.loads(x) for x in self.ws.r.lrange(self._key("history"), 0, limit - 1)]

    def raw_sets(self) -> str:
        """The raw metric whose day, week and month sets are complete ("tokens": always)."""
        return (self.ws.r.get(self._key("raw")) or b"tokens").decode()

    def set_raw_sets(self, metric: str) -> None:
        self.ws.r.set(self._key("raw"), metric)
