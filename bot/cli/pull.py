"""`tokenboard pull SOURCE` and `tokenboard import SOURCE FILE`: usage from the vendors'
admin reports, with a progress bar and a summary."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from bot.connectors.vendors import SOURCES
from bot.core.settings import Settings, SettingsError

BAR = 30


def add_parsers(sub: argparse._SubParsersAction, day: type) -> None:
    pull = sub.add_parser("pull", help="pull daily usage from a vendor's admin API",
                          description="Each day's row replaces what the source said before "
                                      "for that person and day, so re-pulling never counts "
                                      "twice. Without --since: the last few days.")
    pull.add_argument("source", choices=SOURCES)
    pull.add_argument("--since", type=day, default=None, help="first day, YYYY-MM-DD (UTC)")
    pull.add_argument("--until", type=day, default=None,
                      help="last day, YYYY-MM-DD (default: yesterday, UTC)")
    pull.add_argument("--dry-run", action="store_true", help="read and check; count nothing")
    imp = sub.add_parser("import", help="count a downloaded admin report file",
                         description="Claude Code JSON pages, Copilot NDJSON, Cursor JSON or "
                                     "OpenAI JSON; the same rows as a pull (the later wins).")
    imp.add_argument("source", choices=SOURCES)
    imp.add_argument("file", type=Path)
    imp.add_argument("--dry-run", action="store_true", help="read and check; count nothing")
    for command in (pull, imp):
        command.add_argument("--workspace", default=None,
                             help="the workspace to count into (default: TOKENBOARD_WORKSPACE)")


def progress_bar(unit: str):
    def show(done: int, total: int) -> None:
        filled = BAR * done // total if total else BAR
        print(f"\r[{'#' * filled}{'.' * (BAR - filled)}] {done:,}/{total:,} {unit}",
              end="", file=sys.stderr, flush=True)
    return show


def run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.connectors import runner, vendors
    from bot.runtime.app import build_deps

    if args.command == "pull":
        connector = vendors.build(settings, args.source)  # SettingsError if its key is unset
        since, until = runner.default_window(datetime.now(UTC).date())
        since, until = args.since or since, args.until or until
        if since > until:
            raise SettingsError(f"--since {since} is after --until {until}")
    else:
        try:
            text = args.file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            print(f"tokenboard: cannot read {args.file}: {exc}", file=sys.stderr)
            return 2
    deps = build_deps(settings)
    try:
        if args.command == "pull":
            result = runner.run_pull(deps.store, deps.identities, connector, since, until,
                                     args.dry_run, progress_bar("days"))
        else:
            result = runner.run_import(deps.store, deps.identities, args.source, text,
                                       args.dry_run, progress_bar("rows"))
        print("", file=sys.stderr)
        for line in result.summary():
            print(line)
        if args.dry_run:
            print("dry run: nothing was counted")
        return 0 if result.ok else 1
    finally:
        deps.close()


