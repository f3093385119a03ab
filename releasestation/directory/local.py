# SPDX-License-Identifier: GPL-3.0-or-later
"""The local directory: users kept in the store (`[directory] type = local`, and visitors).

Local users log in to the web portal with the password kept (hashed) in the store; visitors
do not log in (they have PINs). See releasestation.credentials.passwords.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import func, select

from releasestation.credentials import passwords
from releasestation.directory.base import OwnNames, User
from releasestation.secret import Hasher
from releasestation.store import Store, models
from releasestation.store import users as store_users

LOCAL_SOURCES = ("local", "visitor")


def to_user(row: models.User | store_users.StoredUser) -> User:
    return User(
        username=row.username,
        display_name=row.display_name,
        email=row.email,
        source=row.source,
        disabled=row.disabled,
        cost_center=row.cost_center,
    )


class LocalDirectory:
    """Users whose source is local or visitor; cards are the store's card assignments."""

    def __init__(self, store: Store, hasher: Hasher):
        self.store = store
        self.hasher = hasher

    def user_by_card(self, card: str) -> User | None:
        with self.store.read() as session:
            row = store_users.user_by_card(session, self.hasher, card)
            return self._enabled(row)

    def user_by_name(self, username: str) -> User | None:
        with self.store.read() as session:
            return self._enabled(store_users.find_user(session, username))

    def user_by_email(self, address: str) -> User | None:
        """The one enabled local user (or visitor) with that address, else None."""
        with self.store.read() as session:
            query = select(models.User).where(
                func.lower(models.User.email) == address.strip().lower()
            )
            rows = list(session.scalars(query.limit(2))) if address.strip() else []
        users = [self._enabled(row) for row in rows]
        found = [user for user in users if user is not None]
        return found[0] if len(found) == 1 else None

    def authenticate(self, username: str, password: str) -> User | None:
        """The enabled local user called `username` whose stored password is `password`."""
        if not password or not username.strip():
            return None
        with self.store.read() as session:
            row, stored = passwords.stored_password(session, username)
        user = self._enabled(row) if row is not None and row.source == "local" else None
        if not passwords.verify_password(password, stored if user is not None else None):
            return None
        return user

    def iter_users(self) -> Iterator[User]:
        with self.store.read() as session:
            rows = store_users.list_users(session, LOCAL_SOURCES)
        for row in rows:
            if not row.disabled:
                yield to_user(row)

    def in_group(self, user: User, group: str) -> bool:
        """False: local users belong to no group (name admins in `[web] admins`)."""
        return False

    def own_names(self) -> OwnNames:
        """None: local users have no domain (name them in [station] owner_domains)."""
        return OwnNames()

    def check(self) -> list[str]:
        return []

    def close(self) -> None:
        pass

    @staticmethod
    def _enabled(row: models.User | store_users.StoredUser | None) -> User | None:
        if row is None or row.disabled or row.source not in LOCAL_SOURCES:
            return None
        return to_user(row)
