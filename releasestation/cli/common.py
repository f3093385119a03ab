# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers the command modules share: loading the config into an App, reading secrets."""

from __future__ import annotations

import argparse
import getpass
import sys

from releasestation import config as config_mod
from releasestation.app import App
from releasestation.cli.logs import set_log_levels
from releasestation.errors import ReleaseStationError

_opened: list[App] = []


def close_apps() -> None:
    """Close every App the command opened (database pools, LDAP connections)."""
    while _opened:
        _opened.pop().close()


def load_app(args: argparse.Namespace, daemon: bool = False) -> App:
    """The App for `--config`. The daemon logs at the config's level; admin tools stay
    quiet (warnings and errors) unless asked for more with -v."""
    config = config_mod.load(args.config)
    if daemon:
        set_log_levels(args.verbose, config.logging.level)
    app = App(config)
    _opened.append(app)
    return app


def secret_arg(value: str, prompt: str) -> str:
    """A card number or PIN given as `-` is read from stdin (or asked for on a terminal),
    so that it stays out of shell history and the process list."""
    if value != "-":
        return value
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    return sys.stdin.readline().strip()


def new_password() -> str:
    """A new password: asked twice on a terminal, else the first line of stdin. Never an
    argument, which would leave it in shell history and the process list."""
    if sys.stdin.isatty():
        password = getpass.getpass("new password: ")
        if getpass.getpass("the same again: ") != password:
            raise ReleaseStationError("the two passwords differ")
        return password
    return sys.stdin.readline().rstrip("\r\n")


def table(rows: list[tuple], headers: tuple[str, ...]) -> str:
    cells = [tuple(str(c) for c in headers)] + [
        tuple("" if c is None else str(c) for c in r) for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )
