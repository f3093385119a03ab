# SPDX-License-Identifier: GPL-3.0-or-later
"""Backup and restore of a station: one archive that brings a new board back to serving the
same cards and PINs with the audit chain intact.

An archive (archive.py) is a gzipped tar: a manifest, the config file, the site secret and
the other files the config names (files.py), and the store (store_copy.py: SQLite through
its online backup API, PostgreSQL as JSON lines of one snapshot). It is written 0600 and
renamed into place; with a passphrase it is encrypted (crypto.py: AES-256-GCM from
`cryptography`, the key from scrypt). make.py writes one, restore.py puts one back,
rotation.py keeps the nightly ones and the last outcome. docs/backup.md is the admin's page.
"""

from releasestation.backup.archive import PassphraseNeeded
from releasestation.backup.crypto import check_strength, read_passphrase
from releasestation.backup.make import Made, make_backup
from releasestation.backup.restore import restore_backup
from releasestation.backup.rotation import archive_name, last_success, prune, record

__all__ = [
    "Made",
    "PassphraseNeeded",
    "archive_name",
    "check_strength",
    "last_success",
    "make_backup",
    "prune",
    "read_passphrase",
    "record",
    "restore_backup",
]
