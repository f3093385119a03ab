# SPDX-License-Identifier: GPL-3.0-or-later
"""Making PINs, card-assignment codes and passwords that nobody can guess.

PINs and codes are drawn with `secrets` from the values not in use, by walking a random
permutation of the whole space (a Fisher-Yates shuffle kept sparse in a dict, so it costs
memory only for the values drawn). Each value is looked at once at most, so a draw cannot
fail by bad luck: it fails only when every value of the space is trivial or taken. Only the
HMAC of a value in use is known, so "taken" is asked of its digest.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Collection

from passlib.hash import pbkdf2_sha256

from releasestation.errors import ConfigError, ReleaseStationError
from releasestation.secret import Hasher

# (users below, shortest PIN length): at least ten times more PINs than users. Guessing is
# bounded by the lockout (releasestation.credentials.lockout), not by the length alone.
PIN_LENGTH_FOR_USERS = ((1_000, 4), (10_000, 5), (100_000, 6))
LONGEST_RULE = 7


class SpaceExhausted(ReleaseStationError):
    """Every value of the code space is trivial or already in use."""


def required_pin_length(users: int) -> int:
    """The shortest PIN length allowed for a site with `users` PIN holders."""
    for below, length in PIN_LENGTH_FOR_USERS:
        if users < below:
            return length
    return LONGEST_RULE


def check_pin_length(length: int, users: int) -> None:
    """ConfigError saying how long PINs must be when `length` is too short for `users`."""
    needed = required_pin_length(users)
    if length < needed:
        raise ConfigError(
            f"[credgen] pin_length: {length} digits are too few for {users:,} users;"
            f" PINs must have at least {needed} digits (set pin_length = {needed})"
        )


def is_trivial(code: str, blocklist: Collection[str] = ()) -> bool:
    """One digit repeated, an ascending or descending run (0 follows 9), or blocked."""
    if len(set(code)) == 1 or code in blocklist:
        return True
    steps = {(int(b) - int(a)) % 10 for a, b in itertools.pairwise(code)}
    return steps in ({1}, {9})


class Drawer:
    """Draws unused, non-trivial codes of `length` digits, each candidate at most once."""

    def __init__(self, hasher: Hasher, kind: str, length: int, blocklist: Collection[str] = ()):
        self.hasher = hasher
        self.kind = kind
        self.length = length
        self.blocklist = frozenset(blocklist)
        self._left = 10**length
        self._moved: dict[int, int] = {}

    def _next(self) -> int:
        """The next value of a random permutation of range(10**length) (sparse Fisher-Yates)."""
        pick = secrets.randbelow(self._left)
        last = self._left - 1
        value = self._moved.get(pick, pick)
        self._moved[pick] = self._moved.pop(last, last)
        self._left = last
        return value

    def draw(self, taken: Callable[[str], bool]) -> tuple[str, str]:
        """(code, digest) of a code whose digest is not `taken`; SpaceExhausted when none."""
        while self._left:
            code = f"{self._next():0{self.length}d}"
            if is_trivial(code, self.blocklist):
                continue
            digest = self.hasher.digest(self.kind, code)
            if not taken(digest):
                return code, digest
        raise SpaceExhausted(
            f"no unused {self.kind.upper()} of {self.length} digits is left;"
            f" make {self.kind} codes longer"
        )


def new_password(length: int, alphabet: str) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def hash_password(password: str) -> str:
    """A salted, slow passlib hash (PBKDF2-SHA256); the only form a password is kept in."""
    return str(pbkdf2_sha256.hash(password))


def verify_password(password: str, stored: str) -> bool:
    return bool(pbkdf2_sha256.verify(password, stored))
