# SPDX-License-Identifier: GPL-3.0-or-later
"""One write transaction around a piece of credgen's work, retried when that is safe.

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

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from releasestation.credentials import records
from releasestation.errors import StoreError

if TYPE_CHECKING:
    from credgen.issue import Issuer
    from releasestation.app import App

log = logging.getLogger(__name__)

T = TypeVar("T")

LOCK = records.LOCK
MIN_GROWTH = 2000  # rows added before the statistics are worth refreshing


def in_transaction(app: App, issuer: Issuer, work: Callable[[Session], T]) -> T:
    settings = app.config.credgen
    clashes_left = settings.max_generation_attempts - 1
    outages_left = settings.db_retries
    while True:
        try:
            with app.store.write() as session:
                app.store.lock(session, LOCK)
                return work(session)
        except StoreError as exc:
            cause = exc.__cause__
            if isinstance(cause, IntegrityError) and clashes_left > 0:
                clashes_left -= 1
                log.info("another writer took a value at the same moment; drawing again")
                with app.store.read() as session:
                    issuer.reload_used(session)
                continue
            if isinstance(cause, OperationalError) and outages_left > 0:
                outages_left -= 1
                log.warning("%s; retrying in %.0f s", exc, settings.db_seconds_before_retry)
                time.sleep(settings.db_seconds_before_retry)
                continue
            raise


class Statistics:
    """Keeps PostgreSQL's planner statistics of the user tables fresh during a batch.

    A first run grows `users` and `credentials` from nothing to every user of the site.
    Planned from statistics of the empty tables, each group's lookup becomes a scan of the
    whole table (autovacuum analyzes about once a minute, if it runs at all), and the run
    slows down with every group. Analyzing after each fifth of growth keeps lookups on the
    indexes. SQLite needs none of this.
    """

    def __init__(self, app: App):
        self.store = app.store
        self.enabled = not self.store.is_sqlite
        self.known = self._count() if self.enabled else 0
        self.added = 0

    def grew(self, rows: int) -> None:
        if not self.enabled or not rows:
            return
        self.added += rows
        if self.added >= max(MIN_GROWTH, self.known // 5):
            self.analyze()

    def analyze(self) -> None:
        try:
            with self.store.engine.begin() as connection:
                connection.execute(text("ANALYZE users, credentials"))
        except SQLAlchemyError as exc:  # e.g. not the tables' owner: only slower
            log.info("cannot ANALYZE the user tables (%s); carrying on without", exc)
            self.enabled = False
        self.known += self.added
        self.added = 0

    def _count(self) -> int:
        with self.store.read() as session:
            return int(session.scalar(text("SELECT count(*) FROM users")) or 0)
