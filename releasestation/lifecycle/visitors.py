# SPDX-License-Identifier: GPL-3.0-or-later
"""Visitors on arrival: a held job of an unknown owner brings them a PIN by mail.

When a new held job's owner (after owner resolution) is not a known user but matches
`[credgen] allowed_usernames`, credentials are issued for that name as `credgen user` issues
them (releasestation.credentials.one_user, handed in as `issue`): the visitor is created and
their PIN mailed (to the name itself when the name is an e-mail
address, else as `[credgen]` says). A known visitor is served again, so the generator's
policy can replace an expired PIN; `min_seconds_between_runs` keeps a mail with many
attachments from sending many PINs. Directory and local users are left to `credgen batch`.

Off when `[station] visitors_on_arrival = no` or `allowed_usernames` is empty (an empty
pattern would make everyone who can print a visitor).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from releasestation.credentials.one_user import ADDRESS
from releasestation.owner_names import fold
from releasestation.store import users as store_users

if TYPE_CHECKING:
    from releasestation.credentials.results import UserResult
    from releasestation.directory import Directory
    from releasestation.owner_names import MatcherSource
    from releasestation.store import Store

    # Issues credentials to (name, e-mail address or None): UserIssuer.issue.
    Issue = Callable[[str, str | None], UserResult]

log = logging.getLogger(__name__)


class Visitors:
    """Serves owners matching `allowed` (`[credgen] allowed_usernames`) when `on_arrival`
    (`[station] visitors_on_arrival`): unknown to `store` and `directory`, they are issued
    credentials by `issue`."""

    def __init__(
        self,
        store: Store,
        directory: Directory,
        matcher: MatcherSource,
        allowed: str,
        on_arrival: bool,
        issue: Issue,
    ):
        self.store = store
        self.directory = directory
        self.matcher = matcher
        self.allowed = allowed
        self.enabled = on_arrival and bool(allowed)
        self.issue = issue
        self.results: Callable[[UserResult], None] | None = None  # the station's metrics

    def wanted(self, owner: str) -> bool:
        """True when `owner` is a visitor, or unknown and allowed to become one. A name in
        the station's own domain or realm (`alice@corp.example.org`) is its user's, when
        that user is known, and never makes a visitor."""
        name = owner.strip()
        if not self.enabled or not name or re.fullmatch(self.allowed, name) is None:
            return False
        base = self.matcher().base_name(name)
        if base is not None and base != fold(name) and self._known(base):
            return False
        with self.store.read() as session:
            row = store_users.find_user(session, name)
            if row is not None:
                return row.source == "visitor" and not row.disabled
        return self.directory.user_by_name(name) is None

    def _known(self, name: str) -> bool:
        with self.store.read() as session:
            if store_users.find_user(session, name) is not None:
                return True
        return self.directory.user_by_name(name) is not None

    def arrived(self, owner: str) -> UserResult | None:
        """Issue credentials to `owner` if `wanted`; the result, else None."""
        if not self.wanted(owner):
            return None
        name = owner.strip()
        result = self.issue(name, name if ADDRESS.fullmatch(name) else None)
        if self.results is not None:
            self.results(result)
        if result.status == "failed":
            log.error("visitor %s: no credentials: %s", name, result.reason)
        elif result.issued:
            log.info("visitor %s: %s mailed", name, ", ".join(result.issued))
        else:
            log.debug("visitor %s: %s %s", name, result.status, result.reason)
        return result
