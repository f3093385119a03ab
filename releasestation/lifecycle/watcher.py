# SPDX-License-Identifier: GPL-3.0-or-later
"""The job watcher: a daemon service that notices newly held jobs as they arrive.

Every `[station] watch_every_seconds` it asks cupsd for held jobs it has not seen
(releasestation.printq.watch explains the poll), resolves the owner of those cupsd knows
under a generic name (stored for the swipe), and hands each owner to the visitor service,
so a visitor's PIN mail leaves within seconds of their job arriving. The first poll sees
every job already held, so nothing that arrived while the daemon was down is missed.
cupsd being away is logged once (releasestation.service) and asked again every interval:
a failed poll costs cupsd nothing, and the watcher should notice its return at once. The
directory being away is logged per batch of jobs; the watcher never stops. Why this poll
runs beside the held-job index: docs/lifecycle.md, "Watching cupsd".
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from releasestation.errors import ReleaseStationError
from releasestation.printq.watch import NewJobs
from releasestation.service import BackgroundService

if TYPE_CHECKING:
    from releasestation.lifecycle.visitors import Visitors
    from releasestation.printq import HeldJob, PrintServer
    from releasestation.release import OwnerResolver

log = logging.getLogger(__name__)

MAX_BACKOFF = 60.0  # seconds between polls while cupsd keeps failing them


class JobWatcher(BackgroundService):
    """Polls the hold `queues` of `printq` every `interval` seconds; the owners of new jobs
    are resolved (`owners`) and handed to `visitors`."""

    recovered = "cupsd answers again"

    def __init__(
        self,
        printq: PrintServer,
        queues: Sequence[str],
        owners: OwnerResolver,
        visitors: Visitors,
        interval: float,
    ):
        # A failed poll means cupsd is down or swamped, and the next one lists every held
        # job again: back off (up to a minute) rather than add that load every second.
        super().__init__("job watcher", "job-watcher", interval, MAX_BACKOFF, join_timeout=10)
        self.printq = printq
        self.queues = tuple(queues)
        self.owners = owners
        self.visitors = visitors
        self.listeners: list[Callable[[HeldJob, str | None], None]] = []  # (job, owner)
        self._jobs: NewJobs | None = None

    def start(self) -> None:
        """Start watching; the first poll (at once) sees every job already held."""
        if not self.running:
            self._jobs = NewJobs(self.printq, self.queues)
        super().start()

    def step(self) -> None:
        """One poll; its PrintServerError is the base's to log and retry."""
        if self._jobs is not None:
            arrived = self._jobs.poll()
            if arrived:
                self.handle(arrived)

    def handle(self, jobs: list[HeldJob]) -> None:
        """Resolve owners of new `jobs` and serve each owner once."""
        try:
            resolved = self.owners.owners_of(jobs)
        except ReleaseStationError as exc:
            log.error("job watcher: cannot resolve owners: %s", exc)
            resolved = {}
        owners: dict[str, None] = {}
        for job in jobs:
            owner = resolved.get(job.id) if self.owners.is_generic(job.owner) else job.owner
            if owner:
                owners.setdefault(owner)
            for listener in self.listeners:
                listener(job, owner)
        for owner in owners:
            try:
                self.visitors.arrived(owner)
            except ReleaseStationError as exc:
                log.error("job watcher: visitor %s not served: %s", owner, exc)
