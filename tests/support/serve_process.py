"""`tokenboard serve` as a subprocess on a fixed port: started (again, after a kill),
killed with SIGKILL, stopped, its log read back."""

from __future__ import annotations

import http.client
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


class ServeProcess:
    """`tokenboard serve` as a subprocess on a fixed port; its output goes to `log_path`."""

    def __init__(self, env: dict[str, str], port: int, cwd: Path) -> None:
        self.env = env
        self.port = port
        self.cwd = cwd
        self.log_path = cwd / "serve.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _launch(self) -> int:
        """Start the process; returns where its output begins in the log."""
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "bot", "serve"],
                                            env=self.env, cwd=self.cwd, stdout=log,
                                            stderr=subprocess.STDOUT)
        return offset

    def start(self, timeout: float = 60.0) -> ServeProcess:
        # 60 s: on a loaded box a relaunch after "Address already in use" takes ~9 s
        # (start-up, then gunicorn's five tries to bind), and one run needed more than three
        offset = self._launch()
        self.starts += 1
        deadline = time.monotonic() + timeout
        while True:  # up once /healthz answers at all (503 while its Redis is down)
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2):
                    return self
            except urllib.error.HTTPError:
                return self
            except (urllib.error.URLError, http.client.HTTPException, OSError):
                assert self.process is not None
                if self.process.poll() is not None and time.monotonic() < deadline and \
                        b"Address already in use" in self.log_path.read_bytes()[offset:]:
                    # A worker of the killed server still held the port (it lets go of
                    # it as it hears of its master's death): start again, as a supervisor
                    # would.
                    time.sleep(0.5)
                    offset = self._launch()
                    continue
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"tokenboard serve did not start: {self.log()}") from None
                time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no drain, no cleanup; requests in flight die with the process."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() \
            else ""
