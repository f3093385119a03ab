# SPDX-License-Identifier: GPL-3.0-or-later
"""Issuing credentials inside a store transaction: user rows, codes drawn, digests written.

`Issuer.decide()` reads (and, when asked, creates) the users' rows and credentials for a
group of people in one go; `Issuer.issue()` draws the codes and writes them for one of them.
The caller owns the transaction, so it decides what is committed together (see
credgen.batch). Values live only in the returned `Issued`, for the mail, never in logs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from credgen import plan
from releasestation.audit import Event
from releasestation.credentials import records
from releasestation.credentials.codes import Drawer, hash_password, new_password
from releasestation.credentials.models import Credential
from releasestation.credentials.settings import CredgenSettings
from releasestation.directory import User
from releasestation.secret import Hasher
from releasestation.store import users as store_users
from releasestation.store.models import User as UserRow


@dataclass(frozen=True)
class Person:
    """Someone credgen works on: the user and the address their mail goes to ("" none)."""

    user: User
    email: str = ""

    @property
    def key(self) -> str:
        return store_users.key(self.user.username)


@dataclass
class Decision:
    """For one person: their store row and credentials, what they need, or why to skip."""

    person: Person
    row: UserRow | None
    cred: Credential | None
    needs: plan.Needs
    skip: str = ""
    created: bool = False


@dataclass
class Issued:
    """What was issued to one user. The values are for the mail only; repr hides them."""

    username: str
    email: str
    kinds: tuple[str, ...]
    pin: str | None = field(default=None, repr=False)
    cac: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    pin_expires_at: dt.datetime | None = None

    def values(self) -> dict[int, str]:
        """The mail placeholders that have a value: {0} … {4}."""
        out = {3: self.username}
        for index, value in enumerate((self.pin, self.cac, self.password)):
            if value is not None:
                out[index] = value
        told = "pin" in self.kinds or "pin-extended" in self.kinds
        if self.pin_expires_at is not None and told:
            out[4] = self.pin_expires_at.date().isoformat()
        return out

    def event(self) -> Event:
        outcome = "extended" if self.kinds == ("pin-extended",) else "issued"
        return Event("credential", outcome, "credgen", self.username, detail=", ".join(self.kinds))


class Issuer:
    """Draws and stores credentials. With `used` (digests in use, by kind) it draws from
    memory, as a batch does; without, it asks the database, as a single user does."""

    def __init__(
        self,
        settings: CredgenSettings,
        hasher: Hasher,
        clock: Callable[[], dt.datetime],
        used: dict[str, set[str]] | None = None,
    ):
        self.settings = settings
        self.hasher = hasher
        self.clock = clock
        self.used = used
        blocklist = settings.pin_blocklist
        self.drawers = {
            "pin": Drawer(hasher, "pin", settings.pin_length, blocklist),
            "cac": Drawer(hasher, "cac", settings.puk_length, blocklist),
        }

    # -- deciding -----------------------------------------------------------------------
    def decide(self, session: Session, people: Sequence[Person], create: bool) -> list[Decision]:
        """Decisions for `people` in two queries; with `create`, missing user rows are added
        and cost centers updated (in the caller's transaction)."""
        rows = self._rows(session, people)
        if create:
            created = self._create_missing(session, people, rows)
        ids = [row.id for row in rows.values()]
        creds = {
            c.user_id: c
            for c in session.scalars(select(Credential).where(Credential.user_id.in_(ids)))
        }
        now = self.clock()
        decisions = []
        for person in people:
            row = rows.get(person.key)
            cred = creds.get(row.id) if row is not None else None
            decision = self._decide(person, row, cred, now)
            if create and row is not None:
                decision.created = person.key in created
                self._cost_center(row)
            decisions.append(decision)
        return decisions

    def _decide(self, person, row, cred, now) -> Decision:
        settings = self.settings
        if row is not None and row.disabled:
            return Decision(person, row, cred, plan.Needs(), skip="disabled in the store")
        if plan.too_recent(settings, cred, now):
            return Decision(person, row, cred, plan.Needs(), skip="issued recently")
        return Decision(person, row, cred, plan.needs(settings, cred, now))

    @staticmethod
    def _rows(session: Session, people: Sequence[Person]) -> dict[str, UserRow]:
        keys = [p.key for p in people]
        query = select(UserRow).where(UserRow.username_key.in_(keys))
        return {row.username_key: row for row in session.scalars(query)}

    @staticmethod
    def _create_missing(session, people: Sequence[Person], rows: dict[str, UserRow]) -> set[str]:
        created = set()
        for person in people:
            if person.key in rows:
                continue
            user = person.user
            row = UserRow(
                username=user.username.strip(),
                username_key=person.key,
                display_name=user.display_name,
                email=user.email or person.email,
                source=user.source,
                cost_center=user.cost_center,
            )
            session.add(row)
            rows[person.key] = row
            created.add(person.key)
        if created:
            session.flush()
        return created

    def _cost_center(self, row: UserRow) -> None:
        wanted = plan.cost_center(self.settings, row.username, row.cost_center)
        if wanted != row.cost_center:
            row.cost_center = wanted

    # -- issuing ------------------------------------------------------------------------
    def issue(self, session: Session, decision: Decision) -> Issued:
        """Draw and store what `decision` needs; returns the values for the mail."""
        if decision.row is None:
            raise ValueError("issue() needs a decision made with create=True")
        settings, needs, now = self.settings, decision.needs, self.clock()
        cred = decision.cred
        if cred is None:
            cred = decision.cred = Credential(user_id=decision.row.id)
            session.add(cred)
        issued = Issued(decision.row.username, decision.person.email, needs.kinds())
        if needs.pin == "new":
            issued.pin, cred.pin_digest = self._draw(session, "pin")
            cred.pin_issued_at = now
            cred.pin_expires_at = records.expiry(now, settings.pin_expiration_days)
        elif needs.pin == "extend":
            cred.pin_expires_at = records.expiry(now, settings.pin_expiration_days)
        issued.pin_expires_at = cred.pin_expires_at
        if needs.cac:
            issued.cac, cred.cac_digest = self._draw(session, "cac")
            cred.cac_issued_at, cred.cac_used_at = now, None
            cred.cac_expires_at = records.expiry(now, settings.puk_expiration_days)
        if needs.password:
            issued.password = new_password(settings.password_length, settings.password_chars)
            cred.password_hash = hash_password(issued.password)
            cred.password_set_at = now
        cred.issued_at = now
        return issued

    def _draw(self, session: Session, kind: str) -> tuple[str, str]:
        if self.used is None:
            return self.drawers[kind].draw(records.taken_in(session, kind))
        used = self.used.setdefault(kind, set())
        code, digest = self.drawers[kind].draw(used.__contains__)
        used.add(digest)
        return code, digest

    def reload_used(self, session: Session) -> None:
        """Re-read the digests in use (after another writer took one we drew)."""
        if self.used is not None:
            self.used = {kind: records.digests_in_use(session, kind) for kind in ("pin", "cac")}
