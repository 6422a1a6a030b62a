"""Build and sign incoming requests exactly as Slack does.

Slack POSTs slash commands and interactions form-encoded, and Events API
callbacks as compact JSON. Each request carries ``X-Slack-Request-Timestamp``
and ``X-Slack-Signature`` (v0 HMAC-SHA256 of ``v0:<ts>:<raw body>``).
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
JSON_CONTENT_TYPE = "application/json"

TEAM_ID = "T0TEST"
APP_ID = "A0TEST"
BOT_USER_ID = "UBOT"
VERIFICATION_TOKEN = "verification-token"  # deprecated field Slack still sends


_TRIGGERS = itertools.count(1)


def new_trigger_id() -> str:
    """A fresh trigger id, as Slack issues one per slash command and interaction (so two
    requests a test sends are never byte-identical, which the app treats as a replay)."""
    return f"{next(_TRIGGERS)}.{int(time.time())}.{secrets.token_hex(16)}"


def _compact(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))


def sign(body: bytes | str, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """Headers Slack would send with ``body``; ``timestamp`` defaults to now."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    assert signature is not None
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}


def slash_command_body(
    command: str = "/leaderboard",
    text: str = "",
    user_id: str = "U0TEST",
    team_id: str = TEAM_ID,
    channel_id: str = "C0TEST",
    response_url: str = "https://hooks.slack.com/commands/T0TEST/1/abc",
    trigger_id: str | None = None,
    user_name: str = "tester",
    channel_name: str = "general",
    team_domain: str = "test",
) -> str:
    """Form-encoded slash command payload, fields in the order Slack sends them."""
    return urlencode({
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "team_domain": team_domain,
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name,
        "command": command,
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or new_trigger_id(),
    })


def event_body(
    event: dict,
    event_id: str = "Ev123",
    team_id: str = TEAM_ID,
    event_time: int | None = None,
) -> str:
    """JSON ``event_callback`` envelope around ``event``."""
    return _compact({
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "context_team_id": team_id,
        "context_enterprise_id": None,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()) if event_time is None else event_time,
        "authorizations": [{
            "enterprise_id": None,
            "team_id": team_id,
            "user_id": BOT_USER_ID,
            "is_bot": True,
            "is_enterprise_install": False,
        }],
        "is_ext_shared_channel": False,
        "event_context": f"4-{event_id}",
    })


def interactive_body(payload: dict) -> str:
    """Form-encoded ``payload=<json>`` as sent for block_actions, view_submission..."""
    return urlencode({"payload": _compact(payload)})


def url_verification_body(challenge: str) -> str:
    body = {"token": VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"}
    return _compact(body)
