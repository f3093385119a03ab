# SPDX-License-Identifier: GPL-3.0-or-later
"""The parts of a station built from its config, each made on first use.

The CLI commands and the daemon share this; tests hand in parts started by fixtures.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING

from releasestation.audit import Audit
from releasestation.config import Config
from releasestation.directory import Directory, open_directory
from releasestation.owner_names import OwnerMatcher, StationOwners
from releasestation.secret import Hasher, load_or_create
from releasestation.store import Store
from releasestation.store.site import check_secret, record_secret

if TYPE_CHECKING:
    from releasestation.identity import Identity
    from releasestation.printq import PrintServer
    from releasestation.release import Releaser

log = logging.getLogger(__name__)


class App:
    def __init__(self, config: Config):
        self.config = config

    @functools.cached_property
    def store(self) -> Store:
        db = self.config.database
        return Store(db.url, busy_timeout=db.busy_timeout_seconds)

    @functools.cached_property
    def hasher(self) -> Hasher:
        path = self.config.station.secret_file
        secret = load_or_create(path)
        check_secret(self.store, secret, path)
        return Hasher(secret)

    def record_secret(self) -> None:
        """Load the secret and record its fingerprint in the database if none is yet."""
        path = self.config.station.secret_file
        secret = load_or_create(path)
        record_secret(self.store, secret, path)
        self.__dict__["hasher"] = Hasher(secret)  # checked just now: no second look

    @functools.cached_property
    def directory(self) -> Directory:
        return open_directory(self.config.directory, self.store, self.hasher)

    @functools.cached_property
    def printq(self) -> PrintServer:
        from releasestation.printq import PrintServer

        return PrintServer(self.config.cups)

    @functools.cached_property
    def owners(self) -> StationOwners:
        """Whose jobs are whose: the station's owner domains and realms, the directory's
        own where none are set (asked once; again later if the directory was away)."""
        return StationOwners(self.config.station, lambda: self.directory.own_names())

    @property
    def matcher(self) -> OwnerMatcher:
        return self.owners.matcher()

    @functools.cached_property
    def audit(self) -> Audit:
        keep_titles = self.config.audit.keep_titles
        return Audit(self.store, self.config.station.name, keep_titles=keep_titles)

    @functools.cached_property
    def identity(self) -> Identity:
        from releasestation.identity import Identity

        return Identity(self)

    @functools.cached_property
    def releaser(self) -> Releaser:
        from releasestation.release import Releaser

        return Releaser(self)

    def close(self) -> None:
        for name in ("directory", "printq", "store"):
            part = self.__dict__.pop(name, None)
            if part is not None:
                part.close()
