# SPDX-License-Identifier: GPL-3.0-or-later
"""Releasing one user's held jobs on this station's hold queues, each one audited.

With `[station] printer` set (follow-me), each job is moved to that queue and then released;
when the target printer is stopped or in error nothing is released and the jobs stay held.
Which jobs are the user's is HeldJobs' answer (releasestation.release.held).

Crash-safe: the jobs are claimed (a committed intent) before cupsd is asked, each is checked
to be still held, and every outcome is audited in the transaction that removes its claim.
A station that dies in between settles its claims at the next start
(releasestation.lifecycle.reconcile); no job is released twice, even by two stations.
The audit row carries the user's cost center at that moment, for billing.

A release whose answer never came, about a job cupsd could not be asked about either
(ReleaseInDoubt), is neither released nor failed: it may be printing. Its claim is kept,
not audited, and listed in the swipe's Outcome as `in_doubt`; the Releaser remembers it and
settles it from what cupsd then says (releasestation.release.settling) before its next
release. No database query is added to a swipe when there is none; a claim it never gets
to settle (the station stops, nobody swipes) is settled at the next start, or by any
station's housekeeping once it is 15 minutes old.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, select

from readers import clean
from releasestation.audit import Event
from releasestation.errors import ReleaseStationError
from releasestation.printq import HELD
from releasestation.printq.releases import ReleaseInDoubt
from releasestation.release.claims import Claim, event_of
from releasestation.release.resolution import cost_center_of
from releasestation.release.settling import job_now, settle_release
from releasestation.store.models import AuditRow, utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from releasestation.audit import Audit
    from releasestation.config import StationSettings
    from releasestation.directory import User
    from releasestation.printq import HeldJob, PrintServer
    from releasestation.release.claims import Claims
    from releasestation.release.held import HeldJobs
    from releasestation.release.resolution import OwnerResolver
    from releasestation.store import Store

log = logging.getLogger(__name__)

HANDLED_WINDOW = dt.timedelta(seconds=60)
IN_DOUBT = "cupsd's answer to the release never came; settled once cupsd answered"
_audit = AuditRow.__table__.c
# Jobs released or expired (by anyone) since a moment: built once, a plain query (no ORM
# work, no statement built afresh on the swipe's path)
_HANDLED = select(_audit.job_id, _audit.queue).where(
    _audit.job_id.in_(bindparam("ids", expanding=True)),
    _audit.event.in_(("release", "expire")),
    _audit.outcome == "ok",
    _audit.at >= bindparam("since"),
)


@dataclass
class Outcome:
    """What a release did: jobs released, jobs that failed (with why), jobs in doubt (sent,
    cupsd's answer never came and cupsd could not be asked: they may print; settled later,
    with why), or why none were. `released_at` is the wall-clock time cupsd had answered
    the last release (before the audit rows were written): the end of a swipe-to-release
    measurement. `ok` only when every job was released."""

    released: list[HeldJob] = field(default_factory=list)
    failed: list[tuple[HeldJob, str]] = field(default_factory=list)
    refused: str = ""
    released_at: float | None = None
    in_doubt: list[tuple[HeldJob, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.refused and not self.failed and not self.in_doubt


class Releaser:
    """Releases a user's held jobs (`held`) to `station`'s printer or their own queues."""

    def __init__(
        self,
        store: Store,
        audit: Audit,
        printq: PrintServer,
        held: HeldJobs,
        owners: OwnerResolver,
        claims: Claims,
        station: StationSettings,
    ):
        self.store = store
        self.audit = audit
        self.printq = printq
        self.held = held
        self.owners = owners
        self.claims = claims
        self.station = station
        self._in_doubt: list[Claim] = []  # claims of releases in doubt, not yet settled
        self._lock = threading.Lock()

    def held_jobs_for(self, username: str) -> list[HeldJob]:
        """The held jobs on this station's queues that belong to `username`."""
        return self.held.of(username, self.owners.resolved_to(username))

    def release_user_jobs(
        self,
        user: User,
        method: str,
        reader: str | None = None,
        only: Collection[int] | None = None,
        printer: str | None = None,
    ) -> Outcome:
        """Release every held job of `user` (with `only`, those of them whose ids it names:
        the web portal's "release this one"; an id of someone else's job is never theirs);
        audit each job, or the refusal. `printer`: the queue to release to instead of
        `[station] printer` (the portal's choice among `[web] release_printers`), checked
        and refused exactly as the station's own printer is."""
        target = printer or self.station.printer
        if self._in_doubt:  # a release of an earlier swipe that cupsd did not answer
            self.settle_in_doubt()
        with self.store.read() as session:  # one read of the store per swipe
            resolved = self.owners.resolved_to(user.username, session)
            cost_center = cost_center_of(self.store, user.username, user, session)
        jobs = self.held.of(user.username, resolved)
        if only is not None:
            jobs = [job for job in jobs if job.id in only]
        base = Event(
            "release", method=method, username=user.username, reader=reader,
            cost_center=cost_center,
        )  # fmt: skip
        if not jobs:
            self.audit.record(_with(base, outcome="no-jobs"))
            log.info("%s: %s has no held jobs", _where(method, reader), clean(user.username))
            return Outcome()
        problem = self.target_problem(jobs, target)
        if problem:
            self.audit.record(_with(base, event="deny", outcome="printer-error", detail=problem))
            log.warning(
                "not releasing %d job(s) of %s: %s", len(jobs), clean(user.username), problem
            )
            return Outcome(refused=problem)
        outcome = self._release(jobs, base, target)
        log.info(
            "%s: released job(s) %s of %s to %s%s",
            _where(method, reader),
            ",".join(str(j.id) for j in outcome.released) or "-",
            user.username,
            target or "their queues",
            f"; failed {','.join(str(j.id) for j, _ in outcome.failed)}" if outcome.failed else "",
        )
        if outcome.in_doubt:
            log.warning(
                "%s: job(s) %s of %s sent to cupsd, whose answer never came, and cupsd cannot"
                " say what became of them: they may print; settled once cupsd answers (%s)",
                _where(method, reader),
                ",".join(str(j.id) for j, _ in outcome.in_doubt),
                user.username,
                outcome.in_doubt[0][1],
            )
        return outcome

    def settle_in_doubt(self) -> int:
        """Settle the claims of releases in doubt (Outcome.in_doubt) this Releaser left,
        from what cupsd says of each job now (releasestation.release.settling); the number
        settled. Those cupsd still cannot say anything about are kept for the next time."""
        with self._lock:
            waiting, self._in_doubt = self._in_doubt, []
        done: list[tuple[Claim, Event | None]] = []
        recorded = 0
        try:
            # Only claims still in the store: housekeeping (or a restart) may have settled
            # one meanwhile, and acting on it again could release a job a second time.
            present = {claim.id for claim in self.claims.unsettled()}
            waiting = [claim for claim in waiting if claim.id in present]
            for claim in waiting:
                try:
                    job = job_now(self.printq, claim)
                    done.append((claim, settle_release(self.printq, claim, job, IN_DOUBT)))
                except ReleaseStationError as exc:
                    log.warning("releases in doubt not settled yet: %s", exc)
                    break
            self.claims.finish(done)
            recorded = len(done)
        except ReleaseStationError as exc:  # not settled, or not recorded: next time again
            log.warning("releases in doubt not settled yet: %s", exc)
            done = []
        finally:
            with self._lock:  # what was not recorded waits for the next release
                self._in_doubt[:0] = waiting[recorded:]
        for claim, settled in done:
            outcome = settled.outcome if settled else "dropped"
            log.warning("release of job %d, in doubt, settled: %s", claim.job_id, outcome)
        return len(done)

    def _release(self, jobs: list[HeldJob], base: Event, printer: str | None = None) -> Outcome:
        printer = printer or self.station.printer
        with self.store.write() as session:  # the claims, and what others did meanwhile
            claimed = self.claims.claim_in(
                session,
                jobs,
                "release",
                target=lambda j: printer or j.queue,
                username=base.username,
                method=base.method,
                reader=base.reader,
                cost_center=base.cost_center,
            )
            won = {claim.job_id for claim in claimed}
            flagged = self._audited_elsewhere(session, [j for j in jobs if j.id in won])
        # The audit does not say which cupsd a row was about: stations of one site may use
        # different servers numbering their jobs alike. Ask ours about the (rare) flagged ones.
        handled = {job.id for job in flagged if not self._still_held(job)}
        by_id = {job.id: job for job in jobs}
        # released or expired elsewhere meanwhile: nothing to audit, the other did
        done: list[tuple[Claim, Event | None]] = [(c, None) for c in claimed if c.job_id in handled]
        # oldest first: the first is released alone and starts first (release_all)
        mine = sorted((c for c in claimed if c.job_id not in handled), key=lambda c: c.job_id)
        errors = self.printq.release_all([by_id[claim.job_id] for claim in mine], printer)
        outcome = Outcome(released_at=time.time())
        kept = []  # in doubt: neither audited nor dropped
        for claim, error in zip(mine, errors, strict=True):
            job = by_id[claim.job_id]
            if error is None:
                outcome.released.append(job)
                done.append((claim, event_of(claim, "release", "ok")))
            elif isinstance(error, ReleaseInDoubt):
                outcome.in_doubt.append((job, str(error)))
                kept.append(claim)
            else:
                outcome.failed.append((job, str(error)))
                done.append((claim, event_of(claim, "release", "failed", str(error))))
        if kept:
            with self._lock:
                self._in_doubt += kept
        self.claims.finish(done)
        return outcome

    @staticmethod
    def _audited_elsewhere(session: Session, jobs: list[HeldJob]) -> list[HeldJob]:
        """Those of `jobs` another station (or run) released or expired between our listing
        and our claim: it audited them and dropped its claim, so ours succeeded. One indexed
        query, in the claim's transaction, instead of asking cupsd again (this is on the
        swipe's hot path); the window allows for clocks of stations that differ by up to
        HANDLED_WINDOW."""
        if not jobs:
            return []
        since = utcnow() - HANDLED_WINDOW
        found = session.execute(_HANDLED, {"ids": [job.id for job in jobs], "since": since})
        done = {(job_id, (queue or "").casefold()) for job_id, queue in found}
        return [job for job in jobs if (job.id, job.queue.casefold()) in done]

    def _still_held(self, job: HeldJob) -> bool:
        now = self.printq.job(job.id)
        return (
            now is not None
            and now.state == HELD
            and now.queue.casefold() == job.queue.casefold()
            and int(now.created) == int(job.created)
        )

    def target_problem(self, jobs: list[HeldJob], printer: str | None = None) -> str | None:
        """Why the printer(s) these jobs would go to (`printer`, else the station's, else
        their own queues) cannot print now, else None."""
        printer = printer or self.station.printer
        targets = {printer} if printer else {j.queue for j in jobs}
        for queue in sorted(targets):
            problem = self.printq.printer_problem(queue)
            if problem:
                return f"printer {queue}: {problem}"
        return None


def _where(method: str, reader: str | None) -> str:
    return f"reader {reader}" if reader else method


def _with(base: Event, **changes) -> Event:
    return dataclasses.replace(base, **changes)
