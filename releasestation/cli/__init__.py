# SPDX-License-Identifier: GPL-3.0-or-later
"""The `releasestation` command: the daemon and the admin's tools.

Each module in COMMANDS adds its sub-commands with `register(subparsers)`; a handler takes
the parsed arguments and returns an exit code. Exit codes are for cron and systemd:
0 done, 1 failed or problems found, 2 bad usage or config, 3 a service is unreachable.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from releasestation import __version__
from releasestation.cli.options import CommandParser
from releasestation.errors import (
    ConfigError,
    DirectoryError,
    PrintServerError,
    ReleaseStationError,
    StoreError,
)

OK, FAILED, USAGE, UNAVAILABLE = 0, 1, 2, 3

COMMANDS = [
    "releasestation.cli.station",
    "releasestation.cli.admin",
    "releasestation.cli.credentials",
    "releasestation.cli.lifecycle",
]

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

log = logging.getLogger("releasestation")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; -c, -v and -q work before or after any command (options)."""
    parser = CommandParser(prog="releasestation", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def setup_logging(verbose: int, default: int | str = logging.WARNING) -> None:
    """Log to stderr, at the levels `set_log_levels` gives."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    try:
        return int(args.handler(args) or OK)
    except ConfigError as exc:
        print("releasestation: config error:\n  " + "\n  ".join(exc.problems), file=sys.stderr)
        return USAGE
    except (DirectoryError, PrintServerError, StoreError) as exc:
        print(f"releasestation: {exc}", file=sys.stderr)
        return UNAVAILABLE
    except ReleaseStationError as exc:
        print(f"releasestation: {exc}", file=sys.stderr)
        return FAILED
    except KeyboardInterrupt:
        return FAILED
    finally:
        from releasestation.cli.common import close_apps

        close_apps()
