# SPDX-License-Identifier: GPL-3.0-or-later
"""Archives encrypted with a passphrase: AES-256-GCM in chunks, the key made by scrypt.

The primitives are those of `cryptography` (AESGCM, kept by the PyCA) and hashlib's scrypt
(OpenSSL); only the framing is ours, and it is the STREAM construction (as in `age` and
Tink's streaming AEAD), because an archive of a large store does not fit in memory the way
one Fernet token would have to:

    MAGIC                      "RELEASESTATION-BACKUP-AESGCM-1\\n" (31 bytes; `head -1`)
    log2(N), r, p              scrypt's cost, one byte each (2**16, 8, 1: 64 MiB, ~0.2 s)
    salt                       16 random bytes: a fresh key for every archive
    chunks                     a 4-byte big-endian length, then AES-256-GCM ciphertext

Chunk i (of up to 1 MiB of plaintext) is sealed under the nonce i (11 bytes, big-endian)
followed by one byte, 1 for the last chunk and 0 for the others, with the header as
associated data. So a chunk that is altered, moved, dropped, or a file cut short at a
chunk's end, fails authentication; a wrong passphrase fails on the first chunk.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from releasestation.errors import BackupError, ConfigError
from releasestation.secret import check_mode

MAGIC = b"RELEASESTATION-BACKUP-AESGCM-1\n"
SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P = 16, 8, 1
MAX_LOG_N = 20  # what a reader accepts from a header (1 GiB): a forged one cannot ask more
SALT_BYTES = 16
CHUNK = 1 << 20
TAG_BYTES = 16
MIN_PASSPHRASE = 12


def read_passphrase(path: str) -> bytes:
    """The passphrase in `path` (its first line), which must be 0600. ConfigError names
    the file; the passphrase itself is never shown."""
    where = Path(path)
    try:
        problem = check_mode(where)
        lines = where.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"passphrase file {path}: cannot read it: {exc}") from None
    if problem:
        raise ConfigError(f"passphrase file: {problem}")
    passphrase = lines[0].strip() if lines else ""
    if not passphrase:
        raise ConfigError(f"passphrase file {path} is empty")
    return passphrase.encode("utf-8")


def check_strength(passphrase: bytes, path: str) -> None:
    """An archive holds the site secret: refuse to encrypt it under a short passphrase."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise ConfigError(
            f"passphrase file {path}: the passphrase is shorter than {MIN_PASSPHRASE} characters"
        )


def is_encrypted(start: bytes) -> bool:
    return start.startswith(MAGIC)


def _key(passphrase: bytes, salt: bytes, log_n: int, r: int, p: int) -> bytes:
    n = 1 << log_n
    memory = 128 * r * n * p + (1 << 20)
    return hashlib.scrypt(passphrase, salt=salt, n=n, r=r, p=p, maxmem=memory, dklen=32)


def _nonce(index: int, last: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


class EncryptingWriter(io.RawIOBase):
    """A writable stream that seals what is written to `out`; `finish()` seals the last
    chunk (it must be called, or the archive is incomplete and will not open)."""

    def __init__(self, out: BinaryIO, passphrase: bytes):
        super().__init__()
        salt = os.urandom(SALT_BYTES)
        self._header = MAGIC + bytes([SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P]) + salt
        self._aead = AESGCM(_key(passphrase, salt, SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P))
        self._out = out
        self._buffer = bytearray()
        self._index = 0
        out.write(self._header)

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._buffer += data
        while len(self._buffer) > CHUNK:  # keep one back: the last chunk is sealed apart
            self._seal(bytes(self._buffer[:CHUNK]), last=False)
            del self._buffer[:CHUNK]
        return len(data)

    def finish(self) -> None:
        self._seal(bytes(self._buffer), last=True)
        self._buffer.clear()

    def _seal(self, plain: bytes, last: bool) -> None:
        sealed = self._aead.encrypt(_nonce(self._index, last), plain, self._header)
        self._out.write(struct.pack(">I", len(sealed)) + sealed)
        self._index += 1


class DecryptingReader(io.RawIOBase):
    """A readable stream of what an EncryptingWriter sealed into `source`. BackupError
    when the passphrase is wrong or the archive was altered or cut short."""

    def __init__(self, source: BinaryIO, passphrase: bytes):
        super().__init__()
        header = source.read(len(MAGIC) + 3 + SALT_BYTES)
        if not is_encrypted(header) or len(header) < len(MAGIC) + 3 + SALT_BYTES:
            raise BackupError("not an encrypted releasestation backup")
        log_n, r, p = header[len(MAGIC) : len(MAGIC) + 3]
        if not (10 <= log_n <= MAX_LOG_N and 1 <= r <= 32 and 1 <= p <= 16):
            raise BackupError("the archive's key parameters are out of range (damaged?)")
        salt = header[len(MAGIC) + 3 :]
        self._header = header
        self._aead = AESGCM(_key(passphrase, salt, log_n, r, p))
        self._source = source
        self._index = 0
        self._plain = b""
        self._done = False
        self._next = self._read_sealed()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._plain and not self._done:
            self._plain = self._open_next()
        count = min(len(buffer), len(self._plain))
        buffer[:count] = self._plain[:count]
        self._plain = self._plain[count:]
        return count

    def _read_sealed(self) -> bytes | None:
        size = self._source.read(4)
        if not size:
            return None
        if len(size) < 4:
            raise BackupError("the encrypted archive is cut short")
        (length,) = struct.unpack(">I", size)
        if not TAG_BYTES <= length <= CHUNK + TAG_BYTES:
            raise BackupError("the encrypted archive is damaged (a chunk of impossible size)")
        sealed = self._source.read(length)
        if len(sealed) < length:
            raise BackupError("the encrypted archive is cut short")
        return sealed

    def _open_next(self) -> bytes:
        sealed = self._next
        if sealed is None:
            raise BackupError("the encrypted archive is cut short (its last chunk is missing)")
        self._next = self._read_sealed()
        last = self._next is None
        try:
            plain = self._aead.decrypt(_nonce(self._index, last), sealed, self._header)
        except InvalidTag:
            if self._index == 0:
                raise BackupError("wrong passphrase, or the archive is damaged") from None
            raise BackupError(f"the encrypted archive is damaged at chunk {self._index}") from None
        self._index += 1
        self._done = last
        return plain
