# SPDX-License-Identifier: GPL-3.0-or-later
"""Directories: who a card or a name belongs to. LDAP / Active Directory, or local users."""

from __future__ import annotations

from releasestation.config import DirectorySettings
from releasestation.directory.base import Directory, OwnNames, User
from releasestation.directory.local import LocalDirectory
from releasestation.secret import Hasher
from releasestation.store import Store

__all__ = ["Directory", "LocalDirectory", "OwnNames", "User", "open_directory"]


def open_directory(settings: DirectorySettings, store: Store, hasher: Hasher) -> Directory:
    """The directory `[directory] type` names."""
    if settings.type == "ldap":
        from releasestation.directory.ldap import LdapDirectory

        return LdapDirectory(settings)
    return LocalDirectory(store, hasher)
