# SPDX-License-Identifier: GPL-3.0-or-later
"""Local users' passwords, for logging in to the web portal: hashing, checking, storing.

A password is kept only as a passlib hash in `credentials.password_hash` (migration
0002_credentials). One a person chooses (`releasestation user passwd`) is hashed with
scrypt from Python's hashlib (OpenSSL; no C extension of its own, as argon2 and bcrypt would
need): 16 MiB and 5 lanes, OWASP's setting for that memory, about 0.3 s on a desktop core.
credgen's random passwords are PBKDF2-SHA256 (codes.hash_password: a batch hashes thousands
and a random password needs no slow hash to be strong); both verify here.

Only local users log in with a stored password. Directory users bind to the directory
(LdapDirectory.authenticate); visitors have PINs and no portal login (docs/directory.md).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

from passlib.context import CryptContext
from sqlalchemy import select
from sqlalchemy.orm import Session

from releasestation.credentials.codes import new_password
from releasestation.credentials.models import Credential
from releasestation.credentials.records import credential_of, ensure_credential
from releasestation.credentials.settings import PASSWORD_CHARS
from releasestation.errors import ReleaseStationError
from releasestation.store import Store
from releasestation.store.models import User, utcnow
from releasestation.store.users import StoredUser, find_user, key

log = logging.getLogger(__name__)

CONTEXT = CryptContext(
    schemes=["scrypt", "pbkdf2_sha256"],
    default="scrypt",
    scrypt__rounds=14,  # log2 of N: 2**14 * 128 * 8 bytes = 16 MiB
    scrypt__block_size=8,
    scrypt__parallelism=5,
)
MIN_LENGTH = 8
MAX_BYTES = 1024  # passlib refuses more than 4096; nobody types a kilobyte
RANDOM_LENGTH = 16

_STORED = select(
    User.username,
    User.display_name,
    User.email,
    User.source,
    User.disabled,
    User.cost_center,
    Credential.password_hash,
).outerjoin(Credential, Credential.user_id == User.id)


def hash_password(password: str) -> str:
    """The hash to store for `password` (scrypt); slow on purpose, so hash outside a
    write transaction."""
    return str(CONTEXT.hash(password))


def verify_password(password: str, stored: str | None) -> bool:
    """Whether `password` is the one `stored` was made from. With nothing stored (no such
    user, no password) it spends the time a check would, so that the answer's delay does
    not tell which user names exist."""
    if not stored or not password or len(password.encode()) > MAX_BYTES:
        CONTEXT.dummy_verify()
        return False
    try:
        return bool(CONTEXT.verify(password, stored))
    except ValueError:
        log.warning("a stored password hash is in a form this station cannot check")
        return False


def check_new_password(password: str) -> None:
    """ReleaseStationError, never showing the password, when it is unfit to be one."""
    if len(password) < MIN_LENGTH:
        raise ReleaseStationError(f"a password has at least {MIN_LENGTH} characters")
    if len(password.encode()) > MAX_BYTES:
        raise ReleaseStationError(f"a password has at most {MAX_BYTES} bytes")
    if any(char in password for char in "\r\n\0"):
        raise ReleaseStationError("a password cannot hold line breaks or NUL")


def random_password(length: int = RANDOM_LENGTH) -> str:
    """A password drawn with `secrets` from letters and digits nobody misreads."""
    return new_password(length, PASSWORD_CHARS)


def stored_password(session: Session, username: str) -> tuple[StoredUser | None, str | None]:
    """The user called `username` (any source) and their password hash, or None."""
    row = session.execute(_STORED.where(User.username_key == key(username))).first()
    if row is None:
        return None, None
    fields = dict(row._mapping)
    password_hash = fields.pop("password_hash")
    return StoredUser(**fields), password_hash


def store_password(
    session: Session, user: User, password_hash: str, now: dt.datetime | None = None
) -> None:
    """Keep `password_hash` (from hash_password) as `user`'s password."""
    cred = ensure_credential(session, user)
    cred.password_hash = password_hash
    cred.password_set_at = now or utcnow()
    session.flush()


def remove_password(session: Session, user: User) -> bool:
    """Take `user`'s password away; False when they had none."""
    cred = credential_of(session, user)
    if cred is None or cred.password_hash is None:
        return False
    cred.password_hash = cred.password_set_at = None
    session.flush()
    return True


def set_random_passwords(store: Store, usernames: Iterable[str]) -> dict[str, str]:
    """Give each of `usernames` (users already in `store`) a new random password, in one
    transaction; username -> password, for the caller to show once (the demo prints its
    users' passwords). Meant for demos and tests: an admin uses `releasestation user passwd`."""
    passwords = {name: random_password() for name in usernames}
    hashes = {name: hash_password(password) for name, password in passwords.items()}
    with store.write() as session:
        for name, password_hash in hashes.items():
            user = find_user(session, name)
            if user is None:
                raise ReleaseStationError(f"no user {name!r} in the store")
            store_password(session, user, password_hash)
    return passwords
