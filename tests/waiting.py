# SPDX-License-Identifier: GPL-3.0-or-later
"""Polling helper for tests that wait on threads, devices or servers."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(condition: Callable[[], object], timeout: float = 2.0, step: float = 0.002):
    """Poll `condition` until it is truthy or `timeout` passes; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)
