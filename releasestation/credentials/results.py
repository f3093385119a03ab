# SPDX-License-Identifier: GPL-3.0-or-later
"""What issuing did for one user (`UserResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from releasestation.credentials.issuing import Issued


@dataclass
class UserResult:
    """One user's outcome. `status`: issued | current (had all the policy asks for) |
    skipped | failed | dry-run (would issue `issued`). `credentials` holds the values only
    when they were not mailed (mail off, one user)."""

    username: str
    status: str
    issued: tuple[str, ...] = ()
    reason: str = ""
    email: str = ""
    visitor_created: bool = False
    credentials: Issued | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.status != "failed"
