"""The package as an operator installs it: a wheel built from this checkout, installed
non-editable into a fresh virtualenv, runs `tokenboard serve` on its embedded Redis with
nothing of the source tree on its path.

A package or data file left out of the wheel fails here, not in a deployment.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.store.embedded import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
TOP = ("bot", "handlers", "jobs")
DATA_SUFFIXES = (".lua",)
TOKEN = "wheel-ingest-token"


def clean_env() -> dict[str, str]:
    """This process's environment without what would put the checkout on the path of
    the virtualenv's interpreter or pip (PYTHONPATH, a virtualenv of our own)."""
    return {k: v for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")}


def source_files() -> set[str]:
    """Every module and data file the code can load at run time, as paths in a wheel."""
    found = set()
    for top in TOP:
        for path in (ROOT / top).rglob("*"):
            if "__pycache__" in path.parts or not path.is_file():
                continue
            if path.suffix == ".py" or path.suffix in DATA_SUFFIXES:
                found.add(path.relative_to(ROOT).as_posix())
    return found


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(the built wheel, the fresh virtualenv it is installed in, without -e)."""
    where = tmp_path_factory.mktemp("wheel")
    # Built from a copy of the sources, so the build leaves nothing in the checkout and
    # nothing a build left there (build/, *.egg-info) reaches the wheel.
    source = where / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "*.egg-info", "__pycache__", "demo-output", ".tokenboard",
        "tests", "bench"))
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(where / "dist"),
         str(source)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = (where / "dist").glob("tokenboard-*.whl")
    venv = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120,
                   env=clean_env())
    install = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)],
                             capture_output=True, text=True, timeout=600, env=clean_env())
    assert install.returncode == 0, install.stderr[-3000:]
    yield wheel, venv


def test_the_wheel_holds_every_module_and_data_file(installed: tuple[Path, Path]) -> None:
    wheel, _ = installed
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    wanted = source_files()
    assert wanted, "no source files found next to the tests"
    missing = sorted(wanted - names)
    assert not missing, f"left out of the wheel: {missing}"


def _env(venv: Path, home: Path, port: int) -> dict[str, str]:
    return {"PATH": f"{venv / 'bin'}:{os.environ['PATH']}", "HOME": str(home),
            "PORT": str(port), "TOKENBOARD_DATA_DIR": str(home / "data"),
            "INGEST_TOKENS": TOKEN, "TOKENBOARD_TIMEZONE": "UTC", "DIGEST_CHANNEL": "",
            "SLACK_BOT_TOKEN": "xoxb-wheel", "SLACK_SIGNING_SECRET": "wheel-secret",
            "SLACK_API_URL": "http://127.0.0.1:9/api/", "WEB_CONCURRENCY": "1"}


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> int:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as answer:
                return answer.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"serve did not start:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.1)


def test_the_installed_wheel_serves_counts_and_ranks(installed: tuple[Path, Path],
                                                     tmp_path: Path) -> None:
    _, venv = installed
    tokenboard = venv / "bin" / "tokenboard"
    assert tokenboard.exists()
    # The installed package is the one that runs, never this checkout (also when the
    # suite itself runs with PYTHONPATH pointing at the checkout).
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import bot, handlers, jobs; print(bot.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, check=True,
                           env=clean_env())
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout

    port = free_port()
    env = _env(venv, tmp_path, port)
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        serve = subprocess.Popen([str(tokenboard), "serve"], env=env, cwd=tmp_path,
                                 stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        assert _wait_healthy(url, serve, log) == 200, log.read_text()[-3000:]
        tokens = 4321
        report = [{"id": "wheel-1", "type": "usage", "user": "U0WHEEL",
                   "ts": datetime.now(UTC).isoformat(), "tool": "claude-code",
                   "tokens": tokens}]
        request = urllib.request.Request(
            url + "/ingest", data=json.dumps({"events": report}).encode(), method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200
            reply = json.loads(answer.read())
        assert reply.get("accepted") == 1, reply
        board = subprocess.run([str(tokenboard), "leaderboard", "--period", "all", "--json"],
                               env=env, cwd=tmp_path, capture_output=True, text=True,
                               timeout=60)
        assert board.returncode == 0, board.stderr
        rows = json.loads(board.stdout)["raw"]
        assert [(r["user"], r["score"]) for r in rows] == [("U0WHEEL", tokens)]
    finally:
        serve.terminate()
        try:
            serve.wait(timeout=20)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.wait()
    assert serve.returncode == 0, log.read_text()[-3000:]
