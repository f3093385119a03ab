# SPDX-License-Identifier: GPL-3.0-or-later
"""One write transaction around issuing credentials, retried when that is safe.

A clash on a unique digest or user name (another station or run wrote the same moment) is
retried with fresh draws up to `max_generation_attempts` times; a database that is busy or
away is retried `db_retries` times, `db_seconds_before_retry` apart. Anything else, and a
mail failure in particular, rolls the transaction back and is raised.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from releasestation.credentials import records
from releasestation.errors import StoreError

if TYPE_CHECKING:
    from releasestation.credentials.issuing import Issuer
    from releasestation.credentials.settings import CredgenSettings
    from releasestation.store import Store

log = logging.getLogger(__name__)

T = TypeVar("T")

LOCK = records.LOCK


def in_transaction(
    store: Store, settings: CredgenSettings, issuer: Issuer, work: Callable[[Session], T]
) -> T:
    """`work` in one write transaction of `store` under the credentials lock; retried as
    the module docstring says."""
    clashes_left = settings.max_generation_attempts - 1
    outages_left = settings.db_retries
    while True:
        try:
            with store.write() as session:
                store.lock(session, LOCK)
                return work(session)
        except StoreError as exc:
            cause = exc.__cause__
            if isinstance(cause, IntegrityError) and clashes_left > 0:
                clashes_left -= 1
                log.info("another writer took a value at the same moment; drawing again")
                with store.read() as session:
                    issuer.reload_used(session)
                continue
            if isinstance(cause, OperationalError) and outages_left > 0:
                outages_left -= 1
                log.warning("%s; retrying in %.0f s", exc, settings.db_seconds_before_retry)
                time.sleep(settings.db_seconds_before_retry)
                continue
            raise
