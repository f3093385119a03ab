# SPDX-License-Identifier: GPL-3.0-or-later
"""Housekeeping: a daemon service for the slow parts of the held-job lifecycle.

`start()` settles the claims this station left when it last stopped (crash safety) before
the readers start. Then, every `[station] expire_every_seconds` (the first round at once):
expire old held jobs, settle claims a vanished station left (or any claim 15 minutes old:
a release in doubt that its station has not settled since, which the Releaser otherwise
does before its next release, releasestation.release.releaser), forget resolved owners of jobs
that are gone, record the pages cupsd printed for jobs released lately (lifecycle.pages),
once an hour verify the newest rows of the audit chain (`audit.verify_newest`: a full
walk of a year's trail is `releasestation audit verify`'s, not every round's), and once a
day apply `[audit]` retention. What it did is kept in `rounds` (the last expiry run, jobs
expired, the last verification) for the metrics and `releasestation status`. A failing
chore is logged and tried again next round, which keeps its pace
(releasestation.service); the service never stops the daemon.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from releasestation.audit import verify_newest
from releasestation.errors import ReleaseStationError
from releasestation.lifecycle import pages, reconcile, retention
from releasestation.service import BackgroundService
from releasestation.store.models import utcnow

if TYPE_CHECKING:
    from releasestation.audit import Audit
    from releasestation.config import AuditSettings
    from releasestation.lifecycle.expiry import Expirer
    from releasestation.printq import HeldJob, PrintServer
    from releasestation.release import Claims, OwnerResolver
    from releasestation.store import Store

log = logging.getLogger(__name__)

RETENTION_EVERY = dt.timedelta(days=1)
OWNERS_KEPT = dt.timedelta(hours=1)  # a just-resolved job may not be listed yet
VERIFY_EVERY = dt.timedelta(hours=1)
VERIFY_ROWS = 10_000  # the newest rows checked each time: well under a second


@dataclass
class Rounds:
    """What housekeeping has done since the daemon started (Unix times; None: not yet)."""

    expiry_at: float | None = None  # the last expiry run that could list the held jobs
    expired: int = 0  # jobs expired
    verify_at: float | None = None  # the last verification of the newest audit rows
    verify_ok: bool | None = None


class Housekeeping(BackgroundService):
    """The chores, every `interval` seconds, on the hold `queues` of `printq`;
    `audit_settings`: `[audit]`, for retention."""

    def __init__(
        self,
        expirer: Expirer,
        claims: Claims,
        resolver: OwnerResolver,
        printq: PrintServer,
        queues: Sequence[str],
        store: Store,
        audit: Audit,
        audit_settings: AuditSettings,
        interval: float,
        clock: Callable[[], dt.datetime] = utcnow,
    ):
        super().__init__("housekeeping", "housekeeping", interval, join_timeout=30)
        self.expirer = expirer
        self.claims = claims
        self.resolver = resolver
        self.printq = printq
        self.queues = tuple(queues)
        self.store = store
        self.audit = audit
        self.audit_settings = audit_settings
        self.clock = clock
        self.reconciled = False
        self.last_retention: dt.datetime | None = None
        self.rounds = Rounds()

    def start(self) -> None:
        """Settle this station's own claims (before the readers start), then run rounds."""
        self.settle_own()
        super().start()

    def settle_own(self) -> None:
        """Settle the claims this station left (at start, and until that has worked)."""
        try:
            settled = reconcile.reconcile(self.claims, self.printq)
        except ReleaseStationError as exc:
            log.error("cannot settle this station's unfinished releases yet: %s", exc)
            return
        self.reconciled = True
        if settled:
            log.warning("settled %d release(s)/expiries left unfinished", len(settled))

    def step(self) -> None:
        """One round of every chore; each failure is logged and left for the next round."""
        if not self.reconciled:
            self.settle_own()
        now = self.clock()
        held = self._held()  # one listing for the round: 10,000 jobs cost cupsd seconds
        if held is not None:
            self._chore("expiry", lambda: self._expire(held, now))
        claims, printq = self.claims, self.printq
        self._chore("settling stale claims", lambda: reconcile.reconcile_stale(claims, printq, now))
        if held is not None:
            self._chore("forgetting owners of finished jobs", lambda: self._forget_owners(held))
        store, audit = self.store, self.audit
        self._chore("recording pages printed", lambda: pages.record(printq, store, audit, now))
        verified = self.rounds.verify_at
        if verified is None or now.timestamp() - verified >= VERIFY_EVERY.total_seconds():
            self._chore("verifying the audit chain", lambda: self._verify(now))
        if self.last_retention is None or now - self.last_retention >= RETENTION_EVERY:
            self._chore("audit retention", lambda: self._retention(now))

    def _chore(self, what: str, work: Callable[[], object]) -> None:
        try:
            work()
        except ReleaseStationError as exc:
            log.error("housekeeping: %s failed: %s", what, exc)

    def _held(self) -> list[HeldJob] | None:
        try:
            return self.printq.held_jobs(self.queues, patient=True)
        except ReleaseStationError as exc:
            log.error("housekeeping: cannot list held jobs (no expiry this round): %s", exc)
            return None

    def _expire(self, held: list[HeldJob], now: dt.datetime) -> None:
        done = self.expirer.run(held=held)
        self.rounds.expired += sum(1 for e in done if e.outcome == "expired")
        self.rounds.expiry_at = now.timestamp()

    def _verify(self, now: dt.datetime) -> None:
        _, bad, why = verify_newest(self.store, VERIFY_ROWS)
        self.rounds.verify_at, self.rounds.verify_ok = now.timestamp(), bad is None
        if bad is not None:
            log.error("housekeeping: audit chain broken at row %d: %s", bad, why)

    def _forget_owners(self, held: list[HeldJob]) -> None:
        ids = {job.id for job in held}
        self.resolver.forget_except(ids, self.clock() - OWNERS_KEPT)

    def _retention(self, now: dt.datetime) -> None:
        result = retention.apply(self.store, self.audit, self.audit_settings, now)
        self.last_retention = now
        if result.rows:
            log.info("housekeeping: %s", result.summary())
