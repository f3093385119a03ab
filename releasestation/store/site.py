# SPDX-License-Identifier: GPL-3.0-or-later
"""Site-wide facts in the store: the fingerprint of the site secret, and the small records
others keep in `site_settings` (`setting`, `put_setting`: the last `credgen batch` run,
mailprint's state).

Card, PIN and code digests are keyed with the site secret. A station that starts with a
different secret (a fresh one created on a new station sharing the site's database) would
match no card at all, silently; the first station records the secret's fingerprint and every
other one is checked against it.
"""

from __future__ import annotations

from sqlalchemy import select

from releasestation.errors import ConfigError
from releasestation.secret import fingerprint
from releasestation.store import Store
from releasestation.store.models import SiteSetting

FINGERPRINT = "secret_fingerprint"


def recorded_fingerprint(store: Store) -> str | None:
    return setting(store, FINGERPRINT)


def setting(store: Store, key: str) -> str | None:
    """The value of `site_settings` row `key`, or None."""
    with store.read() as session:
        return session.scalar(select(SiteSetting.value).where(SiteSetting.key == key))


def put_setting(store: Store, key: str, value: str) -> None:
    """Set `site_settings` row `key` to `value` (its own transaction)."""
    with store.write() as session:
        row = session.get(SiteSetting, key)
        if row is None:
            session.add(SiteSetting(key=key, value=value))
        else:
            row.value = value


def check_secret(store: Store, secret: bytes, path: str) -> None:
    """ConfigError when the database records another secret's fingerprint. Only reads, so
    it is safe inside a caller's transaction."""
    recorded = recorded_fingerprint(store)
    if recorded is not None and recorded != fingerprint(secret):
        raise _mismatch(path)


def record_secret(store: Store, secret: bytes, path: str) -> None:
    """Record the secret's fingerprint when none is (in a transaction of its own), or raise
    ConfigError when another one is. Called where a station starts work."""
    mine = fingerprint(secret)
    if recorded_fingerprint(store) == mine:
        return
    with store.write() as session:
        recorded = session.get(SiteSetting, FINGERPRINT)
        if recorded is None:
            session.add(SiteSetting(key=FINGERPRINT, value=mine))
        elif recorded.value != mine:
            raise _mismatch(path)


def _mismatch(path: str) -> ConfigError:
    return ConfigError(
        f"[station] secret_file: {path} is not the secret this database was set up with; "
        "stations sharing a database must share one secret file (copy it from the first "
        "station)"
    )
