# SPDX-License-Identifier: GPL-3.0-or-later
"""One exception root, one subclass per layer. Messages name the key, host or device."""

from __future__ import annotations

from readers.base import ReaderError

__all__ = [
    "BackupError",
    "ConfigError",
    "ConflictError",
    "DirectoryError",
    "DocumentRefused",
    "PrintServerError",
    "ReaderError",
    "ReleaseStationError",
    "StoreError",
]


class ReleaseStationError(Exception):
    """Root of every error the station reports to a person."""


class ConfigError(ReleaseStationError):
    """The config file is missing, unreadable or has wrong keys; lists each problem."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class DirectoryError(ReleaseStationError):
    """The directory (LDAP server or local user list) cannot answer."""


class PrintServerError(ReleaseStationError):
    """cupsd cannot be reached or refused a request."""


class StoreError(ReleaseStationError):
    """The database cannot be opened, migrated or written."""


class ConflictError(ReleaseStationError):
    """A request that contradicts what is stored: a duplicate user, a card already bound."""


class BackupError(ReleaseStationError):
    """A backup archive cannot be written, or cannot be restored as it is."""


class DocumentRefused(ReleaseStationError):
    """A document that will not be printed; `reason` is a short sentence for its sender."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)
