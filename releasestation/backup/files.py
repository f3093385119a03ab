# SPDX-License-Identifier: GPL-3.0-or-later
"""The files of a station's config in an archive: the config file, the site secret, and
every other file a `*_file` key names (passwords, reader and web tokens, TLS keys and
certificates), and how they are written back.

Which keys: `[station] secret_file` and `[web] secret_key_file` (the portal's session key;
their defaults too), and every key ending in `_file` of any section of the config file, so
a key added later is taken without a change here. `[backup]` is left out: its passphrase
must be kept apart from the archives it opens, and its state file is not config. A key
whose name says it holds a secret (password, token, secret, key) is written back 0600;
the others (CA files, certificates) with their own mode, never more open than 0644.

Run as root, a restore gives each file the owner and group it had (by name, when this
machine knows it), so the daemon's account can read its secret again.
"""

from __future__ import annotations

import configparser
import contextlib
import grp
import os
import pwd
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from releasestation.config import Config
from releasestation.errors import BackupError

SECRET_WORDS = ("password", "token", "secret", "key")
SKIPPED_SECTIONS = ("backup",)
SECRET_MODE = 0o600


@dataclass(frozen=True)
class ConfigFile:
    """A file named by `[section] key`, at `path` on the station."""

    section: str
    key: str
    path: str

    @property
    def secret(self) -> bool:
        return any(word in self.key for word in SECRET_WORDS)

    @property
    def member(self) -> str:
        return f"files/{self.section}.{self.key}"


def parser_of(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(
        interpolation=None, inline_comment_prefixes=(";", "#"), empty_lines_in_values=False
    )
    parser.read_string(text)
    return parser


def named_files(config: Config, text: str) -> list[ConfigFile]:
    """Every file the config names (see the module docstring), in the file's order."""
    from releasestation.web.secret_key import key_path

    found = {
        ("station", "secret_file"): config.station.secret_file,
        ("web", "secret_key_file"): str(key_path(config.web, config.station)),
    }
    parser = parser_of(text)
    for section in parser.sections():
        if section in SKIPPED_SECTIONS:
            continue
        for key, value in parser.items(section):
            if key.endswith("_file") and value.strip():
                found[(section, key)] = value.strip()
    return [ConfigFile(section, key, path) for (section, key), path in found.items()]


def describe(path: Path) -> dict[str, Any]:
    """Mode, owner and group of `path`, as the manifest records them."""
    info = path.stat()
    return {
        "mode": f"{stat.S_IMODE(info.st_mode):04o}",
        "owner": _name(pwd.getpwuid, info.st_uid),
        "group": _name(grp.getgrgid, info.st_gid),
    }


def _name(lookup, number: int) -> str | None:
    try:
        return lookup(number)[0]
    except KeyError:
        return None


def mode_for(entry: dict[str, Any]) -> int:
    """The mode a restored file gets: 0600 for a secret, else its own within 0644."""
    if entry.get("secret", True):
        return SECRET_MODE
    return int(entry.get("mode", "0600"), 8) & 0o644


def write_file(path: Path, data: bytes, mode: int, entry: dict[str, Any]) -> str | None:
    """Write `data` to `path` atomically, created 0600 and then given `mode` and, as root,
    the owner and group `entry` names (a note when they are not known here)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        note = give_owner(Path(temporary), entry)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return note.replace(temporary, str(path)) if note else None


def give_owner(path: Path, entry: dict[str, Any]) -> str | None:
    """As root, chown `path` to the owner and group `entry` names; a note when this machine
    does not know them."""
    if os.geteuid() != 0 or not entry.get("owner"):
        return None
    try:
        uid = pwd.getpwnam(entry["owner"]).pw_uid
        gid = grp.getgrnam(entry["group"]).gr_gid if entry.get("group") else -1
    except KeyError:
        return f"{path}: no account {entry['owner']}:{entry.get('group')} here; left to root"
    os.chown(path, uid, gid)
    return None


def keep_aside(path: Path, stamp: str) -> Path:
    """Move a file a forced restore replaces out of the way (same directory, same mode)."""
    aside = path.with_name(f"{path.name}.replaced-{stamp}")
    os.replace(path, aside)
    return aside


def same_content(path: Path, data: bytes) -> bool:
    try:
        return path.read_bytes() == data
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror}") from None
