"""manifest.yml against Slack's manifest schema, and what the app needs from it.

The schema lives next to the clone, in ../shared/slack-manifest-schema/ (as in CI), and is
found through tests/reference.py: when it is missing the schema test is skipped locally and
fails in CI (CI=true), so CI cannot pass without checking the manifest.
"""

import json
import os
from pathlib import Path

import pytest
import yaml

from tests.reference import shared_path

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ("slack-manifest-schema", "manifest.schema.1.0.0.json")  # under ../shared
REQUIRED_BOT_SCOPES = ["commands", "chat:write", "users:read", "users:read.email", "files:write"]


@pytest.fixture(scope="module")
def manifest() -> dict:
    return yaml.safe_load((ROOT / "manifest.yml").read_text())


@pytest.mark.reference
def test_manifest_matches_slack_schema(manifest):
    schema = shared_path(*SCHEMA)  # skipped without it; a failure in CI
    import jsonschema  # a dev dependency: missing is an error, not a skip

    jsonschema.validate(manifest, json.loads(schema.read_text()))


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


@pytest.mark.slow
def test_a_missing_schema_is_skipped_locally_and_fails_in_ci(tmp_path: Path) -> None:
    """This file and tests/reference.py, copied into a clone with no ../shared next to it,
    run by pytest without CI, then with CI=true; then with a schema in ../shared."""
    import subprocess
    import sys

    clone = tmp_path / "parent" / "clone"
    (clone / "tests").mkdir(parents=True)
    for name in ("manifest.yml", "pyproject.toml", "tests/__init__.py", "tests/reference.py",
                 "tests/test_manifest.py"):
        (clone / name).write_text((ROOT / name).read_text())

    def pytest_run(ci: str | None, cwd: Path = clone) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k != "CI"}
        if ci is not None:
            env["CI"] = ci
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-rs", "-p", "no:cacheprovider",
             "-c", str(clone / "pyproject.toml"), "--rootdir", str(clone),
             "-k", "matches_slack_schema", str(clone / "tests" / "test_manifest.py")],
            cwd=cwd, env=env, capture_output=True, text=True, timeout=120)

    missing = tmp_path / "parent" / "shared" / "slack-manifest-schema"
    skipped = pytest_run(None)
    assert skipped.returncode == 0, skipped.stdout
    assert "1 skipped" in skipped.stdout and f"not found at {missing}" in skipped.stdout
    assert "../shared/slack-manifest-schema" in skipped.stdout
    failed = pytest_run("true")
    assert failed.returncode == 1, failed.stdout
    assert "1 failed" in failed.stdout and f"not found at {missing}" in failed.stdout
    assert "CI requires it" in failed.stdout

    # ../shared beside the clone is found, whatever the working directory
    missing.mkdir(parents=True)
    (missing / "manifest.schema.1.0.0.json").write_text('{"type": "object"}')
    passed = pytest_run("true", cwd=tmp_path)
    assert passed.returncode == 0 and "1 passed" in passed.stdout, passed.stdout
