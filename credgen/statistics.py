# SPDX-License-Identifier: GPL-3.0-or-later
"""PostgreSQL's planner statistics of the user tables, kept fresh while a batch grows them."""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from releasestation.store import Store

log = logging.getLogger(__name__)

MIN_GROWTH = 2000  # rows added before the statistics are worth refreshing


class Statistics:
    """Keeps PostgreSQL's planner statistics of the user tables fresh during a batch.

    A first run grows `users` and `credentials` from nothing to every user of the site.
    Planned from statistics of the empty tables, each group's lookup becomes a scan of the
    whole table (autovacuum analyzes about once a minute, if it runs at all), and the run
    slows down with every group. Analyzing after each fifth of growth keeps lookups on the
    indexes. SQLite needs none of this.
    """

    def __init__(self, store: Store):
        self.store = store
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
