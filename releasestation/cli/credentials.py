# SPDX-License-Identifier: GPL-3.0-or-later
"""`releasestation pin set|reset|remove USER`: an admin's hand on one user's PIN.

`set` takes the PIN from the command line, from stdin (`-`), or asks for it on a terminal;
`reset` draws a new random PIN and prints it once; `remove` takes the PIN away. Each is
audited (never with the PIN). PINs expire after `[credgen] pin_expiration_days`.
"""

from __future__ import annotations

import argparse
import logging

from releasestation.app import App
from releasestation.audit import Event
from releasestation.cli import OK
from releasestation.cli.common import load_app, secret_arg
from releasestation.credentials import records
from releasestation.credentials.codes import Drawer, is_trivial
from releasestation.directory import User
from releasestation.directory.local import LOCAL_SOURCES, to_user
from releasestation.errors import ReleaseStationError
from releasestation.store import models
from releasestation.store import users as store_users
from releasestation.store.models import utcnow

log = logging.getLogger(__name__)

LOCK = records.LOCK


def register(sub) -> None:
    pin = sub.add_parser("pin", help="set, reset or remove a user's PIN").add_subparsers(
        dest="action", required=True
    )
    p = pin.add_parser("set", help="give a user the PIN you choose ('-' reads it from stdin)")
    p.add_argument("user")
    p.add_argument("pin", nargs="?", default="-")
    p.set_defaults(handler=cmd_pin_set)
    p = pin.add_parser("reset", help="give a user a new random PIN, printed once")
    p.add_argument("user")
    p.set_defaults(handler=cmd_pin_reset)
    p = pin.add_parser("remove", help="take a user's PIN away")
    p.add_argument("user")
    p.set_defaults(handler=cmd_pin_remove)


def cmd_pin_set(args: argparse.Namespace) -> int:
    app = load_app(args)
    pin = secret_arg(args.pin, "new PIN: ")
    check_chosen_pin(app, pin)
    name = _write_pin(app, args.user, lambda session: pin, "pin-set")
    print(f"PIN set for {name}")
    return OK


def cmd_pin_reset(args: argparse.Namespace) -> int:
    app = load_app(args)
    settings = app.config.credgen
    drawer = Drawer(app.hasher, "pin", settings.pin_length, settings.pin_blocklist)
    drawn: list[str] = []

    def draw(session) -> str:
        pin, _digest = drawer.draw(records.taken_in(session, "pin"))
        drawn.append(pin)
        return pin

    name = _write_pin(app, args.user, draw, "pin-reset")
    print(f"new PIN for {name}: {drawn[-1]}")
    return OK


def cmd_pin_remove(args: argparse.Namespace) -> int:
    app = load_app(args)
    user = resolve(app, args.user)
    with app.store.write() as session:
        app.store.lock(session, LOCK)
        row = _row(app, session, user)
        if not records.remove_pin(session, row):
            raise ReleaseStationError(f"{row.username} has no PIN")
        app.audit.record_in(session, [Event("credential", "pin-removed", "admin", row.username)])
    print(f"PIN removed from {user.username}")
    return OK


def check_chosen_pin(app: App, pin: str) -> None:
    """ReleaseStationError (never showing the PIN) when `pin` is not a good PIN."""
    settings = app.config.credgen
    if not pin.isdigit() or not 4 <= len(pin) <= 12:
        raise ReleaseStationError("a PIN is 4 to 12 digits")
    if is_trivial(pin, settings.pin_blocklist):
        raise ReleaseStationError("that PIN is too easy to guess (repeated digits, a run, blocked)")
    digits = app.config.station.pin_max_digits
    if len(pin) > digits:
        log.warning("[station] pin_max_digits = %d: this PIN works only on PIN pads", digits)


def resolve(app: App, name: str) -> User:
    """The directory user called `name`, else the store's local or visitor user."""
    user = app.directory.user_by_name(name)
    if user is not None:
        return user
    with app.store.read() as session:
        row = store_users.find_user(session, name)
        if row is not None and row.source in LOCAL_SOURCES:
            return to_user(row)
    raise ReleaseStationError(f"no user {name!r} in the directory or the store")


def _row(app: App, session, user: User) -> models.User:
    return store_users.ensure_user(session, user.username, user.source, email=user.email)


def _write_pin(app: App, name: str, make_pin, outcome: str) -> str:
    user = resolve(app, name)
    days, hasher = app.config.credgen.pin_expiration_days, app.hasher
    with app.store.write() as session:
        app.store.lock(session, LOCK)
        row = _row(app, session, user)
        records.set_pin(session, hasher, row, make_pin(session), utcnow(), days)
        app.audit.record_in(session, [Event("credential", outcome, "admin", row.username)])
    return user.username
