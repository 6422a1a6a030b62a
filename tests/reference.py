"""Third-party reference material beside the clone, in ../shared: where it is, and what a
test does when it is not there.

../shared holds other projects' published examples, each with its licence: octokit/webhooks'
GitHub payloads (fixtures/github), opentelemetry-proto's OTLP/JSON examples (fixtures/otlp),
the GitHub Docs Copilot usage-metrics example (fixtures/copilot) and Slack's app manifest
schema (slack-manifest-schema). The repository does not carry them; the suite's own payloads
are in tests/payloads/. Tests that compare against ../shared are marked `reference` and ask
for it through `shared_path` / `reference_dir`, never at import time, so collection never
depends on it.

When the path is missing the test is skipped locally, with the path and the reason, and
fails in CI (the environment variable CI is "true", as GitHub Actions, GitLab CI and most
others set it): CI must never pass without having compared.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def in_ci() -> bool:
    """Whether this run is CI's: the CI environment variable is "true" (any case) or "1"."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1")


def shared_path(*parts: str) -> Path:
    """`../shared/<parts…>` when it exists; otherwise skip the calling test, or fail it in
    CI."""
    path = SHARED.joinpath(*parts)
    if path.exists():
        return path
    where = "/".join(("..", "shared", *parts))
    if in_ci():
        pytest.fail(f"third-party reference material not found at {path} ({where} beside "
                    "the clone): CI requires it, check it out next to the repository",
                    pytrace=False)
    pytest.skip(f"third-party reference material not found at {path} ({where} beside the "
                "clone): this comparison is skipped outside CI; with CI=true it fails")


def reference_dir(name: str) -> Path:
    """`../shared/fixtures/<name>` (github, otlp, copilot), as `shared_path`."""
    return shared_path("fixtures", name)


def shape_differences(reference: Any, own: Any, path: str = "") -> list[str]:
    """How `own` (one of the suite's payloads) falls short of `reference` (a third-party
    example of the same message): keys the reference has on an object that `own` lacks
    at the same path, and values of another JSON type (null matches anything; list items
    are compared as one merged object). Empty when `own` has the reference's shape."""
    ref_objects, own_objects = _objects(reference, path), _objects(own, path)
    problems = []
    for where, ref_obj in ref_objects.items():
        own_obj = own_objects.get(where)
        if own_obj is None:
            continue  # e.g. an empty list in ours, a filled one in theirs
        for key in sorted(ref_obj):
            label = f"{where}.{key}" if where else key
            if key not in own_obj:
                problems.append(f"{label}: missing")
            elif _kind(ref_obj[key]) != _kind(own_obj[key]) and None not in (
                    ref_obj[key], own_obj[key]):
                problems.append(f"{label}: {_kind(own_obj[key])}, the reference has "
                                f"{_kind(ref_obj[key])}")
    return problems


def _objects(doc: Any, path: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if isinstance(doc, dict):
        out.setdefault(path, {}).update(doc)
        for key, value in doc.items():
            for where, obj in _objects(value, f"{path}.{key}" if path else key).items():
                out.setdefault(where, {}).update(obj)
    elif isinstance(doc, list):
        for item in doc:
            for where, obj in _objects(item, f"{path}[]").items():
                out.setdefault(where, {}).update(obj)
    return out


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), "null")
