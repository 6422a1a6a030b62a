"""Installs and uninstalls when tokenboard is installed through "Add to Slack".

`app_uninstalled` (or the bot token revoked) deletes the installation at once and schedules
the workspace's data for deletion after UNINSTALL_GRACE_DAYS; installing again cancels that
(see bot.runtime.workspaces). Nothing here runs for a single-workspace install (SLACK_BOT_TOKEN).
"""

from __future__ import annotations

import logging

from slack_bolt import Ack, App, BoltContext

from bot.runtime.workspaces import Workspaces

log = logging.getLogger(__name__)


def register(app: App, workspaces: Workspaces) -> None:
    if not workspaces.multi:
        return
    store = workspaces.installations
    assert store is not None

    def gone(context: BoltContext) -> None:
        store.delete_all(enterprise_id=context.enterprise_id, team_id=context.team_id)
        workspace = context.team_id or context.enterprise_id
        if workspace:
            workspaces.leaving(workspace)

    @app.event("app_uninstalled")
    def uninstalled(ack: Ack, context: BoltContext) -> None:
        gone(context)
        ack()

    @app.event("tokens_revoked")
    def revoked(ack: Ack, event: dict, context: BoltContext) -> None:
        tokens = event.get("tokens") or {}
        for user in tokens.get("oauth") or []:
            store.delete_installation(enterprise_id=context.enterprise_id,
                                      team_id=context.team_id, user_id=user)
        if tokens.get("bot"):
            gone(context)
        ack()
