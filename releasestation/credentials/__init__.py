# SPDX-License-Identifier: GPL-3.0-or-later
"""Credentials: PINs, card-assignment codes (CACs) and passwords, and the guessing lockout.

PINs and CACs are kept as HMACs keyed with the site secret, passwords as passlib hashes.
The `[credgen]` settings live here because the core's config reads them; the generator that
uses them is the `credgen` package. Names other than the settings are imported on first
use, so that reading the config does not load the database layer.
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
