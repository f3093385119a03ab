# SPDX-License-Identifier: GPL-3.0-or-later
"""Who a mail's sender is: a user of the directory, a visitor, or nobody who may print.

In this order:
1. `[mailprint] allowed_senders` (a regex the whole address must match; empty: any) is
   asked of everyone: an address it does not match prints nothing.
2. A directory user (or a local user) whose e-mail address is the sender's is that user:
   the jobs are theirs, no PIN is mailed (they have their card and PIN already).
3. Anyone else is a visitor when the visitors' rules take them: the address matches
   `[credgen] allowed_usernames` (the visitor's name is their address) and
   `allowed_emails`, and it is no known user's name. The jobs are owned by the address.
4. Everyone else is refused.

The sender's address is only as good as the mail's origin: see
releasestation.mailprint.message for `require_authentication_results`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from releasestation.credentials import plan
from releasestation.directory import User

if TYPE_CHECKING:
    from releasestation.credentials.settings import CredgenSettings
    from releasestation.directory import Directory
    from releasestation.lifecycle.visitors import Visitors

NOT_ALLOWED = "this address may not print here by mail"


@dataclass(frozen=True)
class Sender:
    """Who a sender is: `user` (None when refused), whether a visitor, or why refused."""

    user: User | None
    visitor: bool = False
    refused: str = ""


class Senders:
    """Decides who senders are, from the directory, the visitors' rules and `allowed`."""

    def __init__(
        self,
        directory: Directory,
        visitors: Visitors,
        credgen: CredgenSettings,
        allowed: str,
    ):
        self.directory = directory
        self.visitors = visitors
        self.credgen = credgen
        self.allowed = allowed

    def who(self, address: str) -> Sender:
        """Who `address` is; DirectoryError when the directory cannot say."""
        if self.allowed and re.fullmatch(self.allowed, address, re.IGNORECASE) is None:
            return Sender(None, refused=NOT_ALLOWED)
        user = self.directory.user_by_email(address) or self.directory.user_by_name(address)
        if user is not None and user.source != "visitor":
            return Sender(user)
        if not plan.email_allowed(self.credgen, address) or not self.visitors.wanted(address):
            return Sender(None, refused=NOT_ALLOWED)
        visitor = user or User(address, display_name=address, email=address, source="visitor")
        return Sender(visitor, visitor=True)
