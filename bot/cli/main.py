"""The `tokenboard` command: serve, worker, demo, leaderboard, digest, config, tokens,
identities, workspaces, pull, import, teams, migrate."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from bot.cli.access import add_parsers, workspace_option
from bot.core.periods import PERIODS
from bot.core.settings import SettingsError, check_workspace, load_settings

if TYPE_CHECKING:
    from bot.core.settings import Settings
    from bot.runtime.deps import Deps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tokenboard",
        description="AI usage leaderboard with the outcome-weighted board beside it.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the Slack app and the /ingest HTTP server on PORT "
                                 "(and the background jobs while no worker runs)")
    sub.add_parser("worker", help="run the background jobs (digest, rescoring, periodic "
                                  "jobs) apart from the web processes")
    demo = sub.add_parser("demo", help="offline demo: synthetic org → both rankings")
    demo.add_argument("--out", type=Path, default=Path("demo-output"),
                      help="where to write the Block Kit JSON (default: demo-output)")
    demo.add_argument("--people", type=int, default=60, help="people in the org (default 60)")
    demo.add_argument("--temporary", action="store_true",
                      help="keep nothing: use a temporary Redis instead of keeping the demo's "
                           "data under the data dir as the workspace 'demo'")
    board = sub.add_parser("leaderboard", help="print both rankings for a period")
    workspace_option(board, "to read ('demo' after `tokenboard demo`)")
    board.add_argument("--period", choices=PERIODS, default="week")
    board.add_argument("--json", action="store_true", help="print JSON instead of a table")
    from bot.cli.teams import add_board_options
    from bot.cli.teams import add_parsers as add_teams_parsers

    add_board_options(board)  # --teams, --team NAME
    digest = sub.add_parser("digest", help="build and post the daily digest (once per day)")
    digest.add_argument("--date", type=_day, default=None,
                        help="the local day to report on, YYYY-MM-DD (default: yesterday)")
    digest.add_argument("--dry-run", action="store_true",
                        help="print the Block Kit JSON and write the chart PNG; post nothing")
    digest.add_argument("--force", action="store_true",
                        help="post even if this day's digest was already posted")
    digest.add_argument("--out", type=Path, default=Path("."),
                        help="where --dry-run writes the chart (default: current directory)")
    workspace_option(digest, "whose digest to build ('demo' after `tokenboard demo`)")
    config = sub.add_parser("config", help="export or import the metrics configuration")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    export = config_sub.add_parser("export", help="print the configuration (YAML or JSON)")
    export.add_argument("--format", choices=("yaml", "json"), default="yaml")
    load = config_sub.add_parser(
        "import", help="validate a YAML/JSON file and save what it changes",
        description="Only what the file lists changes (fields, and the outcome kinds it "
                    "names); --replace takes the file as the whole configuration, removing "
                    "kinds it does not list.")
    load.add_argument("file", type=Path)
    load.add_argument("--dry-run", action="store_true",
                      help="print the changes it would make; save nothing")
    for action in (export, load):
        workspace_option(action, "whose configuration to use")
    load.add_argument("--replace", action="store_true",
                      help="the file is the whole configuration: unlisted kinds are removed "
                           "and unlisted settings go back to their defaults (no prompt)")
    from bot.cli.pull import add_parsers as add_pull_parsers
    from bot.cli.workspace_list import add_parser as add_workspaces_parser

    add_parsers(sub)
    add_workspaces_parser(sub)
    add_pull_parsers(sub, _day)
    add_teams_parsers(sub)
    from bot.cli.migrate import add_parser as add_migrate_parser

    add_migrate_parser(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # APScheduler logs every run of the 30-second schedule sync at INFO: keep it quiet.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    try:
        if args.command == "demo":
            from bot.demo.run import run_demo

            if args.people < 50:
                parser.error("--people must be at least 50")
            keep = None if args.temporary else load_settings().data_dir
            run_demo(out_dir=args.out, people=args.people, keep_dir=keep)
            return 0
        settings = load_settings()
        if getattr(args, "workspace", None):
            settings = replace(settings, workspace=check_workspace(args.workspace))
        if args.command == "config":
            return run_config(settings, args)
        if args.command in ("tokens", "identities"):
            from bot.cli.access import run_identities, run_tokens

            return (run_tokens if args.command == "tokens" else run_identities)(settings, args)
        if args.command in ("pull", "import"):
            from bot.cli.pull import run as run_pull

            return run_pull(settings, args)
        if args.command == "teams":
            from bot.cli.teams import run as run_teams

            return run_teams(settings, args)
        if args.command == "leaderboard" and (args.teams or args.team):
            from bot.cli.teams import print_team_board

            return print_team_board(settings, args.period, args.team, args.json)
        if args.command == "migrate":
            from bot.cli.migrate import run as run_migrate

            return run_migrate(settings, args, explicit=bool(args.workspace))
        if args.command == "workspaces":
            from bot.cli.workspace_list import run as run_workspaces

            return run_workspaces(settings, args)
        if args.command == "digest":
            return run_digest(settings, args.date, args.dry_run, args.force, args.out)
        if args.command == "serve":
            from bot.runtime.serve import serve

            return serve(settings)
        if args.command == "worker":
            from bot.runtime.worker import run_worker

            return run_worker(settings)
        return print_leaderboard(settings, args.period, args.json)
    except SettingsError as exc:
        print(f"tokenboard: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-23") from None


def run_digest(settings: Settings, day: date | None, dry_run: bool, force: bool, out: Path) -> int:
    from bot.runtime.app import build_deps
    from bot.slack.digest_schedule import current_schedule
    from jobs.digest import DigestRunner, previous_day

    if not dry_run:
        settings.require("SLACK_BOT_TOKEN")
    deps = build_deps(settings)
    try:
        schedule = current_schedule(deps)
        day = day or previous_day(schedule)
        runner = DigestRunner(deps)
        if dry_run:
            built = runner.build(day)
            print(json.dumps({"text": built.text, "blocks": built.blocks}, indent=2,
                             ensure_ascii=False))
            if built.chart_error:
                print(f"chart not drawn ({built.chart_error}); the digest would be posted "
                      "without it", file=sys.stderr)
            if built.png:
                out.mkdir(parents=True, exist_ok=True)
                path = out / f"digest-{day.isoformat()}.png"
                path.write_bytes(built.png)
                print(f"chart written to {path}", file=sys.stderr)
            return 0
        if not schedule.channel and not deps.store.configs.load().team_digest_channels:
            raise SettingsError("DIGEST_CHANNEL is not set (see .env.example)")
        outcome = runner.run(day, force=force)
        messages = {
            "posted": f"Digest for {day} posted to {outcome.channel} (ts {outcome.ts}).",
            "already_posted": f"Digest for {day} was already posted to {outcome.channel} "
                              f"(ts {outcome.ts}); use --force to post it again.",
            "claimed_elsewhere": f"Another process is posting the digest for {day} right "
                                 "now; not posting.",
            "disabled": "The digest is turned off in the configuration; use --force to post "
                        "anyway.",
            "failed": f"Digest for {day} not posted: {outcome.error}",
            "no_channel": "No digest channel is set (DIGEST_CHANNEL): only the teams' own "
                          "digests go out.",
        }
        print(messages.get(outcome.status, outcome.status),
              file=sys.stderr if outcome.status == "failed" else sys.stdout)
        for team in outcome.teams:
            print(team.line(day), file=sys.stderr if team.status == "failed" else sys.stdout)
        failed = outcome.status == "failed" or any(t.status == "failed" for t in outcome.teams)
        return 1 if failed else 0
    finally:
        deps.close()


def run_config(settings: Settings, args: argparse.Namespace) -> int:
    import yaml

    from bot.runtime.app import build_deps

    data: object = None
    if args.config_command == "import":
        try:
            text = args.file.read_text()
        except OSError as exc:
            print(f"tokenboard: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
            return 2
        try:
            data = (json.loads(text) if args.file.suffix.lower() == ".json"
                    else yaml.safe_load(text))
        except (json.JSONDecodeError, yaml.YAMLError) as exc:
            print(f"tokenboard: {args.file} is not valid {args.file.suffix[1:] or 'YAML'}: "
                  f"{exc}", file=sys.stderr)
            return 2
    deps = build_deps(settings)
    try:
        if args.config_command == "export":
            data = deps.store.configs.load().model_dump(mode="json")
            if args.format == "json":
                print(json.dumps(data, indent=2))
            else:
                print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), end="")
            return 0
        return _import_config(deps, args, {} if data is None else data)
    finally:
        deps.close()


def _import_config(deps: Deps, args: argparse.Namespace, data: object) -> int:
    """Merge the file onto the current configuration (or, with --replace, take it whole),
    validate it with the modal's rules, then show or save the changes."""
    from bot.core.config import describe_changes
    from bot.intake.scoring import (
        ConfigInvalid,
        merge_config,
        rebuild_scores,
        save_configuration,
        validate_config,
    )
    from bot.slack.channels import ChannelUnresolved, resolve_channel

    current = deps.store.configs.load()
    wanted = data if args.replace else merge_config(current, data)
    problems: dict[str, str] = {}
    channel = wanted.get("digest_channel") if isinstance(wanted, dict) else None
    if isinstance(channel, str) and channel.strip():
        try:  # a name (#general) becomes its id, as DIGEST_CHANNEL does
            wanted = {**wanted, "digest_channel": resolve_channel(channel, deps.client,
                                                                  deps.store)}
        except ChannelUnresolved as exc:
            problems["digest_channel"] = str(exc)
    try:
        config = validate_config(wanted)
    except ConfigInvalid as exc:
        problems = {**exc.problems, **problems}
    if problems:
        print(f"tokenboard: {args.file} has {len(problems)} problem(s):", file=sys.stderr)
        for where, problem in problems.items():
            print(f"  {where}: {problem}", file=sys.stderr)
        return 1
    if args.dry_run:
        changes = describe_changes(current, config)
        if not changes:
            print("No changes: the configuration already matches the file.")
        else:
            print(f"Would change ({len(changes)}), nothing saved (--dry-run):")
            for change in changes:
                print(f"  {change}")
        return 0
    result = save_configuration(deps.store, config, by="cli:import")
    if result.version is None:
        print("No changes: the configuration already matches the file.")
        return 0
    print(f"Saved configuration version {result.version}:")
    for change in result.changes:
        print(f"  {change}")
    if result.scoring or deps.store.configs.raw_sets() != config.raw_metric:
        def progress(done: int, total: int) -> None:
            print(f"\rRescoring past days and periods (reports are counted meanwhile): "
                  f"{done}/{total}", end="", file=sys.stderr, flush=True)

        stats = rebuild_scores(deps.store, progress)
        print("", file=sys.stderr)
        if stats:
            print(f"Rebuilt {stats['days']} days ({stats['person_days']:,} person-days).")
    return 0


def print_leaderboard(settings: Settings, period: str, as_json: bool) -> int:
    import redis

    from bot.render.text import board_json, side_by_side, side_by_side_people
    from bot.runtime.app import build_deps

    deps = build_deps(settings)
    try:
        pb = deps.leaderboards.full_board(period)
        shown = [r.user for r in pb.board.raw] if as_json else side_by_side_people(pb)
        names = deps.directory.names(shown)
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
