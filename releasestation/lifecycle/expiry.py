# SPDX-License-Identifier: GPL-3.0-or-later
"""Expiry: held jobs older than `[station] hold_hours` are cancelled and purged, each audited.

A job's age comes from cupsd (`time-at-creation`); the clock is injected so tests need not
wait nine hours. Several stations may serve one hold queue and all run expiry: each job is
claimed first (releasestation.release.claims), so exactly one station cancels it and
audits it; a station that finds the job already gone from cupsd drops its claim quietly.
The audit row names the owner (the resolved owner of a generic-owner job), the title unless
`[audit] keep_titles = no`, the age and the owner's cost center.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from readers import clean
from releasestation.audit import Event
from releasestation.errors import PrintServerError
from releasestation.printq import HELD
from releasestation.release import Claim, event_of
from releasestation.release.resolution import cost_center_of
from releasestation.store.models import utcnow

if TYPE_CHECKING:
    from releasestation.config import StationSettings
    from releasestation.printq import HeldJob, PrintServer
    from releasestation.release import Claims, OwnerResolver
    from releasestation.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Expired:
    """One job expiry looked at: `outcome` is expired | would expire | failed | elsewhere."""

    job: HeldJob
    owner: str
    age_hours: float
    outcome: str
    detail: str = ""


class Expirer:
    """Expires held jobs on `station`'s hold queues after its hold_hours."""

    def __init__(
        self,
        store: Store,
        printq: PrintServer,
        owners: OwnerResolver,
        claims: Claims,
        station: StationSettings,
        clock: Callable[[], dt.datetime] = utcnow,
    ):
        self.store = store
        self.printq = printq
        self.owners = owners
        self.claims = claims
        self.clock = clock
        self.hours = station.hold_hours
        self.queues = station.hold_queues

    def due(self, held: Sequence[HeldJob] | None = None) -> list[tuple[HeldJob, float]]:
        """(job, age in hours) of every held job on the hold queues past hold_hours;
        `held`: a listing of the hold queues the caller has just made."""
        if not self.hours:
            return []
        now = self.clock().timestamp()
        limit = self.hours * 3600
        jobs = self.printq.held_jobs(self.queues) if held is None else held
        return [
            (j, (now - j.created) / 3600) for j in jobs if j.created and now - j.created > limit
        ]

    def run(self, dry_run: bool = False, held: Sequence[HeldJob] | None = None) -> list[Expired]:
        """Expire what is due (or, with `dry_run`, say what would go)."""
        due = self.due(held)
        if not due:
            return []
        resolved = self.owners.owners_of([job for job, _ in due])
        names = {job.id: self.owners.username_of(job, resolved.get(job.id)) for job, _ in due}
        if dry_run:
            return [Expired(job, names[job.id], age, "would expire") for job, age in due]
        centers = {n: cost_center_of(self.store, n) for n in set(names.values())}
        won = self.claims.claim(
            [job for job, _ in due],
            "expire",
            username=lambda j: names[j.id],
            cost_center=lambda j: centers[names[j.id]],
        )
        ages = {job.id: (job, age) for job, age in due}
        results, done = [], []
        for claim in won:
            job, age = ages[claim.job_id]
            event, result = self._expire(claim, job, age)
            done.append((claim, event))
            results.append(result)
        self.claims.finish(done)
        lost = set(ages) - {claim.job_id for claim in won}
        results += [Expired(ages[i][0], names[i], ages[i][1], "elsewhere") for i in sorted(lost)]
        return results

    def _expire(self, claim: Claim, job: HeldJob, age: float) -> tuple[Event | None, Expired]:
        owner = claim.username or job.owner
        if not self._still_held(job):
            return None, Expired(job, owner, age, "elsewhere", "already gone from cupsd")
        try:
            self.printq.cancel(job.id, purge=True)
        except PrintServerError as exc:
            if not self._still_held(job):  # cupsd refused a second cancel
                return None, Expired(job, owner, age, "elsewhere", "cancelled by another")
            log.error("job %d of %s: cannot expire it: %s", job.id, clean(owner), exc)
            return event_of(claim, "expire", "failed", str(exc)), Expired(
                job, owner, age, "failed", str(exc)
            )
        detail = f"held {age:.1f} h (limit {self.hours:g} h)"
        if owner != job.owner:
            detail += f"; cupsd owner {job.owner}"
        log.info("job %d of %s on %s expired: %s", job.id, clean(owner), job.queue, clean(detail))
        return event_of(claim, "expire", "ok", detail), Expired(job, owner, age, "expired", detail)

    def _still_held(self, job: HeldJob) -> bool:
        now = self.printq.job(job.id)
        return now is not None and now.state == HELD and int(now.created) == int(job.created)
