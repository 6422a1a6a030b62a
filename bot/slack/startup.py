"""Start-up checks of `tokenboard serve`, before anything listens.

- The bot token is checked with `auth.test`: a token Slack refuses stops the process with
  one line naming SLACK_BOT_TOKEN and Slack's error, instead of serving (and failing every
  App Home, reply and digest) with a dead token. Slack being unreachable, rate limiting or
  failing (5xx) is only a warning: the token may be fine, and Slack may be back soon.
- The Slack credentials are taken out of the process environment once `Settings` holds
  them. Bolt's `App` reads SLACK_BOT_TOKEN from `os.environ` when no `token` is given
  (`token = token or os.environ.get("SLACK_BOT_TOKEN")`) and, since we hand it our own
  `client`, logs "As you gave `client` as well, `token` will be unused" whenever that
  variable is set, which `.env` (through `load_dotenv`) or the deployment always does.
  Without the variable, Bolt uses our client and logs nothing; and child processes (the
  embedded redis-server) do not inherit the secrets either.
"""

from __future__ import annotations

import logging
import os
from collections.abc import MutableMapping
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.core.settings import SettingsError

log = logging.getLogger(__name__)
SLACK_SECRETS = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN")
# Slack's answers that say nothing about the token: try again later, do not stop.
TRANSIENT = frozenset({"ratelimited", "fatal_error", "internal_error", "service_unavailable",
                       "request_timeout"})


@dataclass(frozen=True)
class BotIdentity:
    user_id: str
    team: str
    team_id: str


def check_bot_token(client: WebClient) -> BotIdentity | None:
    """`auth.test` with the bot token.

    Raises SettingsError (one line for the operator) when Slack refuses the token; returns
    None, after a warning, when Slack could not be asked.
    """
    try:
        answer = client.auth_test()
    except SlackApiError as exc:
        error = str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
        if exc.response.status_code >= 500 or exc.response.status_code == 429 \
                or error in TRANSIENT:
            log.warning("could not check SLACK_BOT_TOKEN with Slack (%s); starting anyway",
                        error)
            return None
        raise SettingsError(f"SLACK_BOT_TOKEN was refused by Slack: {error}") from None
    except Exception as exc:  # network: DNS, refused connection, timeout, TLS
        log.warning("could not reach Slack to check SLACK_BOT_TOKEN (%s: %s); starting "
                    "anyway", type(exc).__name__, exc)
        return None
    identity = BotIdentity(user_id=str(answer.get("user_id", "")),
                           team=str(answer.get("team", "")),
                           team_id=str(answer.get("team_id", "")))
    log.info("Slack accepted SLACK_BOT_TOKEN: bot user %s in workspace %s (%s)",
             identity.user_id, identity.team, identity.team_id)
    return identity


def forget_slack_secrets(environ: MutableMapping[str, str] | None = None) -> None:
    """Remove the Slack credentials from the environment (see the module docstring)."""
    environ = os.environ if environ is None else environ
    for name in SLACK_SECRETS:
        environ.pop(name, None)
