import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "slack-manifest-schema"
    / "manifest.schema.1.0.0.json"
)
REQUIRED_BOT_SCOPES = ["commands", "chat:write", "users:read", "users:read.email", "files:write"]


@pytest.fixture(scope="module")
def manifest() -> dict:
    return yaml.safe_load((ROOT / "manifest.yml").read_text())


def test_manifest_matches_slack_schema(manifest):
    if not SCHEMA.exists():
        pytest.skip(f"Slack manifest schema not found at {SCHEMA}")
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(manifest, json.loads(SCHEMA.read_text()))


def test_manifest_declares_what_the_app_uses(manifest):
    features, settings = manifest["features"], manifest["settings"]
    commands = {c["command"]: c for c in features["slash_commands"]}
    assert "/leaderboard" in commands
    assert features["app_home"]["home_tab_enabled"] is True

    events = settings["event_subscriptions"]
    assert {"app_home_opened", "message_metadata_posted"} <= set(events["bot_events"])
    metadata_types = {s["event_type"] for s in events["metadata_subscriptions"]}
    assert {"ai_usage_reported", "outcome_reported"} <= metadata_types

    scopes = manifest["oauth_config"]["scopes"]["bot"]
    for scope in REQUIRED_BOT_SCOPES + ["metadata.message:read"]:
        assert scope in scopes, scope
