# SPDX-License-Identifier: GPL-3.0-or-later
"""Local users and card assignments in the store. Card numbers go in only as digests."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from releasestation.errors import ConflictError
from releasestation.secret import Hasher, last_chars
from releasestation.store.models import Card, User

_users, _cards = User.__table__, Card.__table__


@dataclass(frozen=True)
class StoredUser:
    """What a swipe reads of a user, read as a plain row: loading an ORM object costs
    several times as much, most of all when the CPU's caches are cold, as they are when a
    swipe comes after a quiet while."""

    username: str
    display_name: str
    email: str
    source: str
    disabled: bool
    cost_center: str | None


_STORED = select(
    _users.c.username,
    _users.c.display_name,
    _users.c.email,
    _users.c.source,
    _users.c.disabled,
    _users.c.cost_center,
)
# Built once: a statement made afresh for every swipe costs SQLAlchemy its construction and
# its cache key each time; these are looked up by their bound values only.
_BY_CARD = _STORED.join(_cards, _cards.c.user_id == _users.c.id).where(
    _cards.c.digest == bindparam("digest")
)
_BY_NAME = _STORED.where(_users.c.username_key == bindparam("username_key"))


def key(username: str) -> str:
    return username.strip().lower()


def find_user(session: Session, username: str) -> User | None:
    return session.scalars(select(User).where(User.username_key == key(username))).first()


def ensure_user(session: Session, username: str, source: str, **fields: str) -> User:
    """The user row called `username`, created with `source` and `fields` when absent."""
    user = find_user(session, username)
    if user is None:
        user = User(username=username.strip(), username_key=key(username), source=source)
        for name, value in fields.items():
            setattr(user, name, value)
        session.add(user)
        session.flush()
    return user


def add_user(session: Session, username: str, source: str = "local", **fields: str) -> User:
    if not username.strip() or any(c in username for c in "\r\n\0"):
        raise ConflictError(f"invalid username {username!r}")
    if find_user(session, username) is not None:
        raise ConflictError(f"user {username!r} already exists")
    return ensure_user(session, username, source, **fields)


def list_users(session: Session, sources: tuple[str, ...] = ()) -> list[User]:
    query = select(User).order_by(User.username_key)
    if sources:
        query = query.where(User.source.in_(sources))
    return list(session.scalars(query))


def remove_user(session: Session, username: str) -> bool:
    user = find_user(session, username)
    if user is None:
        return False
    session.delete(user)
    return True


def user_by_card(session: Session, hasher: Hasher, number: str) -> StoredUser | None:
    """The user a card is assigned to; None when the card is not assigned."""
    row = session.execute(_BY_CARD, {"digest": hasher.card(number)}).first()
    return StoredUser(**row._mapping) if row is not None else None


def stored_user(session: Session, username: str) -> StoredUser | None:
    """The user called `username` as user_by_card reads one; None when there is none."""
    row = session.execute(_BY_NAME, {"username_key": key(username)}).first()
    return StoredUser(**row._mapping) if row is not None else None


def add_card(session: Session, hasher: Hasher, user: User, number: str, origin="admin") -> Card:
    """Bind `number` to `user`; StoreError (showing only its last digits) when taken."""
    digest = hasher.card(number)
    if session.scalars(select(Card.id).where(Card.digest == digest)).first() is not None:
        raise ConflictError(f"card ending {last_chars(number)} is already assigned")
    card = Card(user=user, digest=digest, last4=last_chars(number), origin=origin)
    session.add(card)
    try:
        session.flush()
    except IntegrityError:
        raise ConflictError(f"card ending {last_chars(number)} is already assigned") from None
    return card


def remove_card(session: Session, hasher: Hasher, number: str) -> str | None:
    """Unbind `number`; the username it belonged to, or None when it was not assigned."""
    card = session.scalars(select(Card).where(Card.digest == hasher.card(number))).first()
    if card is None:
        return None
    owner = card.user.username
    session.delete(card)
    return owner


def list_cards(session: Session, username: str | None = None) -> list[tuple[str, str, str]]:
    """(username, last digits, origin) for every card, or one user's."""
    query = select(User.username, Card.last4, Card.origin).join(Card).order_by(User.username_key)
    if username:
        query = query.where(User.username_key == key(username))
    return [tuple(row) for row in session.execute(query)]  # type: ignore[misc]
