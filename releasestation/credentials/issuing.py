# SPDX-License-Identifier: GPL-3.0-or-later
"""Issuing credentials inside a store transaction: user rows, codes drawn, digests written.

`Issuer.decide()` reads (and, when asked, creates) the users' rows and credentials for a
group of people in one query; `Issuer.issue()` draws the codes and writes them, in bulk.
Both work on table rows rather than ORM objects: a batch handles 100,000 users. The caller
owns the transaction, so it decides what is committed together (one user:
releasestation.credentials.one_user; a batch: credgen.batch). Values live only in the
returned `Issued`, for the mail, never in logs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Row, Table, null, select
from sqlalchemy.orm import Session

from releasestation.audit import Event
from releasestation.credentials import plan, records
from releasestation.credentials.codes import Drawer, hash_password, new_password
from releasestation.credentials.models import Credential
from releasestation.credentials.settings import CredgenSettings
from releasestation.directory import User
from releasestation.secret import Hasher
from releasestation.store import bulk
from releasestation.store import users as store_users
from releasestation.store.models import User as UserRow

USERS = cast(Table, UserRow.__table__)
CREDS = cast(Table, Credential.__table__)
# The credential columns credgen reads and writes (all but the key).
COLUMNS = tuple(c.name for c in CREDS.columns if c.name != "user_id")
# What credgen knows of a user: their row joined with their credentials ...
_USER = (USERS.c.id, USERS.c.username, USERS.c.username_key, USERS.c.disabled, USERS.c.cost_center)
STATE = (*_USER, CREDS.c.user_id.label("cred_user_id"), *(CREDS.c[c] for c in COLUMNS))
# ... and the same shape for a user row just added (no credentials yet).
NEW_STATE = (*_USER, *(null().label(c) for c in ("cred_user_id", *COLUMNS)))


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
    """For one person: their user row joined with their credentials (`state`, None when
    they have no row yet), what they need, or why to skip them."""

    person: Person
    state: Row[Any] | None
    needs: plan.Needs
    skip: str = ""
    created: bool = False

    @property
    def cred(self) -> Row[Any] | None:
        """The credential columns of `state`, when the user has a credentials row."""
        state = self.state
        return state if state is not None and state.cred_user_id is not None else None


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
        self.created = 0  # user rows added so far
        blocklist = settings.pin_blocklist
        self.drawers = {
            "pin": Drawer(hasher, "pin", settings.pin_length, blocklist),
            "cac": Drawer(hasher, "cac", settings.puk_length, blocklist),
        }

    # -- deciding -----------------------------------------------------------------------
    def decide(self, session: Session, people: Sequence[Person], create: bool) -> list[Decision]:
        """Decisions for `people` from one query; with `create`, missing user rows are added
        and cost centers updated, in bulk, in the caller's transaction."""
        states = _states(session, [p.key for p in people])
        created: set[str] = set()
        if create:
            missing = [p for p in people if p.key not in states]
            if missing:
                now = self.clock()
                rows = [_new_user(p, now) for p in missing]
                new = bulk.insert_rows(session, USERS, rows, returning=NEW_STATE)
                states.update((row.username_key, row) for row in new)
                self.created += len(missing)
                created = {p.key for p in missing}
            self._cost_centers(session, states.values())
        now = self.clock()
        return [self._decide(p, states.get(p.key), now, p.key in created) for p in people]

    def _decide(self, person: Person, state: Row | None, now, created: bool) -> Decision:
        decision = Decision(person, state, plan.Needs(), created=created)
        if state is not None and state.disabled:
            decision.skip = "disabled in the store"
        elif plan.too_recent(self.settings, decision.cred, now):
            decision.skip = "issued recently"
        else:
            decision.needs = plan.needs(self.settings, decision.cred, now)
        return decision

    def _cost_centers(self, session: Session, states) -> None:
        changes = []
        for state in states:
            wanted = plan.cost_center(self.settings, state.username, state.cost_center)
            if wanted != state.cost_center:
                changes.append({"id": state.id, "cost_center": wanted})
        bulk.update_rows(session, USERS, "id", changes)

    # -- issuing ------------------------------------------------------------------------
    def issue(self, session: Session, decisions: Sequence[Decision]) -> list[Issued]:
        """Draw and store what each decision needs (made with create=True), in bulk;
        returns the values for the mail, in order."""
        now = self.clock()
        inserts, updates, issued = [], [], []
        for decision in decisions:
            state = decision.state
            if state is None:
                raise ValueError("issue() needs decisions made with create=True")
            values, one = self._issue_one(session, state, decision, now)
            issued.append(one)
            if decision.cred is None:
                inserts.append({"user_id": state.id, **values})
            else:
                updates.append({"user_id": state.id, **values})
        bulk.insert_rows(session, CREDS, inserts)
        bulk.update_rows(session, CREDS, "user_id", updates)
        return issued

    def _issue_one(
        self, session: Session, state: Row[Any], decision: Decision, now: dt.datetime
    ) -> tuple[dict[str, Any], Issued]:
        """The credential row's new values, and what to tell the user."""
        settings, needs, cred = self.settings, decision.needs, decision.cred
        values: dict[str, Any] = dict.fromkeys(COLUMNS)
        if cred is not None:
            values.update({c: getattr(cred, c) for c in COLUMNS})
        issued = Issued(state.username, decision.person.email, needs.kinds())
        if needs.pin == "new":
            issued.pin, values["pin_digest"] = self._draw(session, "pin")
            values["pin_issued_at"] = now
            values["pin_expires_at"] = records.expiry(now, settings.pin_expiration_days)
        elif needs.pin == "extend":
            values["pin_expires_at"] = records.expiry(now, settings.pin_expiration_days)
        issued.pin_expires_at = values["pin_expires_at"]
        if needs.cac:
            issued.cac, values["cac_digest"] = self._draw(session, "cac")
            values["cac_issued_at"], values["cac_used_at"] = now, None
            values["cac_expires_at"] = records.expiry(now, settings.puk_expiration_days)
        if needs.password:
            issued.password = new_password(settings.password_length, settings.password_chars)
            values["password_hash"] = hash_password(issued.password)
            values["password_set_at"] = now
        values["issued_at"] = now
        return values, issued

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


def _states(session: Session, keys: Sequence[str]) -> dict[str, Row]:
    """username_key -> the user's row joined with their credentials (if any)."""
    query = (
        select(*STATE)
        .select_from(USERS.outerjoin(CREDS, CREDS.c.user_id == USERS.c.id))
        .where(bulk.matching(session, USERS.c.username_key, keys))
    )
    return {row.username_key: row for row in session.execute(query)}


def _new_user(person: Person, now: dt.datetime) -> dict:
    user = person.user
    return {
        "username": user.username.strip(),
        "username_key": person.key,
        "display_name": user.display_name,
        "email": user.email or person.email,
        "source": user.source,
        "cost_center": user.cost_center,
        "disabled": False,
        "created_at": now,
    }
