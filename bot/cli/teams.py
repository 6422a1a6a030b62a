"""`tokenboard teams list|import|sync|remove` and `tokenboard leaderboard --teams|--team`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bot.cli.access import workspace_option
from bot.core.teams import CsvRefused, parse_team_csv


def add_parsers(sub: argparse._SubParsersAction) -> None:
    teams = sub.add_parser("teams", help="teams: list, import a CSV, sync Slack user groups")
    teams_sub = teams.add_subparsers(dest="teams_command", required=True)
    listing = teams_sub.add_parser("list", help="each team with its members")
    listing.add_argument("--json", action="store_true", help="print JSON")
    load = teams_sub.add_parser(
        "import", help="teams from a CSV with the header team,slack_user",
        description="One row per membership (a person may be in several teams). The file "
                    "is the whole list of CSV teams: CSV teams it does not name are removed. "
                    "A file with any bad line is refused whole, naming every bad line.")
    load.add_argument("file", type=Path)
    teams_sub.add_parser("sync", help="sync the teams of team_usergroups from Slack now")
    remove = teams_sub.add_parser("remove", help="remove teams (e.g. one whose Slack user "
                                                 "group was deleted)")
    remove.add_argument("names", nargs="+")
    channel = teams_sub.add_parser(
        "channel", help="post a team's own daily digest to a channel (or stop with --off)",
        description="The team's digest (its members' two boards for the day) is posted with "
                    "the main digest, at the same time, to this channel.")
    channel.add_argument("team")
    target = channel.add_mutually_exclusive_group(required=True)
    target.add_argument("channel", nargs="?", help="channel id (C…) or #name")
    target.add_argument("--off", action="store_true", help="no digest of its own")
    for p in (listing, load, remove, channel, teams_sub.choices["sync"]):
        workspace_option(p, "whose teams")


def add_board_options(board: argparse.ArgumentParser) -> None:
    group = board.add_mutually_exclusive_group()
    group.add_argument("--teams", action="store_true",
                       help="the team board: teams ranked per active member")
    group.add_argument("--team", metavar="NAME", help="the boards inside one team")


def run(settings, args: argparse.Namespace) -> int:
    from bot.runtime.app import build_deps
    from bot.store.teams import TeamInfo, TeamStore

    deps = build_deps(settings)
    try:
        teams = TeamStore(deps.store)
        command = args.teams_command
        if command == "list":
            rosters = teams.rosters()
            channels = deps.store.configs.load().team_digest_channels
            rows = [{"team": name, "source": info.source, "handle": info.handle,
                     "id": info.id, "note": info.note, "digest_channel": channels.get(name),
                     "members": sorted(rosters.get(name, ()))}
                    for name, info in teams.teams().items()]
            if args.json:
                print(json.dumps({"teams": rows}, indent=2, ensure_ascii=False))
            else:
                from bot.render.team_text import team_list_text

                print(team_list_text(rows))
            return 0
        if command == "import":
            try:
                text = args.file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                print(f"tokenboard: cannot read {args.file}: {exc}", file=sys.stderr)
                return 2
            try:
                wanted = parse_team_csv(text)
            except CsvRefused as exc:
                print(f"tokenboard: {args.file} refused, nothing imported: "
                      f"{len(exc.problems)} bad line(s):", file=sys.stderr)
                for line, problem in exc.problems:
                    print(f"  line {line}: {problem}", file=sys.stderr)
                return 1
            current = teams.teams()
            clash = sorted(n for n in wanted if n in current and current[n].source != "csv")
            if clash:
                print(f"tokenboard: {args.file} refused, nothing imported: "
                      f"{', '.join(clash)} already come(s) from Slack user groups",
                      file=sys.stderr)
                return 1
            gone = sorted(n for n, i in current.items() if i.source == "csv" and n not in wanted)
            changed = teams.save({n: (TeamInfo(name=n, source="csv"), m)
                                  for n, m in wanted.items()}, remove=gone)
            print(f"Imported {len(wanted)} team(s), "
                  f"{sum(len(m) for m in wanted.values())} membership(s) "
                  f"({changed} changed)" + (f"; removed {', '.join(gone)}" if gone else "")
                  + ".")
            return 0
        if command == "sync":
            from jobs.teams import sync_teams

            settings.require("SLACK_BOT_TOKEN")
            if not deps.store.configs.load().team_usergroups:
                print("No user groups configured (team_usergroups): nothing to sync.")
                return 0
            result = sync_teams(deps, force=True)
            assert result is not None
            print("\n".join(result.lines()))
            return 1 if result.problems and not result.synced else 0
        if command == "channel":
            return _set_channel(deps, args)
        names = teams.teams()
        missing = [n for n in args.names if n not in names]
        if missing:
            print(f"tokenboard: no team(s) {', '.join(missing)}", file=sys.stderr)
            return 1
        teams.remove(args.names)
        print(f"Removed {', '.join(args.names)}.")
        return 0
    finally:
        deps.close()


def _set_channel(deps, args: argparse.Namespace) -> int:
    from bot.core.teams import closest_teams, find_team
    from bot.intake.scoring import ConfigInvalid, save_configuration
    from bot.slack.channels import ChannelUnresolved, resolve_channel
    from bot.store.teams import TeamStore

    known = TeamStore(deps.store).teams()
    name = find_team(args.team, known)
    if name is None:
        close = closest_teams(args.team, known)
        print(f"tokenboard: no team {args.team!r}"
              + (f"; did you mean {' or '.join(close)}?" if close else ""), file=sys.stderr)
        return 1
    config = deps.store.configs.load()
    channels = {t: c for t, c in config.team_digest_channels.items() if t != name}
    if not args.off:
        try:
            channels[name] = resolve_channel(args.channel, deps.client, deps.store)
        except ChannelUnresolved as exc:
            print(f"tokenboard: {exc}", file=sys.stderr)
            return 1
    try:
        result = save_configuration(deps.store, config.model_copy(
            update={"team_digest_channels": channels}), by="cli:teams")
    except ConfigInvalid as exc:
        for where, problem in exc.problems.items():
            print(f"tokenboard: {where}: {problem}", file=sys.stderr)
        return 1
    if result.version is None:
        print("No changes.")
    elif args.off:
        print(f"Team {name} has no digest of its own any more.")
    else:
        print(f"Team {name}'s digest goes to {channels[name]} with the daily digest.")
    return 0


def print_team_board(settings, period: str, team: str | None, as_json: bool) -> int:
    import redis

    from bot.boards.teams import TeamBoards, UnknownTeam
    from bot.core.teams import board_json
    from bot.runtime.app import build_deps

    deps = build_deps(settings)
    try:
        boards = TeamBoards(deps.store, now=deps.leaderboards.now)
        if team is None:
            tb = boards.period_board(period)
            if as_json:
                print(json.dumps(board_json(tb.board, period, tb.bucket_name,
                                            tb.config.raw_metric), indent=2, ensure_ascii=False))
            else:
                from bot.render.team_text import team_side_by_side

                print(team_side_by_side(tb))
            return 0
        try:
            inside = boards.inside(team, period, hidden=deps.store.privacy.opted_out())
        except UnknownTeam as exc:
            print(f"tokenboard: {exc.sentence()}", file=sys.stderr)
            return 1
        return _print_inside(deps, inside, as_json)
    except redis.ConnectionError as exc:
        print(f"tokenboard: cannot reach Redis ({exc})", file=sys.stderr)
        return 1
    finally:
        deps.close()


def _print_inside(deps, inside, as_json: bool) -> int:
    from bot.render.team_text import inside_team_header
    from bot.render.text import board_json, side_by_side, side_by_side_people

    pb = inside.pb
    if pb.config.display == "teams":  # teams only: nobody is named, here either
        print("\n".join(inside_team_header(inside)))
        print("Individuals are not ranked in this workspace (display: teams).")
        return 0
    shown = [r.user for r in pb.board.raw] if as_json else side_by_side_people(pb)
    names = deps.directory.names(shown)
    if as_json:
        data = board_json(pb, names)
        a = inside.agreement
        data.update(team=inside.team.name, members=inside.team.size,
                    team_agreement={"people": a.teams, "spearman": a.spearman,
                                    "kendall": a.kendall})
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        print("\n".join(inside_team_header(inside)) + side_by_side(pb, names))
    return 0
