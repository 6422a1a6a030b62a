"""bot.slack.startup: Slack secrets leave the environment once Settings holds them."""

from __future__ import annotations

from bot.slack.startup import forget_slack_secrets


def test_slack_secrets_are_taken_out_of_the_environment() -> None:
    environ = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s",
               "SLACK_APP_TOKEN": "xapp-1", "PORT": "3000"}
    forget_slack_secrets(environ)
    assert environ == {"PORT": "3000"}
