# SPDX-License-Identifier: GPL-3.0-or-later
"""Reading and writing credentials in the store. Values go in only as digests or hashes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from releasestation.credentials.models import Credential
from releasestation.errors import ConflictError
from releasestation.secret import Hasher
from releasestation.store.models import User

# The store lock taken by every writer of PINs and codes (credgen, `releasestation pin`, and
# identity when a code binds a card), so no two of them hand out or use the same one.
LOCK = "credentials"


def is_expired(expires_at: dt.datetime | None, now: dt.datetime) -> bool:
    return expires_at is not None and expires_at <= now


def expiry(now: dt.datetime, days: int) -> dt.datetime | None:
    """When something issued `now` expires; None when `days` is 0 (never)."""
    return now + dt.timedelta(days=days) if days else None


def credential_of(session: Session, user: User) -> Credential | None:
    return session.get(Credential, user.id)


def ensure_credential(session: Session, user: User) -> Credential:
    cred = credential_of(session, user)
    if cred is None:
        cred = Credential(user_id=user.id)
        session.add(cred)
    return cred


def _by(session: Session, column, digest: str) -> Credential | None:
    query = select(Credential).options(joinedload(Credential.user)).where(column == digest)
    return session.scalars(query).first()


def pin_owner(session: Session, hasher: Hasher, pin: str) -> Credential | None:
    """The credential row whose PIN is `pin` (expired or not), with its user."""
    return _by(session, Credential.pin_digest, hasher.digest("pin", pin))


def cac_owner(session: Session, hasher: Hasher, code: str) -> Credential | None:
    """The credential row whose card-assignment code is `code` (used or not), with its user."""
    return _by(session, Credential.cac_digest, hasher.digest("cac", code))


def taken_in(session: Session, kind: str) -> Callable[[str], bool]:
    """Asks the database whether a PIN ("pin") or CAC ("cac") digest is in use."""
    column = Credential.pin_digest if kind == "pin" else Credential.cac_digest

    def taken(digest: str) -> bool:
        return session.scalar(select(Credential.user_id).where(column == digest)) is not None

    return taken


def digests_in_use(session: Session, kind: str) -> set[str]:
    """Every PIN ("pin") or CAC ("cac") digest in the store, for drawing many codes at once."""
    column = Credential.pin_digest if kind == "pin" else Credential.cac_digest
    return set(session.scalars(select(column).where(column.is_not(None))))


def pin_holders(session: Session) -> set[str]:
    """Lower-cased names of the users who hold a PIN."""
    query = select(User.username_key).join(Credential).where(Credential.pin_digest.is_not(None))
    return set(session.scalars(query))


def set_pin(
    session: Session, hasher: Hasher, user: User, pin: str, now: dt.datetime, days: int
) -> Credential:
    """Give `user` the PIN `pin`; ConflictError when another user holds it."""
    digest = hasher.digest("pin", pin)
    holder = session.scalar(select(Credential.user_id).where(Credential.pin_digest == digest))
    if holder is not None and holder != user.id:
        raise ConflictError("that PIN is in use; choose another")
    cred = ensure_credential(session, user)
    cred.pin_digest = digest
    cred.pin_issued_at = now
    cred.pin_expires_at = expiry(now, days)
    cred.issued_at = now
    session.flush()
    return cred


def remove_pin(session: Session, user: User) -> bool:
    """Take `user`'s PIN away; False when they had none."""
    cred = credential_of(session, user)
    if cred is None or cred.pin_digest is None:
        return False
    cred.pin_digest = cred.pin_issued_at = cred.pin_expires_at = None
    session.flush()
    return True


def use_cac(cred: Credential, now: dt.datetime) -> None:
    cred.cac_used_at = now


def cac_usable(cred: Credential, now: dt.datetime) -> bool:
    return cred.cac_used_at is None and not is_expired(cred.cac_expires_at, now)
