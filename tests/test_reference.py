"""tests/reference.py: where ../shared is, skipped without it locally, a failure in CI; and
the shape comparison the `reference` tests use."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import reference


@pytest.fixture
def shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty stand-in for ../shared."""
    monkeypatch.setattr(reference, "SHARED", tmp_path / "shared")
    monkeypatch.delenv("CI", raising=False)
    return tmp_path / "shared"


def test_shared_is_beside_the_clone_never_an_absolute_workspace_path() -> None:
    root = Path(__file__).resolve().parents[1]
    assert reference.ROOT == root and reference.SHARED == root.parent / "shared"


def test_present_material_is_returned(shared: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (shared / "fixtures" / "github").mkdir(parents=True)
    monkeypatch.setenv("CI", "true")
    assert reference.reference_dir("github") == shared / "fixtures" / "github"
    assert reference.shared_path("fixtures") == shared / "fixtures"


@pytest.mark.parametrize("ci", [None, "", "false", "0", "no"])
def test_missing_material_is_skipped_outside_ci(shared: Path, monkeypatch: pytest.MonkeyPatch,
                                                ci: str | None) -> None:
    if ci is not None:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception) as skipped:
        reference.reference_dir("otlp")
    message = str(skipped.value)
    assert f"not found at {shared / 'fixtures' / 'otlp'}" in message
    assert "../shared/fixtures/otlp beside the clone" in message


@pytest.mark.parametrize("ci", ["true", "TRUE", "True", "1"])
def test_missing_material_fails_in_ci(shared: Path, monkeypatch: pytest.MonkeyPatch,
                                      ci: str) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception) as failed:
        reference.shared_path("slack-manifest-schema", "manifest.schema.1.0.0.json")
    message = str(failed.value)
    assert "../shared/slack-manifest-schema/manifest.schema.1.0.0.json" in message
    assert "CI requires it" in message


def test_shape_differences() -> None:
    theirs = {"action": "closed", "number": 2, "pull_request": {
        "id": 1, "title": "x", "merged_by": None, "labels": [{"name": "bug", "color": "f00"}],
        "assignees": [{"login": "a"}]}}
    assert reference.shape_differences(theirs, theirs) == []
    ours = {"action": "closed", "number": 7, "extra": True, "pull_request": {
        "id": 9, "title": "y", "merged_by": {"login": "b"}, "labels": [{"name": "ops"}],
        "assignees": []}}
    assert reference.shape_differences(theirs, ours) == ["pull_request.labels[].color: missing"]
    ours["pull_request"]["labels"][0]["color"] = "0f0"
    ours["number"] = "7"
    assert reference.shape_differences(theirs, ours) == [
        "number: string, the reference has number"]
    ours["number"] = 7.0
    assert reference.shape_differences(theirs, ours) == []
    ours["pull_request"]["merged"] = None
    theirs["pull_request"]["merged"] = False
    assert reference.shape_differences(theirs, ours) == []  # null matches anything
    del ours["pull_request"]
    assert reference.shape_differences(theirs, ours) == ["pull_request: missing"]
