"""Waiting for what another thread or process does: polled, never slept for a fixed time."""

from __future__ import annotations

import time


def wait_for(fn, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("timed out waiting")
