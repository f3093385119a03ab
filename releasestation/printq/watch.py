# SPDX-License-Identifier: GPL-3.0-or-later
"""Noticing newly held jobs: a light poll of cupsd, one small Get-Jobs per hold queue per
interval (asked on the queue, whose policy shows the station the owners).

Why a poll and not an IPP subscription: the poll asks only for jobs above the highest id
already seen (`first-job-id`), so cupsd answers with an empty list almost always. Measured
on the private cupsd: 0.25-0.3 ms per poll (0.06-0.14 ms of cupsd CPU) with 0, 500 or 2,000
jobs held, 0.75 ms with 10,000 (cupsd walks its list of active jobs, skipping the older
ones without a policy check), i.e. well under 0.1 % of a core at one poll a second. A pull
subscription (`notify-pull-method ippget`) would still need a Get-Notifications request per
interval, adds a lease to renew, and keeps its events in cupsd's memory only (gone when cupsd
restarts, capped by MaxEvents), so a full listing would be needed anyway to be sure. The
poll needs nothing from cupsd's policy beyond the station seeing job owners. (The swipe's
held-job index, releasestation.printq.index, does use such a subscription, for a different
need; docs/lifecycle.md, "Watching cupsd", says why the daemon runs both.)

A full listing (see PrintServer.held_jobs) is made at the first poll, after a poll
that failed (cupsd may have restarted without its job cache, and job ids then start again
from 1, below what the incremental poll asks for), and every `resync_seconds` as a safety
net. With 10,000 jobs held it costs cupsd seconds, so it is rare, not once a minute.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from releasestation.errors import PrintServerError

if TYPE_CHECKING:
    from releasestation.printq.jobs import HeldJob
    from releasestation.printq.server import PrintServer

log = logging.getLogger(__name__)

RESYNC_SECONDS = 3600.0


class NewJobs:
    """Held jobs on `queues` not returned before (a poller for one thread)."""

    def __init__(
        self,
        server: PrintServer,
        queues: Sequence[str],
        resync_seconds: float = RESYNC_SECONDS,
    ):
        self.server = server
        self.queues = tuple(queues)
        self.resync_seconds = resync_seconds
        self.next_id = 0
        self.seen: set[int] = set()
        self._last_full: float | None = None
        self._failed = False

    def poll(self) -> list[HeldJob]:
        """The held jobs that arrived since the last call (every held job on the first).
        PrintServerError when cupsd cannot answer; the next poll then lists everything."""
        now = time.monotonic()
        full = (
            self._failed or self._last_full is None or now - self._last_full >= self.resync_seconds
        )
        try:
            if full:
                jobs = self.server.held_jobs(self.queues, patient=True)
            else:
                jobs = self.server.held_since(self.next_id, self.queues)
        except PrintServerError:
            self._failed = True
            raise
        self._failed = False
        if full:
            self._last_full = now
            self.seen &= {job.id for job in jobs}  # forget finished jobs
        new = [job for job in jobs if job.id not in self.seen]
        self.seen.update(job.id for job in new)
        if jobs:
            self.next_id = max(self.next_id, max(job.id for job in jobs) + 1)
        return sorted(new, key=lambda job: job.id)
