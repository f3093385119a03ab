# SPDX-License-Identifier: GPL-3.0-or-later
"""Deciding, without side effects, who gets what: filters, recipients, rewrite policies.

Rules, with `now` the time of the run:

- PIN (`generate_pin`): a user without a PIN gets one. Otherwise `pin_rewrite` decides:
  Never keeps it, Always replaces it, Expired replaces it once expired, Extend pushes an
  expired PIN's expiry to now + `pin_expiration_days` (and says so by mail).
- Card-assignment code (`generate_puk`): issued with every new PIN, and to a user who never
  had a code or whose code expired unused. A used code is not replaced until the next new
  PIN: the user has bound a card with it.
- Password (`generate_password`): a user without one gets one; Always replaces it.
- Nothing at all for a user who got credentials less than `min_seconds_between_runs` ago.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row

from releasestation.credentials.models import Credential
from releasestation.credentials.records import is_expired
from releasestation.credentials.settings import CredgenSettings
from releasestation.directory import User

# A user's credentials: the ORM row, or a table row with the same columns; None: none yet.
Cred = Credential | Row[Any] | None


@dataclass(frozen=True)
class Needs:
    """What one user is to get: `pin` is "new", "extend" or None."""

    pin: str | None = None
    cac: bool = False
    password: bool = False

    def __bool__(self) -> bool:
        return bool(self.pin or self.cac or self.password)

    def kinds(self) -> tuple[str, ...]:
        """Names for logs, audit and results: pin | pin-extended | cac | password."""
        names = []
        if self.pin:
            names.append("pin" if self.pin == "new" else "pin-extended")
        if self.cac:
            names.append("cac")
        if self.password:
            names.append("password")
        return tuple(names)


def pin_need(settings: CredgenSettings, cred: Cred, now: dt.datetime) -> str | None:
    if not settings.generate_pin:
        return None
    if cred is None or cred.pin_digest is None:
        return "new"
    expired = is_expired(cred.pin_expires_at, now)
    policy = settings.pin_rewrite
    if policy == "Always" or (policy == "Expired" and expired):
        return "new"
    if policy == "Extend" and expired:
        return "extend"
    return None


def cac_need(settings: CredgenSettings, cred: Cred, now, new_pin: bool) -> bool:
    if not settings.generate_puk:
        return False
    if new_pin or cred is None or cred.cac_digest is None:
        return True
    return cred.cac_used_at is None and is_expired(cred.cac_expires_at, now)


def needs(settings: CredgenSettings, cred: Cred, now: dt.datetime) -> Needs:
    pin = pin_need(settings, cred, now)
    password = settings.generate_password and (
        cred is None or cred.password_hash is None or settings.rewrite_passwords
    )
    return Needs(pin, cac_need(settings, cred, now, pin == "new"), password)


def too_recent(settings: CredgenSettings, cred: Cred, now: dt.datetime) -> bool:
    """True when `cred`'s owner got credentials less than min_seconds_between_runs ago."""
    if not settings.min_seconds_between_runs or cred is None or cred.issued_at is None:
        return False
    return (now - cred.issued_at).total_seconds() < settings.min_seconds_between_runs


def recipient(settings: CredgenSettings, user: User, override: str | None = None) -> str:
    """Where to mail `user`: the address given, the directory's, or one made from the name
    by `email_recipient_from_username` (True: the name itself, when it is an address)."""
    if override:
        return override.strip()
    if user.email:
        return user.email.strip()
    address = settings.recipient_template.replace("{0}", user.username.strip())
    return address if "@" in address else ""


def name_allowed(settings: CredgenSettings, username: str) -> bool:
    return _matches(settings.allowed_usernames, username)


def email_allowed(settings: CredgenSettings, email: str) -> bool:
    return _matches(settings.allowed_emails, email)


def _matches(pattern: str, value: str) -> bool:
    """An empty pattern allows everyone; otherwise the whole value must match."""
    return not pattern or re.fullmatch(pattern, value) is not None


def cost_center(settings: CredgenSettings, username: str, current: str | None) -> str | None:
    """The cost center to keep for `username`: the first matching rule's, else `cost_center`.

    An existing cost center is replaced only with `move_to_cost_center`; without a rule or a
    default the current one stays.
    """
    if current and not settings.move_to_cost_center:
        return current
    for rule in settings.cost_center_rules:
        name = rule.apply(username)
        if name:
            return name
    return settings.cost_center or current
