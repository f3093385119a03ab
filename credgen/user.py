# SPDX-License-Identifier: GPL-3.0-or-later
"""`credgen user NAME`: one user's credentials, and the visitor case.

The work is the station's own (releasestation.credentials.one_user: the daemon issues a
visitor's PIN with it when their job arrives); this is the command's way in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

from releasestation.credentials.one_user import warn_unusable_pins
from releasestation.credentials.results import UserResult
from releasestation.store.models import utcnow

if TYPE_CHECKING:
    from releasestation.app import App


def run_user(
    app: App,
    username: str,
    email: str | None = None,
    dry_run: bool = False,
    *,
    clock: Callable[[], dt.datetime] = utcnow,
) -> UserResult:
    """Issue what the policy asks for to one user (creating a visitor when allowed); see
    releasestation.credentials.one_user.UserIssuer.issue."""
    warn_unusable_pins(app.config)
    return app.user_issuer.issue(username, email, dry_run, clock=clock)
