"""manifest.yml against Slack's manifest schema, and what the app needs from it.

The schema lives next to the clone, in ../shared/slack-manifest-schema/ (as in CI). When it
is missing the schema test fails: it is never skipped, so CI cannot pass without checking
the manifest.
"""

import json
import os
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
        pytest.fail(f"Slack manifest schema not found at {SCHEMA}: clone next to ../shared",
                    pytrace=False)
    import jsonschema  # a dev dependency: missing is an error, not a skip

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


def test_a_missing_schema_fails(tmp_path: Path) -> None:
    """This file, copied into a clone with no ../shared next to it, run by pytest."""
    import subprocess
    import sys

    clone = tmp_path / "parent" / "clone"
    (clone / "tests").mkdir(parents=True)
    (clone / "manifest.yml").write_text((ROOT / "manifest.yml").read_text())
    (clone / "tests" / "test_manifest.py").write_text(Path(__file__).read_text())

    def pytest_run(**env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
             "-c", os.devnull, "--rootdir", str(clone), "-k", "matches_slack_schema",
             str(clone / "tests" / "test_manifest.py")],
            cwd=clone, env={**os.environ, **env}, capture_output=True, text=True, timeout=120)

    failed = pytest_run()
    assert failed.returncode == 1, failed.stdout
    assert "1 failed" in failed.stdout and "manifest schema not found" in failed.stdout
