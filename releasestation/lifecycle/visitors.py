# SPDX-License-Identifier: GPL-3.0-or-later
"""Visitors on arrival: a held job of an unknown owner brings them a PIN by mail.

When a new held job's owner (after owner resolution) is not a known user but matches
`[credgen] allowed_usernames`, the credential generator runs for that name in one-user mode:
it creates the visitor and mails their PIN (to the name itself when the name is an e-mail
address, else as `[credgen]` says). A known visitor is served again, so the generator's
policy can replace an expired PIN; `min_seconds_between_runs` keeps a mail with many
attachments from sending many PINs. Directory and local users are left to `credgen batch`.

Off when `[station] visitors_on_arrival = no` or `allowed_usernames` is empty (an empty
pattern would make everyone who can print a visitor).
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from releasestation.owner_names import fold
from releasestation.store import users as store_users

if TYPE_CHECKING:
    from credgen import UserResult
    from releasestation.app import App

log = logging.getLogger(__name__)

ADDRESS = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class Visitors:
    def __init__(self, app: App):
        self.app = app
        self.allowed = app.config.credgen.allowed_usernames
        self.enabled = app.config.station.visitors_on_arrival and bool(self.allowed)

    def wanted(self, owner: str) -> bool:
        """True when `owner` is a visitor, or unknown and allowed to become one. A name in
        the station's own domain or realm (`alice@corp.example.org`) is its user's, when
        that user is known, and never makes a visitor."""
        name = owner.strip()
        if not self.enabled or not name or re.fullmatch(self.allowed, name) is None:
            return False
        base = self.app.matcher.base_name(name)
        if base is not None and base != fold(name) and self._known(base):
            return False
        with self.app.store.read() as session:
            row = store_users.find_user(session, name)
            if row is not None:
                return row.source == "visitor" and not row.disabled
        return self.app.directory.user_by_name(name) is None

    def _known(self, name: str) -> bool:
        with self.app.store.read() as session:
            if store_users.find_user(session, name) is not None:
                return True
        return self.app.directory.user_by_name(name) is not None

    def arrived(self, owner: str) -> UserResult | None:
        """Run the credential generator for `owner` if `wanted`; its result, else None."""
        if not self.wanted(owner):
            return None
        # The generator is its own package (it builds on this one); imported on first use.
        from credgen import run_user

        name = owner.strip()
        result = run_user(self.app, name, email=name if ADDRESS.fullmatch(name) else None)
        if result.status == "failed":
            log.error("visitor %s: no credentials: %s", name, result.reason)
        elif result.issued:
            log.info("visitor %s: %s mailed", name, ", ".join(result.issued))
        else:
            log.debug("visitor %s: %s %s", name, result.status, result.reason)
        return result
