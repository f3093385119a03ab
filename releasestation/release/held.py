# SPDX-License-Identifier: GPL-3.0-or-later
"""HeldJobs: whose held jobs are whose, on the station's hold queues.

A user's jobs are those whose owner name belongs to the user (releasestation.owner_names:
`CORP\\alice`, `alice@realm`, `ALICE`; or the very same name, as for visitors known by
their e-mail address), and those cupsd knows under a generic name whose resolved owner is
the user (releasestation.release.resolution, which says which ones by id).

Jobs by owner name come from the held-job index when the daemon keeps one and it can vouch
for being complete (releasestation.printq.index: no walk over cupsd's jobs), else from
cupsd itself (one `my-jobs` Get-Jobs per owner-name form, PrintServer.held_jobs_for). Either
way every job is checked again here, so a job of someone else is never returned.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from releasestation.owner_names import fold, same_name

if TYPE_CHECKING:
    from releasestation.owner_names import MatcherSource
    from releasestation.printq import HeldJob, PrintServer
    from releasestation.printq.index import HeldIndex


class HeldJobs:
    """Held jobs on `queues` of the cupsd `printq` talks to; `index`: the daemon's held-job
    index (asked first, trusted only when it vouches for itself)."""

    def __init__(
        self,
        printq: PrintServer,
        queues: Sequence[str],
        matcher: MatcherSource,
        index: HeldIndex | None = None,
    ):
        self.printq = printq
        self.queues = tuple(queues)
        self.matcher = matcher
        self.index = index
        self._wanted = {q.casefold() for q in self.queues}

    def of(self, username: str, resolved: Sequence[tuple[int, int]] = ()) -> list[HeldJob]:
        """The held jobs of `username`, oldest first: those owned under one of the user's
        names, and those of `resolved` ((job id, time of creation) of the generic-owner
        jobs resolved to the user) that cupsd still holds as they were."""
        jobs = {job.id: job for job in self.owned_by_name(username)}
        for job in self.resolved(resolved):
            jobs.setdefault(job.id, job)
        return [jobs[i] for i in sorted(jobs)]

    def owned_by_name(self, username: str) -> list[HeldJob]:
        """The held jobs whose owner name is one of `username`'s, oldest first."""
        matcher, name = self.matcher(), username.strip()
        names = matcher.variants(name) or ([name] if name else [])
        if not names:
            return []
        jobs = self._by_names(names)
        return [j for j in jobs if matcher.owns(j.owner, name) or same_name(j.owner, name)]

    def _by_names(self, names: Sequence[str]) -> list[HeldJob]:
        index = self.index
        found = index.held_for(self.queues, names) if index is not None else None
        if found is None:  # no index, or it cannot vouch now: cupsd knows
            found = self.printq.held_jobs_for(self.queues, names)
        wanted = {fold(n) for n in names if n}
        return [j for j in found if fold(j.owner) in wanted and self._held_here(j)]

    def resolved(self, resolved: Iterable[tuple[int, int]]) -> list[HeldJob]:
        """The jobs of `resolved` that cupsd still holds, as created, on the hold queues
        (asked by id: usually none, on the swipe's path)."""
        jobs = []
        for job_id, created in resolved:
            job = self.printq.job(job_id)
            if job is not None and int(job.created) == created and self._held_here(job):
                jobs.append(job)
        return jobs

    def _held_here(self, job: HeldJob) -> bool:
        return job.held and job.queue.casefold() in self._wanted
