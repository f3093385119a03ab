# SPDX-License-Identifier: GPL-3.0-or-later
"""The archive on disk: a gzipped tar of a manifest and its members, maybe encrypted.

`manifest.json` comes first and names every other member with its SHA-256 and size, so a
restore checks each member as it streams past and refuses the archive when one differs, is
missing or is not named. The checksums find damage; only encryption (crypto.py) also proves
that nobody altered the archive, since a plain one can be rewritten manifest and all.

An archive is written to a temporary file in the target's directory, created 0600 from the
start (mkstemp), synced, then renamed over the target: there is never a half-written or
world-readable archive under the target's name.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from releasestation.backup import crypto
from releasestation.errors import BackupError

MANIFEST = "manifest.json"
FORMAT = "releasestation-backup"
FORMAT_VERSION = 1
GZIP_MAGIC = b"\x1f\x8b"
GZIP_LEVEL = 6  # tarfile's stream mode would use 9: twice the time for a few per cent
MAX_MANIFEST = 16 << 20
COPY = 1 << 20

Source = bytes | Path


class PassphraseNeeded(BackupError):
    """The archive is encrypted and no passphrase was given."""


def sha256_of(source: Source) -> tuple[str, int]:
    digest = hashlib.sha256()
    if isinstance(source, bytes):
        digest.update(source)
        return digest.hexdigest(), len(source)
    size = 0
    with source.open("rb") as data:
        while chunk := data.read(COPY):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def checksums(members: Mapping[str, Source]) -> dict[str, dict[str, Any]]:
    """The manifest's "members": name -> {"sha256", "size"}."""
    sums = {}
    for name, source in members.items():
        digest, size = sha256_of(source)
        sums[name] = {"sha256": digest, "size": size}
    return sums


def write_atomically(target: Path, write: Callable[[BinaryIO], None]) -> int:
    """Run `write` on a fresh 0600 file beside `target`, then rename it to `target`; the
    size written."""
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
            size = out.tell()
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _sync_directory(target.parent)
    return size


def _sync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write(
    sink: BinaryIO,
    manifest: Mapping[str, Any],
    members: Mapping[str, Source],
    passphrase: bytes | None,
    mtime: float,
) -> None:
    """The archive of `manifest` then `members` (in their order) onto `sink`."""
    encrypting = crypto.EncryptingWriter(sink, passphrase) if passphrase else None
    target: BinaryIO = encrypting or sink  # type: ignore[assignment]
    with (
        gzip.GzipFile(fileobj=target, mode="wb", compresslevel=GZIP_LEVEL, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as tar,
    ):
        text = json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n"
        _add(tar, MANIFEST, text, mtime)
        for name, source in members.items():
            _add(tar, name, source, mtime)
    if encrypting is not None:
        encrypting.finish()


def _add(tar: tarfile.TarFile, name: str, source: Source, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.mode, info.mtime, info.uid, info.gid = 0o600, int(mtime), 0, 0
    if isinstance(source, bytes):
        info.size = len(source)
        tar.addfile(info, io.BytesIO(source))
        return
    info.size = source.stat().st_size
    with source.open("rb") as data:
        tar.addfile(info, data)


def read(
    path: Path, passphrase: bytes | None, staging: Path
) -> tuple[dict[str, Any], dict[str, Path]]:
    """The manifest and every member, checked and copied into `staging` (a private
    directory): BackupError (PassphraseNeeded) when the archive cannot be trusted whole."""
    try:
        with path.open("rb") as raw, _opened(raw, passphrase, path) as (tar, gz):
            found = _read_members(tar, staging)
            while gz.read(COPY):  # to the end: gzip's CRC, the last encrypted chunk
                pass
            return found
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise BackupError(f"{path} is damaged: {exc}") from None
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror or exc}") from None


@contextlib.contextmanager
def _opened(
    raw: BinaryIO, passphrase: bytes | None, path: Path
) -> Iterator[tuple[tarfile.TarFile, gzip.GzipFile]]:
    start = raw.read(len(crypto.MAGIC))
    raw.seek(0)
    stream: BinaryIO = raw
    if crypto.is_encrypted(start):
        if passphrase is None:
            raise PassphraseNeeded(f"{path} is encrypted: give its --passphrase-file")
        stream = io.BufferedReader(crypto.DecryptingReader(raw, passphrase), crypto.CHUNK)
    elif not start.startswith(GZIP_MAGIC):
        raise BackupError(f"{path} is not a releasestation backup")
    with (
        gzip.GzipFile(fileobj=stream, mode="rb") as gz,
        tarfile.open(fileobj=gz, mode="r|") as tar,
    ):
        yield tar, gz


def _read_members(tar: tarfile.TarFile, staging: Path) -> tuple[dict[str, Any], dict[str, Path]]:
    first = tar.next()
    if first is None or first.name != MANIFEST or not first.isfile() or first.size > MAX_MANIFEST:
        raise BackupError(f"the archive does not start with its {MANIFEST}")
    manifest = _manifest(_data(tar, first).read())
    expected: dict[str, dict[str, Any]] = manifest["members"]
    staged: dict[str, Path] = {}
    while (member := tar.next()) is not None:
        if member.name not in expected or member.name in staged or not member.isfile():
            raise BackupError(f"the archive has a member its manifest does not name: {member.name}")
        where = staging / f"member-{len(staged):04d}"
        digest, size = _copy(_data(tar, member), where)
        want = expected[member.name]
        if digest != want.get("sha256") or size != want.get("size"):
            raise BackupError(
                f"member {member.name}: checksum mismatch (the archive is damaged or was altered)"
            )
        staged[member.name] = where
    missing = sorted(set(expected) - set(staged))
    if missing:
        raise BackupError(f"the archive lacks members its manifest names: {', '.join(missing)}")
    return manifest, staged


def _data(tar: tarfile.TarFile, member: tarfile.TarInfo) -> BinaryIO:
    data = tar.extractfile(member)
    if data is None:
        raise BackupError(f"member {member.name} is not a file")
    return data  # type: ignore[return-value]


def _manifest(text: bytes) -> dict[str, Any]:
    try:
        manifest = json.loads(text)
    except ValueError:
        raise BackupError(f"the archive's {MANIFEST} is not JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"the archive's {MANIFEST} is not a releasestation backup's")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(
            f"the archive is of format version {manifest.get('format_version')}; this "
            f"releasestation reads version {FORMAT_VERSION}: restore with a newer release"
        )
    if not isinstance(manifest.get("members"), dict):
        raise BackupError(f"the archive's {MANIFEST} lists no members")
    return manifest


def _copy(data: BinaryIO, where: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    fd = os.open(where, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        while chunk := data.read(COPY):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
    return digest.hexdigest(), size
