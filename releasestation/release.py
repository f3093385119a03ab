# SPDX-License-Identifier: GPL-3.0-or-later
"""Releasing one user's held jobs on this station's hold queues, each one audited.

With `[station] printer` set (follow-me), each job is moved to that queue and then released;
when the target printer is stopped or in error nothing is released and the jobs stay held.
Only jobs whose owner name belongs to the user (see releasestation.owners) are touched.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from releasestation.audit import Event
from releasestation.errors import PrintServerError

if TYPE_CHECKING:
    from releasestation.app import App
    from releasestation.directory import User
    from releasestation.printq import HeldJob

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What a release did: jobs released, jobs that failed (with why), or why none were."""

    released: list[HeldJob] = field(default_factory=list)
    failed: list[tuple[HeldJob, str]] = field(default_factory=list)
    refused: str = ""

    @property
    def ok(self) -> bool:
        return not self.refused and not self.failed


class Releaser:
    def __init__(self, app: App):
        self.app = app
        self.station = app.config.station

    def held_jobs_for(self, username: str) -> list[HeldJob]:
        """The held jobs on this station's queues that belong to `username`."""
        matcher = self.app.matcher
        names = matcher.variants(username)
        if not names:
            return []
        jobs = self.app.printq.held_jobs_for(self.station.hold_queues, names)
        return [job for job in jobs if matcher.owns(job.owner, username)]

    def release_user_jobs(self, user: User, method: str, reader: str | None = None) -> Outcome:
        """Release every held job of `user`; audit each job, or the refusal."""
        jobs = self.held_jobs_for(user.username)
        base = Event("release", method=method, username=user.username, reader=reader)
        if not jobs:
            self.app.audit.record(_with(base, outcome="no-jobs"))
            log.info("reader %s: %s has no held jobs", reader, user.username)
            return Outcome()
        problem = self.target_problem(jobs)
        if problem:
            self.app.audit.record(
                _with(base, event="deny", outcome="printer-error", detail=problem)
            )
            log.warning("not releasing %d job(s) of %s: %s", len(jobs), user.username, problem)
            return Outcome(refused=problem)
        outcome = Outcome()
        events = []
        for job in jobs:
            target = self.station.printer or job.queue
            try:
                self.app.printq.release(job, self.station.printer)
            except PrintServerError as exc:
                outcome.failed.append((job, str(exc)))
                events.append(_job_event(base, job, target, "failed", str(exc)))
                continue
            outcome.released.append(job)
            events.append(_job_event(base, job, target, "ok"))
        self.app.audit.record(*events)
        log.info(
            "reader %s: released job(s) %s of %s to %s%s",
            reader,
            ",".join(str(j.id) for j in outcome.released) or "-",
            user.username,
            self.station.printer or "their queues",
            f"; failed {','.join(str(j.id) for j, _ in outcome.failed)}" if outcome.failed else "",
        )
        return outcome

    def target_problem(self, jobs: list[HeldJob]) -> str | None:
        """Why the printer(s) these jobs would go to cannot print now, else None."""
        targets = {self.station.printer} if self.station.printer else {j.queue for j in jobs}
        for queue in sorted(targets):
            problem = self.app.printq.printer_problem(queue)
            if problem:
                return f"printer {queue}: {problem}"
        return None


def _with(base: Event, **changes) -> Event:
    return dataclasses.replace(base, **changes)


def _job_event(base: Event, job: HeldJob, target: str, outcome: str, detail=None) -> Event:
    return _with(
        base,
        outcome=outcome,
        queue=job.queue,
        printer=target,
        job_id=job.id,
        title=job.title,
        pages=job.pages,
        detail=detail,
    )
