# SPDX-License-Identifier: GPL-3.0-or-later
"""A user's cards and PIN, as an admin handles them in the portal.

Cards are stored as the store keeps every card (releasestation.store.users: the keyed
digest, and the last digits for display); a number typed here is never shown, logged or
audited beyond those last digits. Adding and removing a card are audited (`credential`,
`card-added` / `card-removed`, way "web", the admin in the detail). A PIN reset is issued
and mailed by the one-user issuer credgen uses (releasestation.credentials.one_user), with
the `[credgen]` policy told to draw a new PIN now: the mail goes out before the new PIN is
committed, so a failed mail leaves the old PIN in place. The issuer audits what it issued
(as credgen's); a second row says which admin asked (`pin-reset`, way "web").
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from releasestation.audit import Event
from releasestation.credentials import plan
from releasestation.credentials.one_user import UserIssuer
from releasestation.directory.local import LOCAL_SOURCES, to_user
from releasestation.errors import ConflictError
from releasestation.secret import last_chars
from releasestation.store import users as store_users
from releasestation.store.models import Card
from releasestation.web.portal import WEB, Refused

if TYPE_CHECKING:
    from releasestation.directory import User
    from releasestation.web.parts import WebParts

log = logging.getLogger(__name__)

MAX_CARD = 64


@dataclass(frozen=True)
class CardView:
    id: int
    last: str
    origin: str
    added: dt.datetime

    def as_json(self) -> dict[str, object]:
        added = self.added.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        return {"id": self.id, "last": self.last, "origin": self.origin, "added": added}


class Accounts:
    """Cards and PIN of one user at a time, for an admin (`by`)."""

    def __init__(self, parts: WebParts):
        self.parts = parts

    def user(self, name: str) -> User:
        """The directory's user called `name`, else the store's local or visitor user;
        Refused 404 when there is none."""
        name = name.strip()
        found = self.parts.directory.user_by_name(name) if name else None
        if found is not None:
            return found
        with self.parts.store.read() as session:
            row = store_users.find_user(session, name) if name else None
            if row is not None and row.source in LOCAL_SOURCES:
                return to_user(row)
        raise Refused(404, f"No user {name[:64]!r} in the directory or the station's store.")

    def cards(self, user: User) -> list[CardView]:
        with self.parts.store.read() as session:
            row = store_users.find_user(session, user.username)
            if row is None:
                return []
            query = select(Card.id, Card.last4, Card.origin, Card.created_at).where(
                Card.user_id == row.id
            )
            return [CardView(*values) for values in session.execute(query.order_by(Card.id))]

    def add_card(self, user: User, number: str, by: str) -> str:
        """Bind card `number` to `user`; the last digits shown. Refused 409 when the card
        is someone's already (which is not said)."""
        number = number.strip()
        if not number or len(number) > MAX_CARD or not number.isprintable():
            raise Refused(400, "Card number: the number the reader reads, as printed on it.")
        store, hasher = self.parts.store, self.parts.hasher
        try:
            with store.write() as session:
                row = store_users.ensure_user(session, user.username, user.source,
                                              email=user.email)  # fmt: skip
                card = store_users.add_card(session, hasher, row, number, origin="admin")
                self.parts.audit.record_in(session, [self._event(user, "card-added", by)])
                last = card.last4
        except ConflictError:
            taken = f"The card ending {last_chars(number)} is assigned already."
            raise Refused(409, taken) from None
        log.info("web: %s bound a card ending %s to %s", by, last, user.username)
        return last

    def remove_card(self, user: User, card_id: int, by: str) -> str:
        """Unbind `user`'s card `card_id`; its last digits. Refused 404 when `user` has no
        such card."""
        with self.parts.store.write() as session:
            row = store_users.find_user(session, user.username)
            card = session.get(Card, card_id) if row is not None else None
            if card is None or row is None or card.user_id != row.id:
                raise Refused(404, f"{user.username} has no card {card_id}.")
            last = card.last4
            session.delete(card)
            self.parts.audit.record_in(session, [self._event(user, "card-removed", by)])
        log.info("web: %s removed the card ending %s of %s", by, last, user.username)
        return last

    def reset_pin(self, user: User, by: str) -> str:
        """A new PIN for `user`, mailed to them; the address it went to. Refused when the
        station issues no PINs or the mail cannot go."""
        settings = self.parts.credgen
        if not settings.generate_pin:
            raise Refused(409, "This station issues no PINs ([credgen] generate_pin = no).")
        if not settings.email_notifications:
            raise Refused(409, "PINs are not mailed here ([credgen] email_notifications = no).")
        if not plan.recipient(settings, user):
            raise Refused(
                409,
                f"No new PIN for {user.username}: the station knows no e-mail address to mail "
                "it to (the directory's, a local user's own, or one [credgen] "
                "email_recipient_from_username makes from the name).",
            )
        now_new = dataclasses.replace(
            settings, pin_rewrite="Always", min_seconds_between_runs=0, generate_password=False
        )
        p = self.parts
        issuer = UserIssuer(now_new, p.store, p.hasher, p.audit, p.directory)
        result = issuer.issue(user.username)
        if result.status != "issued":  # skipped: the [credgen] policy leaves them out
            status = 409 if result.status == "skipped" else 502
            why = result.reason or result.status
            raise Refused(status, f"No new PIN for {user.username}: {why}.")
        self.parts.audit.record(self._event(user, "pin-reset", by))  # who asked for it
        log.info("web: %s reset the PIN of %s (mailed to %s)", by, user.username, result.email)
        return result.email

    @staticmethod
    def _event(user: User, outcome: str, by: str) -> Event:
        return Event("credential", outcome, WEB, user.username, detail=f"by {by}")
