# SPDX-License-Identifier: GPL-3.0-or-later
"""The fault suite's scale. Every case here carries the `faults` marker and runs in CI at
small scale; `RELEASESTATION_FAULTS=full` runs the full counts (see docs/performance.md):
`RELEASESTATION_FAULTS=full bin/test tests/faults`.
"""

from __future__ import annotations

import os

import pytest

FULL = os.environ.get("RELEASESTATION_FAULTS", "").strip().lower() == "full"


def scaled(small: int, full: int) -> int:
    """`small` in CI, `full` when RELEASESTATION_FAULTS=full."""
    return full if FULL else small


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/faults is a fault case (`-m faults` picks them, `-m "not
    faults"` leaves them out; nothing leaves them out by default)."""
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here + os.sep):
            item.add_marker(pytest.mark.faults)
            if FULL:  # the full counts outlast the suite's 120 s a test
                item.add_marker(pytest.mark.timeout(1800))
