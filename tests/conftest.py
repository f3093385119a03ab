# SPDX-License-Identifier: GPL-3.0-or-later
"""Test set-up: every module in tests/fixtures is loaded as a pytest plugin.

Fixtures there start and stop real servers (cupsd, slapd, SMTP) and open real databases.
"""

from pathlib import Path

pytest_plugins = sorted(
    f"tests.fixtures.{p.stem}"
    for p in (Path(__file__).parent / "fixtures").glob("*.py")
    if p.stem != "__init__"
)
