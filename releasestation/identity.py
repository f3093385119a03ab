# SPDX-License-Identifier: GPL-3.0-or-later
"""Who is at the reader: a card, PIN or card-assignment code to a user, or why not.

A card is looked up first among the store's card assignments (local users, visitors, and
cards bound to directory users), then in the directory. A user a card was bound to must
still be found, enabled, in the directory: a disabled account releases nothing.

A keypad entry is a PIN. From any other reader, an all-digit value of at most `[station]
pin_max_digits` digits is a PIN when it is one, else a card number (short card numbers keep
working), and refused when it is both, for two different people (never a guess). A PIN is
looked up by its HMAC and refused when expired. An unknown card is remembered, in memory
only, for 60 s per reader: if the next entry on that reader is a valid card-assignment code
(CAC), the card is bound to the code's owner (origin "self"), the code is used up, and the
owner is identified. Wrong PINs and codes count towards the lockout of the reader and of the
site (releasestation.credentials.lockout): each entry is counted as a failure before it is
checked and taken back when right or unanswered, so readers guessing at once cannot get more
tries than the limits; a locked reader refuses PINs and codes, not cards.
The daemon audits every denial with the reason given here, which never holds the value.

When the directory cannot be reached, a card or user it resolved within `[directory]
offline_days` is served from the store (releasestation.directory.offline) and audited as
"offline" (event `identify`, outcome `offline`); anything else is refused with the reason.
The directory is always asked first: its "no such user" or "disabled" removes the kept
answer at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from readers import Swipe, clean
from releasestation.audit import Event
from releasestation.credentials import records
from releasestation.credentials.lockout import LockoutPolicy, Lockouts, Slot
from releasestation.directory import LocalDirectory, User
from releasestation.directory.local import LOCAL_SOURCES, to_user
from releasestation.directory.offline import OfflineAnswer, OfflineRecords
from releasestation.errors import ConflictError, DirectoryError, ReleaseStationError
from releasestation.secret import last_chars
from releasestation.store import models
from releasestation.store import users as store_users
from releasestation.store.models import utcnow

if TYPE_CHECKING:
    from releasestation.audit import Audit
    from releasestation.config import StationSettings
    from releasestation.directory import Directory
    from releasestation.secret import Hasher
    from releasestation.store import Store

log = logging.getLogger(__name__)

PENDING_SECONDS = 60.0
UNKNOWN_PIN = "unknown PIN"


@dataclass(frozen=True)
class Identified:
    """The outcome of a lookup: `user` is None when denied, with `reason` saying why;
    `locked` when the reader refused a PIN or code because of a lockout; `locking` when
    this failure started one."""

    method: str  # card | pin | cac
    user: User | None = None
    reason: str = ""
    locked: bool = False
    locking: bool = False


class PendingCards:
    """The last unknown card seen on each reader, for `seconds`, in memory only."""

    def __init__(self, seconds: float = PENDING_SECONDS):
        self.seconds = seconds
        self._cards: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def remember(self, reader: str, number: str, at: float) -> None:
        with self._lock:
            self._cards[reader] = (number, at)

    def take(self, reader: str, at: float) -> str | None:
        """The card remembered on `reader` if it is recent enough; forgotten either way."""
        with self._lock:
            number, seen = self._cards.pop(reader, (None, 0.0))
        if number is not None and 0 <= at - seen <= self.seconds:
            return number
        return None


class Identity:
    """Who is at `station`'s readers: cards and PINs looked up in `store` (keyed with
    `hasher`) and `directory`; `cac_length`: the digits of a card-assignment code."""

    def __init__(
        self,
        store: Store,
        hasher: Hasher,
        directory: Directory,
        audit: Audit,
        station: StationSettings,
        cac_length: int,
        clock: Callable[[], dt.datetime] = utcnow,
        policy: LockoutPolicy | None = None,
        offline_days: float = 0.0,
    ):
        self.store = store
        self.hasher = hasher
        self.directory = directory
        self.audit = audit
        self.pin_max_digits = station.pin_max_digits
        self.station = station.name
        self.cac_length = cac_length
        self.clock = clock
        self.pending = PendingCards()
        self.lockouts = Lockouts(store, audit, policy, clock)
        days = 0.0 if isinstance(directory, LocalDirectory) else offline_days
        self.offline = OfflineRecords(store, hasher, days, clock)
        self._served = threading.local()  # the OfflineAnswer of the swipe in hand, if any
        # (operation, seconds) after each directory request, e.g. the metrics' histogram
        self.directory_timed: Callable[[str, float], None] | None = None

    def method_of(self, swipe: Swipe) -> str:
        """A keypad entry, or a short all-digit value when PINs are on, is taken as a PIN
        (from a card reader it may still turn out to be a short card number)."""
        if swipe.kind == "pin":
            return "pin"
        value = swipe.value
        if self.pin_max_digits and value.isdigit() and len(value) <= self.pin_max_digits:
            return "pin"
        return "card"

    def identify(self, swipe: Swipe) -> Identified:
        """Raises DirectoryError/StoreError when a part cannot answer; never guesses. A user
        served from the store while the directory is down is audited as offline."""
        self._served.answer = None
        who = self._identify(swipe)
        answer: OfflineAnswer | None = self._served.answer
        self._served.answer = None
        if who.user is not None and answer is not None:
            self._audit_offline(swipe, who.method, who.user, answer)
        return who

    def _audit_offline(self, swipe: Swipe, method: str, user: User, answer: OfflineAnswer) -> None:
        when = answer.resolved_at.strftime("%Y-%m-%d %H:%M UTC")
        detail = f"the directory is unreachable: served as it resolved the user at {when}"
        log.warning(
            "reader %s: directory unreachable: %s served from the store (resolved %s)",
            clean(swipe.reader), clean(user.username), when,
        )  # fmt: skip
        event = Event("identify", "offline", method, user.username, swipe.reader, detail=detail)
        try:
            self.audit.record(event)
        except ReleaseStationError as exc:
            log.error("audit: cannot record an offline identification: %s", exc)

    def _identify(self, swipe: Swipe) -> Identified:
        pending = self.pending.take(swipe.reader, swipe.at)
        as_pin = self.method_of(swipe) == "pin"
        as_code = pending is not None and self._code_shaped(swipe, as_pin)
        if not (as_pin or as_code):
            return self._card(swipe)
        method = "cac" if as_code else "pin"
        slot = self.lockouts.take(self.station, swipe.reader, method)
        if slot.refusal:  # cards keep working at a locked reader, short ones too
            known = self.user_by_card(swipe.value) if swipe.kind == "card" else None
            if known:
                return Identified("card", known)
            return Identified(method, None, slot.refusal, True)
        try:
            return self._checked(swipe, slot, pending if as_code else None, as_pin, method)
        finally:  # not `failed`: right, or no answer (an error), so not counted
            self.lockouts.release(slot)

    def _checked(
        self, swipe: Swipe, slot: Slot, pending: str | None, as_pin: bool, method: str
    ) -> Identified:
        """The entry checked as a code for the `pending` card, then as a PIN; a wrong one
        keeps the failure `slot` counted."""
        bound = self._bind(swipe, slot, pending) if pending is not None else None
        if bound is not None:
            return bound
        if as_pin:
            who = self._pin(swipe.value)
            if swipe.kind == "card":  # typed or swiped: it may be a short card number
                card = self._pin_or_card(swipe, who)
                if card is not None:
                    return card
            if who.user is not None:
                return who
            reason = who.reason
            if who.reason != UNKNOWN_PIN:  # a PIN, expired or of someone disabled
                method = "pin"
            elif pending is not None:
                reason = "wrong card-assignment code or PIN"
            elif swipe.kind == "card":  # perhaps a short new card: a code may follow
                self.pending.remember(swipe.reader, swipe.value, swipe.at)
                reason = "unknown PIN or card"
        else:
            known = self.user_by_card(swipe.value)
            if known is not None:
                return Identified("card", known)
            reason = "wrong card-assignment code"
        return self._failed(slot, method, reason)

    def _pin_or_card(self, swipe: Swipe, pin: Identified) -> Identified | None:
        """A PIN-shaped value from a card reader that is also a card number: the card's
        owner when the PIN is nobody's, a refusal when it is two people's, else None."""
        user = self.user_by_card(swipe.value)
        if user is None or (pin.user is not None and pin.user.username == user.username):
            return None
        if pin.user is None:
            return Identified("card", user)
        log.warning(
            "reader %s: a value typed is both the PIN of %s and a card number of %s:"
            " refused; give %s a new PIN (releasestation pin reset)",
            swipe.reader, clean(pin.user.username), clean(user.username), clean(pin.user.username),
        )  # fmt: skip
        return Identified("pin", None, "the value is both a PIN and a card number")

    def _code_shaped(self, swipe: Swipe, as_pin: bool) -> bool:
        """After an unknown card: could this entry be a card-assignment code?"""
        return swipe.value.isdigit() and (as_pin or len(swipe.value) == self.cac_length)

    def _failed(self, slot: Slot, method: str, reason: str) -> Identified:
        locked = self.lockouts.failed(slot, method)
        if locked:
            reason += "; " + ("the site" if "site" in locked else "this reader") + " is now locked"
        return Identified(method, None, reason, locking=bool(locked))

    # -- cards --------------------------------------------------------------------------
    def _card(self, swipe: Swipe) -> Identified:
        user = self.user_by_card(swipe.value)
        if user is not None:
            return Identified("card", user)
        self.pending.remember(swipe.reader, swipe.value, swipe.at)
        return Identified("card", None, "unknown card")

    def user_by_card(self, number: str) -> User | None:
        with self.store.read() as session:
            row = store_users.user_by_card(session, self.hasher, number)
        if row is not None:
            return self.owner(row)
        if isinstance(self.directory, LocalDirectory):
            return None
        return self._from_directory("user_by_card", number)

    def owner(self, row: models.User | store_users.StoredUser) -> User | None:
        """The enabled user a credential row belongs to, checked in the directory."""
        if row.disabled:
            return None
        if row.source in LOCAL_SOURCES:
            return to_user(row)
        return self._from_directory("user_by_name", row.username)

    def _from_directory(self, operation: str, arg: str) -> User | None:
        """The directory's answer, kept for offline use; when it cannot answer, the kept
        answer within `offline_days`, else DirectoryError saying it is refused."""
        call = getattr(self.directory, operation)
        try:
            user = self._asked(operation, call, arg)
        except DirectoryError as exc:
            return self._offline_answer(operation, arg, exc)
        try:
            if operation == "user_by_card":
                self.offline.card_resolved(arg, user) if user else self.offline.card_gone(arg)
            else:
                self.offline.user_resolved(user) if user else self.offline.user_gone(arg)
        except ReleaseStationError as exc:  # the answer stands; only the copy is missing
            log.warning("directory: cannot keep its answer for offline use: %s", exc)
        return user

    def _offline_answer(self, operation: str, arg: str, exc: DirectoryError) -> User:
        offline = self.offline
        if not offline.enabled:
            raise exc
        by_card = operation == "user_by_card"
        answer = offline.by_card(arg) if by_card else offline.by_name(arg)
        if answer is None:
            what = "this card" if by_card else f"user {clean(arg)}"
            raise DirectoryError(
                f"{exc}; {what} was not resolved in the last {offline.days:g} day(s)"
                " ([directory] offline_days): refused until the directory answers"
            ) from exc
        self._served.answer = answer
        return answer.user

    def _asked(self, operation: str, call: Callable[[str], User | None], arg: str) -> User | None:
        """One directory request, timed (failures too) for `directory_timed`."""
        started = time.monotonic()
        try:
            return call(arg)
        finally:
            if self.directory_timed is not None:
                self.directory_timed(operation, time.monotonic() - started)

    # -- PINs ---------------------------------------------------------------------------
    def _pin(self, pin: str) -> Identified:
        with self.store.read() as session:
            cred = records.pin_owner(session, self.hasher, pin)
        if cred is None:
            return Identified("pin", None, UNKNOWN_PIN)
        if records.is_expired(cred.pin_expires_at, self.clock()):
            return Identified("pin", None, f"PIN of {cred.user.username} has expired")
        user = self.owner(cred.user)
        if user is None:
            return Identified("pin", None, f"{cred.user.username} is disabled or unknown")
        return Identified("pin", user)

    # -- card-assignment codes ----------------------------------------------------------
    def _bind(self, swipe: Swipe, slot: Slot, number: str) -> Identified | None:
        """Bind `number` to the owner of the code typed; None when no such code exists."""
        with self.store.read() as session:
            cred = records.cac_owner(session, self.hasher, swipe.value)
        if cred is None:
            return None
        if not records.cac_usable(cred, self.clock()):
            return self._failed(slot, "cac", "card-assignment code expired or already used")
        user = self.owner(cred.user)
        if user is None:
            return self._failed(slot, "cac", f"{cred.user.username} is disabled or unknown")
        try:
            self._store_binding(swipe, number, cred.user_id, user)
        except _CodeGone:
            return self._failed(slot, "cac", "card-assignment code expired or already used")
        except ConflictError as exc:  # the card was bound to someone meanwhile
            return Identified("cac", None, str(exc))
        where, last = swipe.reader, last_chars(number)
        log.info("reader %s: card ending %s bound to %s", where, clean(last), clean(user.username))
        return Identified("cac", user)

    def _store_binding(self, swipe: Swipe, number: str, user_id: int, user: User) -> None:
        """One transaction: the code is still good, the card is bound, the code used up."""
        store, hasher = self.store, self.hasher
        with store.write() as session:
            store.lock(session, records.LOCK)
            cred = records.cac_owner(session, hasher, swipe.value)
            now = self.clock()
            if cred is None or cred.user_id != user_id or not records.cac_usable(cred, now):
                raise _CodeGone
            card = store_users.add_card(session, hasher, cred.user, number, origin="self")
            records.use_cac(cred, now)
            event = Event(
                "card",
                outcome="bound",
                method="cac",
                username=user.username,
                reader=swipe.reader,
                detail=f"card ending {card.last4} bound with a card-assignment code",
                at=now,
            )
            self.audit.record_in(session, [event])


class _CodeGone(Exception):
    """The code was used or expired between looking it up and binding the card."""
