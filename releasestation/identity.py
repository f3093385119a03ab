# SPDX-License-Identifier: GPL-3.0-or-later
"""Who is at the reader: a card or PIN to a user, or a reason for saying no.

A card is looked up first among the store's card assignments (local users, visitors, and
cards bound to directory users), then in the directory. A user a card was bound to must
still be found, enabled, in the directory: a disabled account releases nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from readers import Swipe
from releasestation.directory import LocalDirectory, User
from releasestation.directory.local import LOCAL_SOURCES, to_user
from releasestation.store import users as store_users

if TYPE_CHECKING:
    from releasestation.app import App

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Identified:
    """The outcome of a lookup: `user` is None when denied, with `reason` saying why."""

    method: str  # card | pin | cac
    user: User | None = None
    reason: str = ""


class Identity:
    def __init__(self, app: App):
        self.app = app
        self.pin_max_digits = app.config.station.pin_max_digits

    def method_of(self, swipe: Swipe) -> str:
        """A keypad entry, or a short all-digit value when PINs are on, is a PIN."""
        if swipe.kind == "pin":
            return "pin"
        value = swipe.value
        if self.pin_max_digits and value.isdigit() and len(value) <= self.pin_max_digits:
            return "pin"
        return "card"

    def identify(self, swipe: Swipe) -> Identified:
        """Raises DirectoryError/StoreError when a part cannot answer; never guesses."""
        method = self.method_of(swipe)
        if method == "pin":
            return Identified("pin", reason="PIN release is not enabled at this station")
        user = self.user_by_card(swipe.value)
        return Identified("card", user, "" if user else "unknown card")

    def user_by_card(self, number: str) -> User | None:
        with self.app.store.read() as session:
            row = store_users.user_by_card(session, self.app.hasher, number)
            bound = (row.username, row.source, row.disabled) if row is not None else None
            local = to_user(row) if row is not None and row.source in LOCAL_SOURCES else None
        directory = self.app.directory
        if bound is not None:
            username, _source, disabled = bound
            if disabled:
                return None
            if local is not None:
                return local
            return directory.user_by_name(username)
        if isinstance(directory, LocalDirectory):
            return None
        return directory.user_by_card(number)
