"""Teams from Slack user groups: the groups named in `team_usergroups` (handles or ids)
become teams named by their handle, with the members Slack lists
(`usergroups.list`, `usergroups.users.list`; scope `usergroups:read`).

A group that disappears from Slack (deleted or disabled) keeps its team and last roster,
with a note, until an admin removes it (`tokenboard teams remove NAME`, or by taking it
out of `team_usergroups`). Teams imported from a CSV are never touched by a sync.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.core.config import BoardConfig
from bot.store.teams import TeamInfo, TeamStore

log = logging.getLogger(__name__)
SOURCE = "usergroup"


@dataclass
class SyncResult:
    synced: list[str] = field(default_factory=list)  # teams whose roster came from Slack
    changed: int = 0  # memberships added or removed
    kept: list[str] = field(default_factory=list)  # gone in Slack, kept with a note
    removed: list[str] = field(default_factory=list)  # no longer in team_usergroups
    problems: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"Synced {len(self.synced)} team(s) from Slack user groups "
               f"({self.changed} membership change(s))."]
        out += [f"Kept {name}: its user group is gone in Slack." for name in self.kept]
        out += [f"Removed {name}: no longer in team_usergroups." for name in self.removed]
        return out + self.problems


def _wanted(entry: str) -> str:
    return entry.strip().lstrip("@").casefold()


def sync_usergroups(client: WebClient, teams: TeamStore, config: BoardConfig,
                    now: datetime | None = None) -> SyncResult:
    """Bring the user-group teams in line with Slack. Slack errors (a missing
    `usergroups:read` scope, say) are returned as problems; nothing is changed then."""
    result = SyncResult()
    today = (now or datetime.now(UTC)).date().isoformat()
    existing = {n: i for n, i in teams.teams().items() if i.source == SOURCE}
    try:
        groups = client.usergroups_list(include_disabled=True)["usergroups"] or []
    except SlackApiError as exc:
        result.problems.append(f"Slack refused usergroups.list: "
                               f"{exc.response.get('error', 'error')}"
                               " (the app needs the usergroups:read scope)")
        return result
    by_key: dict[str, dict] = {}
    for g in groups:
        by_key[str(g.get("id", "")).casefold()] = g
        by_key[str(g.get("handle", "")).casefold()] = g
    save: dict[str, tuple[TeamInfo, set[str]]] = {}
    for entry in config.team_usergroups:
        key = _wanted(entry)
        group = by_key.get(key)
        old = next((i for i in existing.values() if key in (i.id.casefold(),
                                                            i.handle.casefold())), None)
        if group is None or group.get("date_delete"):
            if old is not None:  # gone in Slack: keep the team and its roster, noted
                note = old.note or (f"its Slack user group is gone (noticed {today}); an "
                                    f"admin can remove it with `tokenboard teams remove "
                                    f"{old.name}`")
                save[old.name] = (replace(old, note=note), teams.members(old.name))
                result.kept.append(old.name)
            else:
                result.problems.append(f"No Slack user group {entry!r} (handle or id).")
            continue
        try:
            users = client.usergroups_users_list(usergroup=group["id"])["users"] or []
        except SlackApiError as exc:
            result.problems.append(f"Slack refused the members of @{group.get('handle')}: "
                                   f"{exc.response.get('error', 'error')}")
            if old is not None:
                save[old.name] = (old, teams.members(old.name))
            continue
        name = str(group.get("handle") or group["id"])
        info = TeamInfo(name=name, source=SOURCE, id=group["id"], handle=name,
                        label=str(group.get("name") or name))
        save[name] = (info, set(users))
        result.synced.append(name)
    result.removed = sorted(set(existing) - set(save))
    if any(p.startswith("Slack refused the members") for p in result.problems):
        result.removed = []  # do not drop anything on a partial answer
    before = teams.rosters()
    unchanged = result.removed == [] and all(
        before.get(n) == m and existing.get(n) == replace(i, size=len(m))
        for n, (i, m) in save.items())
    if not unchanged:
        result.changed = teams.save(save, remove=result.removed)
    return result
