"""`tokenboard workspaces list|keep TEAM_ID`: the workspaces that installed tokenboard
("Add to Slack") and the data waiting to be deleted after an uninstall."""

from __future__ import annotations

import argparse
import sys
import time

from bot.core.settings import Settings, SettingsError


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("workspaces", help="installed workspaces and pending deletions "
                                               "(installs through \"Add to Slack\")")
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="installed workspaces, and uninstalled ones whose data "
                                    "is waiting to be deleted")
    keep = actions.add_parser("keep", help="cancel the deletion of an uninstalled "
                                           "workspace's data")
    keep.add_argument("team_id", help="the workspace's team id (T…)")


def run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.runtime.app import build_workspaces

    if not settings.oauth:
        raise SettingsError("workspaces are installed through \"Add to Slack\": set "
                            "SLACK_CLIENT_ID and SLACK_CLIENT_SECRET, and no SLACK_BOT_TOKEN")
    workspaces = build_workspaces(settings)
    try:
        if args.action == "keep":
            if workspaces.keep(args.team_id):
                print(f"kept: the data of {args.team_id} will not be deleted")
                return 0
            print(f"tokenboard: no deletion is pending for {args.team_id}", file=sys.stderr)
            return 1
        assert workspaces.installations is not None
        installed = workspaces.installations.installed()
        print(f"{len(installed)} installed")
        for team in sorted(installed, key=lambda t: t.get("installed_at") or 0):
            name = team.get("team_id") or f"{team.get('enterprise_id')} (whole org)"
            when = time.strftime("%Y-%m-%d", time.gmtime(team.get("installed_at") or 0))
            print(f"  {name}  installed {when}")
        pending = workspaces.pending_deletions()
        for workspace, due in sorted(pending.items(), key=lambda x: x[1]):
            print(f"  {workspace}  uninstalled: data deleted after "
                  f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(due))} "
                  f"(`tokenboard workspaces keep {workspace}` keeps it)")
        return 0
    finally:
        if workspaces.embedded:
            workspaces.embedded.stop()
