# SPDX-License-Identifier: GPL-3.0-or-later
"""The station's peers as checked now: cupsd and its printers, the store, the directory, the
held jobs, the jobs stuck processing, and what mailprint last recorded of its mailbox (one
row of the store, releasestation.mailprint.heartbeat; not a part /readyz waits for). One
Probe serves /readyz, the metrics and the alerts; a check is kept for `cache_seconds`, so
a scraper polling often cannot load cupsd or the directory (concurrent callers wait for the
one check under way)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import text

from releasestation.errors import ReleaseStationError

if TYPE_CHECKING:
    from releasestation.directory import Directory
    from releasestation.mailprint.heartbeat import Heartbeat
    from releasestation.printq import PrintServer
    from releasestation.printq.index import HeldIndex
    from releasestation.printq.server import ProcessingJob
    from releasestation.store import Store

PRINTER_STATES = {3: "idle", 4: "processing", 5: "stopped"}


@dataclass(frozen=True)
class Part:
    """One peer: does it answer, and if not, why not (one line)."""

    name: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class Printer:
    name: str
    state: int  # IPP printer-state: 3 idle, 4 processing, 5 stopped; 0 unknown
    accepting: bool
    message: str
    problem: str | None  # stopped, in error, not accepting; None when it prints

    @property
    def state_name(self) -> str:
        return PRINTER_STATES.get(self.state, "unknown")


@dataclass(frozen=True)
class Snapshot:
    at: float  # wall-clock time of the check
    cupsd: Part
    store: Part
    directory: Part
    printers: list[Printer] = field(default_factory=list)
    held: dict[str, tuple[int, float | None]] | None = None  # queue: (count, oldest created)
    stuck: list[ProcessingJob] = field(default_factory=list)
    mailprint: Heartbeat | None = None  # its last record, when it runs for this station

    @property
    def parts(self) -> list[Part]:
        return [self.cupsd, self.store, self.directory]

    @property
    def mailprint_problem(self) -> str | None:
        return self.mailprint.problem(self.at) if self.mailprint is not None else None


class Probe:
    def __init__(
        self,
        printq: PrintServer,
        store: Store,
        directory: Directory,
        queues: Sequence[str],
        printer: str | None = None,
        held_index: HeldIndex | None = None,
        cache_seconds: float = 5.0,
        stuck_after: float = 1800.0,
        clock: Callable[[], float] = time.time,
        mailprint: Callable[[], Heartbeat | None] | None = None,
    ):
        """`mailprint`: reads mailprint's last record (None: mailprint is not set up)."""
        self.printq = printq
        self.store = store
        self.directory = directory
        self.queues = tuple(queues)
        self.printers = tuple(dict.fromkeys([*self.queues, *([printer] if printer else [])]))
        self.held_index = held_index
        self.cache_seconds = cache_seconds
        self.stuck_after = stuck_after
        self.clock = clock
        self.mailprint = mailprint
        self._lock = threading.Lock()
        self._last: Snapshot | None = None
        self._checked = -1e18  # monotonic time of the last check

    def snapshot(self, fresh: bool = False) -> Snapshot:
        """The latest check, made now when older than cache_seconds (or `fresh`)."""
        with self._lock:
            if (
                fresh
                or self._last is None
                or time.monotonic() - self._checked >= self.cache_seconds
            ):
                self._last = self._check()
                self._checked = time.monotonic()
            return self._last

    def _check(self) -> Snapshot:
        now = self.clock()
        printers: list[Printer] = []
        stuck: list[ProcessingJob] = []
        try:
            for name in self.printers:
                printers.append(self._printer(name))
            processing = self.printq.processing_jobs(self.printers)
            stuck = [j for j in processing if j.started and now - j.started > self.stuck_after]
            cupsd = Part("cupsd", True)
        except ReleaseStationError as exc:
            cupsd = Part("cupsd", False, _line(exc))
            printers = []
        store = self._store()
        mailprint = self.mailprint() if self.mailprint is not None and store.ok else None
        return Snapshot(
            now, cupsd, store, self._directory(), printers, self._held(), stuck, mailprint
        )

    def _printer(self, name: str) -> Printer:
        attrs = self.printq.queue_attributes(name)
        if attrs is None:
            return Printer(name, 0, False, "", "no such queue")
        return Printer(
            name,
            int(attrs.get("printer-state") or 0),
            bool(attrs.get("printer-is-accepting-jobs", True)),
            str(attrs.get("printer-state-message") or "").strip(),
            self.printq.printer_problem(name),
        )

    def _store(self) -> Part:
        try:
            with self.store.read() as session:
                session.execute(text("SELECT 1"))
        except ReleaseStationError as exc:
            return Part("store", False, _line(exc))
        return Part("store", True)

    def _directory(self) -> Part:
        try:
            problems = self.directory.check()
        except ReleaseStationError as exc:
            problems = [str(exc)]
        return Part("directory", not problems, _line("; ".join(problems)))

    def _held(self) -> dict[str, tuple[int, float | None]] | None:
        """Held jobs per queue from the held-job index when it vouches for itself (no
        request to cupsd); None otherwise."""
        if self.held_index is None:
            return None
        return self.held_index.summary()


def _line(what: object) -> str:
    return " ".join(str(what).split())[:300]
