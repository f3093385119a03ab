# SPDX-License-Identifier: GPL-3.0-or-later
"""The site secret and the keyed digests made with it.

Card numbers, PINs and codes are never stored: only HMAC-SHA256 keyed with the site secret,
which lives outside the database in a 0600 file (or a systemd credential). PINs have a tiny
key space, so an unkeyed or merely salted hash would be brute-forced offline in seconds; a
stolen database without the secret is useless. The digest is also the unique lookup key.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import stat
from pathlib import Path

from releasestation.errors import ConfigError

log = logging.getLogger(__name__)

SECRET_BYTES = 32


def check_mode(path: Path) -> str | None:
    """A problem text when `path` can be read or written by anyone but its owner."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        return f"secret file {path} has mode {mode:04o}; it must be 0600 (chmod 600 {path})"
    return None


def load_or_create(path: str | os.PathLike[str]) -> bytes:
    """Read the site secret, creating it 0600 with fresh random bytes when it is absent."""
    text = load_or_create_hex(Path(path), "[station] secret_file", "a new site secret")
    return text.encode("ascii")


def load_or_create_hex(where: Path, key: str, what: str, size: int = SECRET_BYTES) -> str:
    """The hex text in `where`, created 0600 with `size` fresh random bytes when absent (and
    logged as `what`); ConfigError naming the config `key` when it cannot be made or read,
    is readable by others, or is shorter than 32 characters."""
    try:
        fd = os.open(where, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except PermissionError as exc:
        raise ConfigError(
            f"{key}: cannot create {where}: {exc.strerror} (make it as root, 0600 and owned by"
            " the account the service runs as, as the README's install steps do; or set"
            f" {key} to a file that account may create)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{key}: cannot create {where}: {exc.strerror}") from None
    else:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(size) + "\n")
        log.info("created %s in %s", what, where)
    try:
        problem = check_mode(where)
        text = where.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{key}: cannot read {where}: {exc}") from None
    if problem:
        raise ConfigError(f"{key}: {problem}")
    if len(text) < 32:
        raise ConfigError(f"{key}: {where} holds fewer than 32 characters")
    return text


class Hasher:
    """Keyed digests of secrets-at-rest. `kind` separates card, pin and code spaces."""

    def __init__(self, secret: bytes):
        self._key = secret

    def digest(self, kind: str, value: str) -> str:
        message = f"{kind}\0{normalise(kind, value)}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def card(self, number: str) -> str:
        return self.digest("card", number)


def normalise(kind: str, value: str) -> str:
    """Card numbers compare without surrounding space and case; PINs and codes exactly."""
    return value.strip().upper() if kind == "card" else value.strip()


def fingerprint(secret: bytes) -> str:
    """A value that shows whether two stations hold the same secret, and reveals nothing of it."""
    return hmac.new(secret, b"releasestation site secret fingerprint", hashlib.sha256).hexdigest()


def last_chars(value: str, count: int = 4) -> str:
    """What may be shown of a card number: its last `count` characters."""
    return value.strip()[-count:]
