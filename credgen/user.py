# SPDX-License-Identifier: GPL-3.0-or-later
"""`credgen user NAME`: one user's credentials, and the visitor case.

The name is looked up in the directory, then among the store's users. An unknown name that
matches `allowed_usernames` becomes a local visitor (source "visitor"), created in the same
transaction as their credentials, so a failed mail leaves no visitor behind, and mailed at
the address given, else at the name when it is an address. The daemon calls `run_user` when
a visitor's job arrives.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

from credgen import plan
from credgen.batch import issue_one, outcome, warn_unusable_pins
from credgen.issue import Issuer, Person
from credgen.mail import Mailer, MailServerError
from credgen.results import UserResult
from releasestation.credentials import records
from releasestation.credentials.codes import check_pin_length
from releasestation.directory import User
from releasestation.directory.local import LOCAL_SOURCES, to_user
from releasestation.lifecycle.visitors import ADDRESS
from releasestation.store import users as store_users
from releasestation.store.models import utcnow

if TYPE_CHECKING:
    from releasestation.app import App

MAX_NAME = 256


def run_user(
    app: App,
    username: str,
    email: str | None = None,
    dry_run: bool = False,
    *,
    clock: Callable[[], dt.datetime] = utcnow,
) -> UserResult:
    """Issue what the policy asks for to one user (creating a visitor when allowed).

    Per-user outcomes, mail failures included, are in the result; ConfigError, DirectoryError
    and StoreError are raised when the run cannot work at all.
    """
    settings = app.config.credgen
    name = username.strip()
    if not name or len(name) > MAX_NAME or any(c in name for c in "\r\n\0"):
        return UserResult(username, "failed", reason="not a valid user name")
    user, problem = find(app, name)
    if problem:
        return UserResult(name, "failed", reason=problem)
    if user is None:  # a new visitor: a name that is an address is where their mail goes
        address = (email or "").strip() or (name if ADDRESS.fullmatch(name) else "")
        user = User(name, email=address, source="visitor")
    if not plan.name_allowed(settings, user.username):
        if user.source == "visitor":
            why = "no such user, and the name does not match allowed_usernames"
            return UserResult(name, "failed", reason=why)
        return UserResult(name, "skipped", reason="name does not match allowed_usernames")
    person = Person(user, plan.recipient(settings, user, email))
    if not plan.email_allowed(settings, person.email):
        return UserResult(name, "skipped", reason="address does not match allowed_emails")
    if settings.email_notifications and not person.email:
        return UserResult(name, "failed", reason="no e-mail address (give one with --email)")
    _check_space(app, person)
    warn_unusable_pins(app)
    issuer = Issuer(settings, app.hasher, clock)
    if dry_run:
        with app.store.read() as session:
            [decision] = issuer.decide(session, [person], create=False)
        return outcome(decision, dry_run=True)
    if not settings.email_notifications:
        return issue_one(app, issuer, person, None)
    with Mailer(settings) as mailer:
        try:
            return issue_one(app, issuer, person, mailer)
        except MailServerError as exc:
            return UserResult(name, "failed", reason=str(exc), email=person.email)


def find(app: App, name: str) -> tuple[User | None, str]:
    """(the user, "") from the directory or the store; (None, "") when unknown;
    (None, why) for a name the store knows but that may not get credentials."""
    user = app.directory.user_by_name(name)
    if user is not None:
        return user, ""
    with app.store.read() as session:
        row = store_users.find_user(session, name)
        if row is None:
            return None, ""
        if row.source not in LOCAL_SOURCES:
            return None, f"{row.username} is no longer in the directory"
        if row.disabled:
            return None, f"{row.username} is disabled"
        return to_user(row), ""


def _check_space(app: App, person: Person) -> None:
    settings = app.config.credgen
    if settings.generate_pin:
        with app.store.read() as session:
            holders = records.pin_holders(session)
        check_pin_length(settings.pin_length, len(holders | {person.key}))
