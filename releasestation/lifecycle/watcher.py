# SPDX-License-Identifier: GPL-3.0-or-later
"""The job watcher: a daemon service that notices newly held jobs as they arrive.

Every `[station] watch_every_seconds` it asks cupsd for held jobs it has not seen
(releasestation.printq.watch explains the poll), resolves the owner of those cupsd knows
under a generic name (stored for the swipe), and hands each owner to the visitor service,
so a visitor's PIN mail leaves within seconds of their job arriving. The first poll sees
every job already held, so nothing that arrived while the daemon was down is missed.
cupsd or the directory being away is logged once and retried; the watcher never stops.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from releasestation.errors import ReleaseStationError
from releasestation.printq.watch import NewJobs

if TYPE_CHECKING:
    from releasestation.app import App
    from releasestation.printq import HeldJob

log = logging.getLogger(__name__)


class JobWatcher:
    def __init__(self, app: App, interval: float | None = None):
        self.app = app
        self.interval = interval or app.config.station.watch_every_seconds
        self.owners = app.resolver
        self.visitors = app.visitors
        self.listeners: list[Callable[[HeldJob, str | None], None]] = []  # (job, owner)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="job-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def _run(self) -> None:
        station = self.app.config.station
        jobs = NewJobs(self.app.printq, station.hold_queues)
        while not self._stop.is_set():
            try:
                self._round(jobs)
            except Exception:  # a bug must not end the watcher for the daemon's life
                log.exception("job watcher: unexpected failure; carrying on")
            self._stop.wait(self.interval)

    def _round(self, jobs: NewJobs) -> None:
        try:
            arrived = jobs.poll()
        except ReleaseStationError as exc:
            if not self._failing:
                log.error("job watcher: %s (retrying every %g s)", exc, self.interval)
            self._failing = True
            return
        if self._failing:
            log.info("job watcher: cupsd answers again")
            self._failing = False
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
