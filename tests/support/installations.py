"""Slack installations for the tests of bot/store/installations.py and the install flow."""

from __future__ import annotations

from slack_sdk.oauth.installation_store import Installation

from bot.store.installations import BOT_SCOPES
from tests.support.paths import ROOT

CLIENT_ID, CLIENT_SECRET = "111.222", "oauth-secret"


MANIFEST = ROOT / "manifest.yml"


def installation(team: str | None, user: str = "U0INST", enterprise: str | None = None,
                 **extra: object) -> Installation:
    return Installation(app_id="A0TEST", enterprise_id=enterprise, team_id=team,
                        user_id=user, bot_token=f"xoxb-{team or enterprise}",
                        bot_id="B1", bot_user_id="UBOT", bot_scopes=list(BOT_SCOPES),
                        is_enterprise_install=team is None, **extra)
