# SPDX-License-Identifier: GPL-3.0-or-later
"""Credentials: PINs, card-assignment codes (CACs) and passwords, and the guessing lockout.

PINs and CACs are kept as HMACs keyed with the site secret, passwords as passlib hashes.
Issuing them follows the `[credgen]` policy (plan), draws and stores them (issuing) in one
transaction (transact) and mails them (mail); one_user does it for one user, as `credgen
user` and the daemon (a visitor's job arrived) ask. The `credgen` package is the command
and its batch orchestration, built on these. Names other than the settings are imported on
first use, so that reading the config does not load the database layer.
"""

from __future__ import annotations

import importlib
from typing import Any

from releasestation.credentials.settings import CredgenSettings

_LAZY = {
    "Drawer": "codes",
    "SpaceExhausted": "codes",
    "check_pin_length": "codes",
    "hash_password": "codes",
    "is_trivial": "codes",
    "new_password": "codes",
    "required_pin_length": "codes",
    "verify_password": "codes",
    "Lockouts": "lockout",
    "LockoutPolicy": "lockout",
    "reader_scope": "lockout",
    "Credential": "models",
    "GuessFailure": "models",
    "Lockout": "models",
}

__all__ = ["CredgenSettings", *_LAZY]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
