# SPDX-License-Identifier: GPL-3.0-or-later
"""Test set-up: every module in tests/fixtures is loaded as a pytest plugin.

Fixtures there start and stop real servers (cupsd, slapd, SMTP) and open real databases.
"""

import gc
import logging
from pathlib import Path

import pytest

from releasestation.cli import OWN_LOGGERS

pytest_plugins = sorted(
    f"tests.fixtures.{p.stem}"
    for p in (Path(__file__).parent / "fixtures").glob("*.py")
    if p.stem != "__init__"
)


@pytest.fixture(autouse=True)
def _restore_root_logging():
    """CLI tests call main(), which sets up root logging on the test's captured stderr;
    put the root logger back afterwards so that server threads (aiosmtpd, readers) never
    log to a stream that pytest has closed. main() also sets the project's own loggers'
    levels (releasestation.cli.OWN_LOGGERS): put those back too."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    own = {name: logging.getLogger(name).level for name in OWN_LOGGERS}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, own_level in own.items():
        logging.getLogger(name).setLevel(own_level)


@pytest.fixture(autouse=True)
def _libcups_user_restored():
    """A PrintServer sets libcups' user for the thread it runs on (cups.setUser, kept per
    thread by libcups): a test that ran one as another account in the main thread must not
    leave the next test's own pycups connections speaking as that account."""
    import getpass

    import cups

    yield
    cups.setUser(getpass.getuser())


@pytest.fixture(autouse=True)
def _gc_unfrozen():
    """`releasestation run` and the bench freeze what is alive once the station has started
    (releasestation.daemon.settle_memory); a test that runs them must not leave the rest of
    the session frozen."""
    yield
    if gc.get_freeze_count():
        gc.unfreeze()
