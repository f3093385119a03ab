# SPDX-License-Identifier: GPL-3.0-or-later
"""`releasestation backup`: one archive of the config, its files and the store.

The manifest records the project's version, the store's schema revisions, when and on
which station the archive was made, the site secret's fingerprint as the store records it
(releasestation.store.site), which config keys' files are in it (and which were named but
absent), and the SHA-256 of every member.

A station whose secret file is not the one its store was set up with is refused: such an
archive could never be restored (the store's cards and PINs would match nothing), and the
daemon would not start on it either.
"""

from __future__ import annotations

import datetime as dt
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from releasestation import __version__
from releasestation.backup import archive, files, store_copy
from releasestation.config import Config
from releasestation.errors import BackupError
from releasestation.secret import fingerprint
from releasestation.store import Store
from releasestation.store.models import utcnow

CONFIG_MEMBER = "config/releasestation.ini"


@dataclass(frozen=True)
class Made:
    path: Path
    size: int
    seconds: float
    manifest: dict[str, Any]

    def summary(self) -> str:
        store = self.manifest["store"]
        rows = sum(t["rows"] for t in store["tables"].values())
        names = [f"[{f['section']}] {f['key']}" for f in self.manifest["files"]]
        sealed = ", encrypted" if self.manifest["encrypted"] else ""
        return (
            f"backup written: {self.path} ({self.size:,} bytes{sealed}, {self.seconds:.1f} s)\n"
            f"  store: {store['kind']}, {rows:,} rows in {len(store['tables'])} tables, "
            f"revision {', '.join(store['revisions']) or 'none'}\n"
            f"  config: {self.manifest['config']['path']}\n"
            f"  files: {', '.join(names) or 'none'}"
        )


def secret_value(data: bytes) -> bytes | None:
    """The secret as releasestation.secret.load_or_create reads it (None: not a secret)."""
    try:
        text = data.decode("ascii").strip()
    except UnicodeDecodeError:
        return None
    return text.encode("ascii") if len(text) >= 32 else None


def make_backup(
    config: Config,
    config_text: str,
    store: Store,
    output: Path,
    passphrase: bytes | None = None,
    clock=utcnow,
) -> Made:
    """Write the archive to `output` (atomically, 0600)."""
    started = time.monotonic()
    now: dt.datetime = clock()
    if not output.parent.is_dir():
        raise BackupError(f"cannot write {output}: {output.parent} is not a directory")
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".releasestation-backup-") as tmp:
        with store_copy.database_errors(store):
            snap = store_copy.snapshot(store, Path(tmp))
        members: dict[str, archive.Source] = {CONFIG_MEMBER: config_text.encode("utf-8")}
        included, absent = _config_files(config, config_text, members)
        _check_secret(config, included, members, snap.fingerprint)
        members.update(snap.members)
        store_manifest = snap.manifest()
        if store.is_sqlite:  # its owner, for a restore run as root
            store_manifest["file"] = files.describe(store_copy.sqlite_path(store))
        manifest = {
            "format": archive.FORMAT,
            "format_version": archive.FORMAT_VERSION,
            "project_version": __version__,
            "created_at": now.isoformat(timespec="seconds"),
            "station": config.station.name,
            "host": socket.gethostname(),
            "secret_fingerprint": snap.fingerprint,
            "encrypted": passphrase is not None,
            "config": {"member": CONFIG_MEMBER, "path": _config_path(config)}
            | _described(config.path),
            "files": included,
            "files_absent": absent,
            "store": store_manifest,
            "members": archive.checksums(members),
        }
        size = archive.write_atomically(
            output,
            lambda sink: archive.write(sink, manifest, members, passphrase, now.timestamp()),
        )
    return Made(output, size, time.monotonic() - started, manifest)


def _config_path(config: Config) -> str:
    return str(Path(config.path).resolve()) if config.path else ""


def _described(path: str | None) -> dict[str, Any]:
    if path and Path(path).exists():
        return files.describe(Path(path))
    return {}


def _config_files(
    config: Config, text: str, members: dict[str, archive.Source]
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    included, absent = [], []
    for named in files.named_files(config, text):
        where = Path(named.path)
        entry = {"section": named.section, "key": named.key, "path": named.path}
        if not where.is_file():
            absent.append(entry)
            continue
        try:
            members[named.member] = where.read_bytes()
        except OSError as exc:
            raise BackupError(
                f"[{named.section}] {named.key}: cannot read {where}: {exc.strerror}"
            ) from None
        included.append(
            entry | {"member": named.member, "secret": named.secret} | files.describe(where)
        )
    return included, absent


def _check_secret(
    config: Config,
    included: list[dict[str, Any]],
    members: dict[str, archive.Source],
    recorded: str | None,
) -> None:
    if recorded is None:
        return  # the store has not recorded one yet: nothing to contradict
    path = config.station.secret_file
    key = ("station", "secret_file")
    entry = next((f for f in included if (f["section"], f["key"]) == key), None)
    if entry is None:
        raise BackupError(
            f"[station] secret_file: {path} is missing, and the store was set up with a "
            "secret: without it no stored card or PIN can be restored (copy it back first)"
        )
    secret = secret_value(members[entry["member"]])  # type: ignore[arg-type]
    if secret is None or fingerprint(secret) != recorded:
        raise BackupError(
            f"[station] secret_file: {path} is not the secret this store was set up with; "
            "a backup of it could not be restored (put the right secret file back first)"
        )
