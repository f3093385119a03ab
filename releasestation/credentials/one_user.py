# SPDX-License-Identifier: GPL-3.0-or-later
"""One user's credentials, and the visitor case: `UserIssuer`, `issue_one`.

The name is looked up in the directory, then among the store's users. An unknown name that
matches `allowed_usernames` becomes a local visitor (source "visitor"), created in the same
transaction as their credentials, so a failed mail leaves no visitor behind, and mailed at
the address given, else at the name when it is an address. `credgen user NAME` and the
daemon, when a visitor's job arrives (releasestation.lifecycle.visitors), both use it;
`credgen batch` issues user by user with `issue_one` when mail is on.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy.exc import OperationalError

from releasestation.credentials import plan, records
from releasestation.credentials.codes import check_pin_length
from releasestation.credentials.issuing import Decision, Issuer, Person
from releasestation.credentials.mail import (
    Mailer,
    MailError,
    MailServerError,
    credentials_message,
)
from releasestation.credentials.results import UserResult
from releasestation.credentials.transact import in_transaction
from releasestation.directory import User
from releasestation.directory.local import LOCAL_SOURCES, to_user
from releasestation.errors import StoreError
from releasestation.store import users as store_users
from releasestation.store.models import utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from releasestation.audit import Audit
    from releasestation.config import Config
    from releasestation.credentials.settings import CredgenSettings
    from releasestation.directory import Directory
    from releasestation.secret import Hasher
    from releasestation.store import Store

log = logging.getLogger(__name__)

MAX_NAME = 256
ADDRESS = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class UserIssuer:
    """Issues what the `[credgen]` policy (`settings`) asks for to one user at a time."""

    def __init__(
        self,
        settings: CredgenSettings,
        store: Store,
        hasher: Hasher,
        audit: Audit,
        directory: Directory,
    ):
        self.settings = settings
        self.store = store
        self.hasher = hasher
        self.audit = audit
        self.directory = directory

    def issue(
        self,
        username: str,
        email: str | None = None,
        dry_run: bool = False,
        *,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> UserResult:
        """Issue what the policy asks for to one user (creating a visitor when allowed).

        Per-user outcomes, mail failures included, are in the result; ConfigError,
        DirectoryError and StoreError are raised when the run cannot work at all.
        """
        settings = self.settings
        name = username.strip()
        if not name or len(name) > MAX_NAME or any(c in name for c in "\r\n\0"):
            return UserResult(username, "failed", reason="not a valid user name")
        user, problem = self.find(name)
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
        self._check_space(person)
        issuer = Issuer(settings, self.hasher, clock)
        if dry_run:
            with self.store.read() as session:
                [decision] = issuer.decide(session, [person], create=False)
            return outcome(decision, dry_run=True)
        if not settings.email_notifications:
            return self.issue_one(issuer, person, None)
        with Mailer(settings) as mailer:
            try:
                return self.issue_one(issuer, person, mailer)
            except MailServerError as exc:
                return UserResult(name, "failed", reason=str(exc), email=person.email)

    def find(self, name: str) -> tuple[User | None, str]:
        """(the user, "") from the directory or the store; (None, "") when unknown;
        (None, why) for a name the store knows but that may not get credentials."""
        user = self.directory.user_by_name(name)
        if user is not None:
            return user, ""
        with self.store.read() as session:
            row = store_users.find_user(session, name)
            if row is None:
                return None, ""
            if row.source not in LOCAL_SOURCES:
                return None, f"{row.username} is no longer in the directory"
            if row.disabled:
                return None, f"{row.username} is disabled"
            return to_user(row), ""

    def _check_space(self, person: Person) -> None:
        if self.settings.generate_pin:
            with self.store.read() as session:
                holders = records.pin_holders(session)
            check_pin_length(self.settings.pin_length, len(holders | {person.key}))

    def issue_one(self, issuer: Issuer, person: Person, mailer: Mailer | None) -> UserResult:
        """One user in one transaction; with `mailer`, the mail is sent before the commit.

        Raised, after the rollback: MailServerError (nothing more can be sent) and a
        StoreError of a database that stays away. Every other failure is the user's result."""
        try:
            return in_transaction(
                self.store,
                self.settings,
                issuer,
                lambda session: self._write_one(issuer, session, person, mailer),
            )
        except MailServerError:
            raise
        except StoreError as exc:
            if outage(exc):
                raise
            return failed(person, str(exc))
        except MailError as exc:
            return failed(person, str(exc))

    def _write_one(
        self, issuer: Issuer, session: Session, person: Person, mailer: Mailer | None
    ) -> UserResult:
        [decision] = issuer.decide(session, [person], create=True)
        if decision.skip or not decision.needs:
            return outcome(decision)
        [issued] = issuer.issue(session, [decision])
        self.audit.record_in(session, [issued.event()])
        result = outcome(decision, kinds=issued.kinds)
        if mailer is None:
            result.credentials = issued
        else:
            mailer.send(credentials_message(self.settings, person.email, issued.values()))
        return result


def outage(exc: StoreError) -> bool:
    """The database itself failed (as opposed to this user's data)."""
    return isinstance(exc.__cause__, OperationalError)


def outcome(decision: Decision, dry_run: bool = False, kinds=()) -> UserResult:
    person = decision.person
    name, email = person.user.username, person.email
    created = decision.created
    if decision.skip:
        return UserResult(name, "skipped", reason=decision.skip, email=email)
    if not decision.needs:
        return UserResult(name, "current", reason="has what the policy asks for", email=email)
    if dry_run:
        return UserResult(name, "dry-run", decision.needs.kinds(), email=email)
    visitor = created and person.user.source == "visitor"
    return UserResult(name, "issued", kinds, email=email, visitor_created=visitor)


def failed(person: Person, reason: str) -> UserResult:
    log.error("%s: no credentials issued: %s", person.user.username, reason)
    return UserResult(person.user.username, "failed", reason=reason, email=person.email)


def warn_unusable_pins(config: Config) -> None:
    """Warn when `[station] pin_max_digits` was set below the PINs issued, so that they
    work on PIN pads only (left empty it follows pin_length): always when it is between 1
    and pin_length - 1; when it is 0 (PIN pads only, on purpose) only if the file names
    card readers and no PIN pad."""
    digits = config.station.pin_max_digits
    length = config.credgen.pin_length
    if not config.credgen.generate_pin or digits >= length:
        return
    kinds = {r.type for r in config.readers.values() if r.enabled}
    if digits == 0 and (not kinds or "keypad" in kinds):
        return
    where = "on PIN pads only" if "keypad" in kinds else "nowhere: no reader here is a PIN pad"
    log.warning(
        "[station] pin_max_digits = %d is below pin_length = %d: these PINs can be typed %s;"
        " remove pin_max_digits (it then follows pin_length) to take them from card"
        " terminals too",
        digits,
        length,
        where,
    )
