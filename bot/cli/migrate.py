"""`tokenboard migrate [--workspace W] [--dry-run]`: move the data an older version kept
in its storage layout into the current one, with a progress bar on a terminal and a
summary. Safe to stop and run again (see bot/store/layout.py)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TextIO

from bot.core.settings import Settings

BAR = 30


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "migrate", help="move data kept by an older version's storage layout into the "
                        "current one",
        description="Each person-day and each sender's day of event ids of the older layout "
                    "is moved by one atomic step (added to what the current layout already "
                    "holds), so the command can be stopped and run again. serve and worker "
                    "do this at start unless MIGRATE_ON_START=off.")
    parser.add_argument("--workspace", default=None,
                        help="the workspace to migrate (default: TOKENBOARD_WORKSPACE and, "
                             "installed through \"Add to Slack\", every installed one)")
    parser.add_argument("--dry-run", action="store_true",
                        help="count what would be moved; change nothing")


def progress_bar(stream: TextIO = sys.stderr) -> Callable[[str, int, int], None] | None:
    """A bar redrawn in place on a terminal; nothing when stderr is not one."""
    if not stream.isatty():
        return None

    def show(phase: str, done: int, total: int) -> None:
        filled = BAR * done // total if total else BAR
        what = "event-id keys and person-days"
        print(f"\r[{'#' * filled}{'.' * (BAR - filled)}] {done:,}/{total:,} {what}"
              f" ({'ids' if phase == 'ids' else 'days'})", end="", file=stream, flush=True)
    return show


def run(settings: Settings, args: argparse.Namespace, explicit: bool) -> int:
    """`explicit`: --workspace named the one workspace to migrate."""
    from bot.runtime.app import build_deps
    from bot.runtime.layout import served_stores
    from bot.store.layout import LayoutBusy

    deps = build_deps(settings)
    try:
        stores = [deps.store] if explicit else served_stores(settings, deps.store)
        failed = False
        for store in stores:
            layout = store.layout
            state = layout.state()
            label = f"workspace {store.ws}"
            if state != "older":
                if state == "fresh" and not args.dry_run:
                    layout.stamp()
                print(f"{label}: nothing to migrate (storage layout is current)")
                continue
            todo = layout.count()
            if args.dry_run:
                print(f"{label}: would move {todo.person_days:,} person-days and "
                      f"{todo.ids:,} event ids ({todo.sender_days:,} sender-days, "
                      f"{todo.id_keys:,} single-id keys); dry run: nothing changed")
                continue
            try:
                result = layout.migrate(progress_bar(), total=todo.units)
            except LayoutBusy as exc:
                print(f"tokenboard: {label}: {exc}; try again later", file=sys.stderr)
                failed = True
                continue
            if sys.stderr.isatty():
                print("", file=sys.stderr)
            rate = (result.seconds / result.person_days * 1000) if result.person_days else 0
            print(f"{label}: migrated {result.person_days:,} person-days "
                  f"({result.fields:,} counts) and {result.ids:,} event ids "
                  f"({result.sender_days:,} sender-days, {result.id_keys:,} single-id keys) "
                  f"in {result.seconds:.1f} s"
                  + (f" ({rate:.2f} ms a person-day)" if result.person_days else ""))
            for note in result.notes:
                print(f"{label}: {note}")
        return 1 if failed else 0
    finally:
        deps.close()
