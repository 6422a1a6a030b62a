"""The docs say what the code and the repository hold."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def read(name: str) -> str:
    return (ROOT / name).read_text()


def test_socket_mode_steps_name_the_manifest_setting() -> None:
    manifest = yaml.safe_load(read("manifest.yml"))
    assert manifest["settings"]["socket_mode_enabled"] is False  # what the README must flip
    assert "socket_mode_enabled: true" in read("README.md")


def test_docs_refer_only_to_files_in_the_repository() -> None:
    for doc in ["README.md", *sorted(p.relative_to(ROOT).as_posix()
                                     for p in (ROOT / "docs").glob("*.md"))]:
        for name in re.findall(r"\b([A-Z][A-Z_]+\.md)\b", read(doc)):
            assert (ROOT / name).exists() or (ROOT / "docs" / name).exists(), (doc, name)


def test_benchmarks_describe_measurements_not_work_items() -> None:
    assert not re.search(r"\bthe [\w-]+(?: [\w-]+)? issue\b", read("docs/benchmarks.md"),
                         re.I)


def test_operations_document_the_rescore_retry_after() -> None:
    source = read("bot/web/edge.py")
    [seconds] = set(re.findall(r'ScoringChanged:.*?\("Retry-After", "(\d+)"\)', source,
                               re.S))
    assert f"Retry-After: {seconds}`" in read("docs/operations.md")


def test_operations_document_the_spring_dst_limitation() -> None:
    assert "xfail(strict=True" in read("tests/unit/jobs/test_scheduler.py")
    ops = read("docs/operations.md")
    assert "00:00–00:59" in ops and "CronTrigger" in ops


def test_readme_below_points_down() -> None:
    text = read("README.md")
    for match in re.finditer(r"\(([^()]*\bbelow)\)", text):
        before = text[: match.start()]
        # what "below" refers to must come later: the Admin configuration section is above
        # the scoring rules, so a "below" there is wrong
        assert not ("## How the outcome score works" in before
                    and "## Admin configuration" in before
                    and "change all of it" in text[match.start() - 40: match.start()]), match
