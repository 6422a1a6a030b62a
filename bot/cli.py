"""The `tokenboard` command: serve, demo, leaderboard."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from bot.periods import PERIODS
from bot.settings import SettingsError, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tokenboard",
        description="AI usage leaderboard with the outcome-weighted board beside it.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the Slack app and the /ingest HTTP server on PORT")
    demo = sub.add_parser("demo", help="offline demo: synthetic org → both rankings")
    demo.add_argument("--out", type=Path, default=Path("demo-output"),
                      help="where to write the Block Kit JSON (default: demo-output)")
    demo.add_argument("--people", type=int, default=60, help="people in the org (default 60)")
    board = sub.add_parser("leaderboard", help="print both rankings for a period")
    board.add_argument("--period", choices=PERIODS, default="week")
    board.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "demo":
            from bot.demo import run_demo

            if args.people < 50:
                parser.error("--people must be at least 50")
            run_demo(out_dir=args.out, people=args.people)
            return 0
        settings = load_settings()
        if args.command == "serve":
            from bot.serve import serve

            return serve(settings)
        return print_leaderboard(settings, args.period, args.json)
    except SettingsError as exc:
        print(f"tokenboard: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def print_leaderboard(settings, period: str, as_json: bool) -> int:
    import redis

    from bot.app import build_deps
    from bot.text import board_json, side_by_side

    deps = build_deps(settings)
    try:
        pb = deps.leaderboards.period_board(period)
        shown = pb.board.raw if as_json else (pb.board.raw[: pb.config.board_size]
                                              + pb.board.outcome[: pb.config.board_size])
        names = deps.directory.names([r.user for r in shown])
        if as_json:
            print(json.dumps(board_json(pb, names), indent=2, ensure_ascii=False))
        else:
            print(side_by_side(pb, names))
        return 0
    except redis.ConnectionError as exc:
        print(f"tokenboard: cannot reach Redis ({exc})", file=sys.stderr)
        return 1
    finally:
        deps.close()


if __name__ == "__main__":
    sys.exit(main())
