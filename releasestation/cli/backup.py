# SPDX-License-Identifier: GPL-3.0-or-later
"""`backup` and `restore`: one archive of a station, and a new station made from it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from releasestation import backup
from releasestation import config as config_mod
from releasestation.cli import FAILED, OK, USAGE
from releasestation.errors import ConfigError, ReleaseStationError
from releasestation.store import Store
from releasestation.store.models import utcnow


def register(sub) -> None:
    p = sub.add_parser(
        "backup", help="write one archive: config, secret and tokens, store, manifest"
    )
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--output", metavar="FILE", help="the archive to write (0600)")
    where.add_argument(
        "--rotate",
        action="store_true",
        help="write a dated archive into [backup] directory, keep the newest [backup] keep",
    )
    p.add_argument(
        "--passphrase-file",
        metavar="F",
        help="encrypt with the passphrase in F (0600; default: [backup] passphrase_file)",
    )
    p.set_defaults(handler=cmd_backup)

    p = sub.add_parser("restore", help="put an archive back onto an empty or new station")
    p.add_argument("archive", metavar="FILE")
    p.add_argument("--passphrase-file", metavar="F", help="the passphrase of an encrypted archive")
    p.add_argument(
        "--force",
        action="store_true",
        help="replace a store with data, a different secret file and the config file",
    )
    p.add_argument(
        "--skip-store",
        action="store_true",
        help="restore only the files (the store survived: a site's shared PostgreSQL)",
    )
    p.set_defaults(handler=cmd_restore)


def cmd_backup(args: argparse.Namespace) -> int:
    where = config_mod.locate(args.config)
    try:
        text = Path(where).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {where}: {exc.strerror}") from None
    config = config_mod.parse_text(text, where)
    settings = config.backup
    passphrase_file = args.passphrase_file or settings.passphrase_file
    passphrase = backup.read_passphrase(passphrase_file) if passphrase_file else None
    if passphrase is not None and passphrase_file:
        backup.check_strength(passphrase, passphrase_file)
    output = _output(args, config, passphrase is not None)
    store = Store(config.database.url, busy_timeout=config.database.busy_timeout_seconds)
    try:
        made = backup.make_backup(config, text, store, output, passphrase)
    except ReleaseStationError as exc:
        backup.record(settings.state_file, "last_failure", _failure(exc))
        raise
    finally:
        store.close()
    backup.record(settings.state_file, "last_success", _success(made))
    print(made.summary())
    if args.rotate:
        for old in backup.prune(output.parent, config.station.name, settings.keep):
            print(f"  removed {old.name} (keeping {settings.keep})")
    return OK


def _output(args: argparse.Namespace, config: config_mod.Config, encrypted: bool) -> Path:
    if not args.rotate:
        return Path(args.output)
    directory = Path(config.backup.directory)
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        problem = f"[backup] directory: cannot make {directory}: {exc.strerror}"
        raise ReleaseStationError(problem) from None
    return directory / backup.archive_name(config.station.name, utcnow(), encrypted)


def _success(made: backup.Made) -> dict:
    return {
        "at": made.manifest["created_at"],
        "file": str(made.path),
        "bytes": made.size,
        "seconds": round(made.seconds, 3),
        "encrypted": made.manifest["encrypted"],
    }


def _failure(exc: Exception) -> dict:
    return {"at": utcnow().isoformat(timespec="seconds"), "error": str(exc)}


def cmd_restore(args: argparse.Namespace) -> int:
    passphrase = backup.read_passphrase(args.passphrase_file) if args.passphrase_file else None
    try:
        restored = backup.restore_backup(
            Path(args.archive),
            passphrase,
            config_mod.locate(args.config),
            force=args.force,
            skip_store=args.skip_store,
        )
    except backup.PassphraseNeeded as exc:
        print(f"releasestation restore: {exc}", file=sys.stderr)
        return USAGE
    print(f"restored from {args.archive}:")
    for line in restored:
        print(f"  {line}")
    return OK if restored else FAILED
