"""The packages import one way, as docs/architecture.md's table says: an import that the
table does not allow fails here, deferred imports (inside functions) included."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# package -> what it may import (packages, or single modules), as in docs/architecture.md
MAY_IMPORT: dict[str, set[str]] = {
    "bot.core": set(),
    "bot.sources": {"bot.core"},
    "bot.store": {"bot.core"},
    "bot.intake": {"bot.core", "bot.sources", "bot.store", "bot.slack.directory"},
    "bot.connectors": {"bot.core", "bot.sources", "bot.store", "bot.intake", "bot.render",
                       "bot.slack.directory"},
    "bot.boards": {"bot.core", "bot.store"},
    "bot.render": {"bot.core", "bot.boards"},
    "bot.slack": {"bot.core", "bot.store", "bot.boards", "bot.render"},
    "bot.web": {"bot.core", "bot.sources", "bot.store", "bot.intake", "bot.slack"},
}
# `Deps`, the bundle a request or a job carries, is built by the composition root and
# handed down as a parameter: these packages may name its type.
DEPS_TYPE = "bot.runtime.deps"
TAKES_DEPS = {"bot.boards", "bot.slack", "bot.web", "bot.connectors"}
# Known exceptions, each one import of one file.
EXCEPTIONS = {("bot/boards/rings.py", "bot.render.blocks")}


def package(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "bot" and len(parts) > 1 else parts[0]


def imports(path: Path) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
        elif isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
    return [(name, line) for name, line in found
            if name.split(".")[0] in ("bot", "handlers", "jobs")]


def allowed(source: str, target: str) -> bool:
    if package(target) == source:
        return True
    if target == DEPS_TYPE and source in TAKES_DEPS:
        return True
    return any(target == ok or target.startswith(ok + ".") for ok in MAY_IMPORT[source])


def wrong_way(root: Path) -> list[str]:
    found = []
    for path in sorted((root / "bot").rglob("*.py")):
        rel = path.relative_to(root)
        source = package(".".join(rel.with_suffix("").parts))
        if source not in MAY_IMPORT:
            continue
        for target, line in imports(path):
            if not allowed(source, target) and (rel.as_posix(), target) not in EXCEPTIONS:
                found.append(f"{rel}:{line} imports {target}")
    return found


def test_every_import_goes_the_way_the_architecture_says() -> None:
    assert wrong_way(ROOT) == []


def test_a_wrong_way_import_is_found(tmp_path: Path) -> None:
    core = tmp_path / "bot" / "core"
    core.mkdir(parents=True)
    (core / "a.py").write_text("def f():\n    from bot.store.keys import Keys\n")
    (core / "b.py").write_text("from bot.core.a import f\n")
    assert wrong_way(tmp_path) == ["bot/core/a.py:2 imports bot.store.keys"]


def test_every_package_of_bot_is_in_the_table() -> None:
    packages = {f"bot.{p.name}" for p in (ROOT / "bot").iterdir()
                if p.is_dir() and (p / "__init__.py").exists()}
    assert packages - set(MAY_IMPORT) == {"bot.runtime", "bot.cli", "bot.demo"}
