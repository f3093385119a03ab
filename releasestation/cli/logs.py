# SPDX-License-Identifier: GPL-3.0-or-later
"""Logging for the command-line tools (releasestation, credgen, readers): -v and -q mapped
to levels in one table."""

from __future__ import annotations

import logging

from readers import CleanFormatter

# -v count (-1 for -q) -> (level of the project's own loggers, least level of every other
# library's: alembic, sqlalchemy, ldap3, aiosmtpd, urllib3, ...). Without -v or -q the
# project's loggers take the config's [logging] level (the daemon; INFO for the demo;
# WARNING for admin tools). Libraries stay at WARNING unless -v -v, and never log more than
# the project's loggers.
VERBOSITY = {
    -1: (logging.ERROR, logging.ERROR),
    1: (logging.INFO, logging.WARNING),
    2: (logging.DEBUG, logging.DEBUG),
}
OWN_LOGGERS = ("releasestation", "credgen", "readers")


def setup_logging(verbose: int, default: int | str = logging.WARNING) -> None:
    """Log to stderr, at the levels `set_log_levels` gives; control characters in a line
    escaped (readers.CleanFormatter), whatever value from outside it carries."""
    handler = logging.StreamHandler()
    handler.setFormatter(CleanFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(handlers=[handler], force=True)
    set_log_levels(verbose, default)


def set_log_levels(verbose: int, default: int | str = logging.WARNING) -> None:
    """The levels VERBOSITY gives for -v (`verbose`), the project's own loggers at `default`
    (a level or its name, as in [logging] level) without -v or -q."""
    if isinstance(default, str):
        default = logging.getLevelNamesMapping()[default.upper()]
    own, libraries = VERBOSITY.get(min(verbose, 2), (default, logging.WARNING))
    libraries = max(own, libraries)
    logging.getLogger().setLevel(libraries)
    for name in OWN_LOGGERS:  # NOTSET: follow the root logger, where tests may set a level
        logging.getLogger(name).setLevel(own if own < libraries else logging.NOTSET)
