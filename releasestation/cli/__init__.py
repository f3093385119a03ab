# SPDX-License-Identifier: GPL-3.0-or-later
"""The `releasestation` command: the daemon and the admin's tools.

Each module in COMMANDS adds its sub-commands with `register(subparsers)`; a handler takes
the parsed arguments and returns an exit code. Exit codes are for cron and systemd:
0 done, 1 failed or problems found, 2 bad usage or config, 3 a service is unreachable.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from releasestation import __version__
from releasestation.cli.logs import OWN_LOGGERS, VERBOSITY, set_log_levels, setup_logging
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
    "releasestation.cli.backup",
    "releasestation.cli.web",
    "releasestation.cli.gateway",
    "releasestation.cli.mailprint",
]

__all__ = [
    "COMMANDS",
    "FAILED",
    "OK",
    "OWN_LOGGERS",
    "UNAVAILABLE",
    "USAGE",
    "VERBOSITY",
    "build_parser",
    "main",
    "set_log_levels",
    "setup_logging",
]


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; -c, -v and -q work before or after any command (options)."""
    parser = CommandParser(prog="releasestation", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


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
