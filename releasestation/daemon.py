# SPDX-License-Identifier: GPL-3.0-or-later
"""The station daemon: readers feed one queue, one worker resolves and releases in order.

One consumer means the same job can never be released twice by two swipes racing. The same
card on the same reader within `debounce_seconds` is ignored. A failing reader, directory or
cupsd is logged and retried; the daemon keeps serving the rest. SIGTERM stops it promptly.
"""

from __future__ import annotations

import gc
import logging
import queue
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from readers import Reader, ReaderSettings, Swipe, build_reader, clean
from releasestation import sdnotify
from releasestation.audit import Event
from releasestation.errors import ReleaseStationError, StoreError
from releasestation.lifecycle.housekeeping import Housekeeping

if TYPE_CHECKING:
    from releasestation.app import App
    from releasestation.audit import Audit
    from releasestation.config import StationSettings
    from releasestation.identity import Identity
    from releasestation.monitoring.metrics import StationMetrics
    from releasestation.release import Outcome, Releaser
    from releasestation.service import BackgroundService

log = logging.getLogger(__name__)

STOP = object()
# A swipe in hand for longer than this means the worker is stuck (e.g. a lock that never
# comes): the watchdog is no longer fed, and systemd restarts the station.
STUCK_SECONDS = 60.0


def build_services(app: App) -> list[BackgroundService]:
    """The background work beside the readers, in the order it starts (before the readers;
    it stops in reverse, after them): the held-job index (a swipe's jobs found by id),
    housekeeping (in start(), this station's unfinished releases settled; then expiry, stale
    claims, owners of finished jobs and audit retention on a schedule) and the job watcher
    (owners resolved and visitors served as jobs arrive). docs/lifecycle.md says how often."""
    return [app.held_index, app.housekeeping(), app.job_watcher()]


def build_station(
    app: App,
    readers: list[Reader] | None = None,
    services: Sequence[BackgroundService] | None = None,
) -> Station:
    """The station of `app`'s parts: its readers (those of the config file unless given)
    and background services (build_services unless given, then the monitoring server and
    the alerts, which watch this station)."""
    station = Station(
        app.identity,
        app.releaser,
        app.audit,
        app.config.station,
        services=build_services(app) if services is None else services,
        readers=readers,
        reader_settings=app.config.readers,
        on_start=app.record_secret,
    )
    station.metrics = app.station_metrics(station)
    station.identity.directory_timed = station.metrics.directory_request
    app.visitors.results = station.metrics.credentials
    kept = [s.rounds for s in station.services if isinstance(s, Housekeeping)]
    if kept:
        station.metrics.records.rounds = lambda: kept[0]
    if services is None:
        station.services += app.monitoring_services(station)
    return station


class Station:
    """Runs the readers and the worker; `handle()` is one swipe's whole journey: `identity`
    says who swiped, `releaser` releases their jobs, `audit` records every denial.
    `readers`: built from `reader_settings` unless given; `on_start`: called first in
    start() (the daemon loads the site secret there)."""

    def __init__(
        self,
        identity: Identity,
        releaser: Releaser,
        audit: Audit,
        settings: StationSettings,
        services: Sequence[BackgroundService] = (),
        readers: list[Reader] | None = None,
        reader_settings: Mapping[str, ReaderSettings] | None = None,
        on_start: Callable[[], None] | None = None,
    ):
        self.identity = identity
        self.releaser = releaser
        self.audit = audit
        self.settings = settings
        self.services = list(services)
        self.on_start = on_start
        self.queue: queue.Queue = queue.Queue()
        self.readers = readers if readers is not None else self._build(reader_settings or {})
        self._last_seen: dict[tuple[str, str], float] = {}
        self._worker: threading.Thread | None = None
        self.busy_since: float | None = None  # monotonic time the current swipe was taken
        self.stuck_after = STUCK_SECONDS  # one swipe in hand this long: the worker is stuck
        self.stopped = threading.Event()
        self.handled = 0
        self.last_release: Outcome | None = None  # the worker's latest release (bench, tests)
        self.listeners: list[Callable[[Swipe, str], None]] = []  # (swipe, outcome) for tests
        self.metrics: StationMetrics | None = None  # counts each swipe (no I/O)
        self._denial: str | None = None  # why the swipe in hand released nothing
        self._locking = False  # the swipe in hand started a lockout

    def _build(self, reader_settings: Mapping[str, ReaderSettings]) -> list[Reader]:
        built = []
        for name, settings in reader_settings.items():
            if settings.enabled:
                built.append(build_reader(name, settings, self.queue.put))
        return built

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        # Load the site secret now: a wrong one stops the start-up (ConfigError), and no
        # later swipe first meets it inside a transaction.
        if self.on_start is not None:
            self.on_start()
        for service in self.services:
            service.start()
        self._worker = threading.Thread(target=self._work, name="release-worker", daemon=True)
        self._worker.start()
        for reader in self.readers:
            reader.start()
        log.info("station %s: %d reader(s) started", self.settings.name, len(self.readers))

    def stop(self) -> None:
        self.stopped.set()
        for reader in self.readers:
            reader.stop()
        self.queue.put(STOP)
        if self._worker is not None:
            self._worker.join(10)
        for service in reversed(self.services):
            service.stop()

    def alive(self) -> bool:
        return self._worker is not None and self._worker.is_alive()

    def troubles(self) -> list[str]:
        """What is wrong with the background services now, as `name: problem`."""
        found = ((s.name, s.problem) for s in self.services)
        return [f"{name}: {' '.join(problem.split())}" for name, problem in found if problem]

    # -- the worker -----------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            item = self.queue.get()
            if item is STOP:
                return
            outcome = "error"
            self.busy_since = time.monotonic()
            try:
                outcome = self.handle(item)
            except Exception:
                log.exception("reader %s: failed to handle %s", item.reader, item)
                self._feedback(item, False)
            finally:
                self.busy_since = None
            self.handled += 1
            if self.metrics is not None:
                self._count(self.metrics, item, outcome)
            for listener in self.listeners:
                try:
                    listener(item, outcome)
                except Exception:
                    log.exception("swipe listener failed")

    def _count(self, metrics: StationMetrics, swipe: Swipe, outcome: str) -> None:
        """One swipe into the metrics: a few increments, no I/O."""
        result = self.last_release
        released = len(result.released) if result is not None else 0
        seconds = None
        if result is not None and result.released and result.released_at is not None:
            seconds = result.released_at - swipe.at
        denial = self._denial or ("refused" if outcome == "refused" else None)
        try:
            metrics.observe(swipe, outcome, denial, self._locking, released, seconds)
        except Exception:
            log.exception("metrics: cannot count a swipe")

    def stuck(self, limit: float | None = None) -> bool:
        """True when one swipe has been in hand for longer than `limit` seconds
        (`stuck_after` unless given)."""
        since = self.busy_since
        limit = self.stuck_after if limit is None else limit
        return since is not None and time.monotonic() - since > limit

    def shown(self, swipe: Swipe, method: str | None = None) -> str:
        """What a log line may show of the value: nothing of a PIN or code, the last
        digits of a card."""
        method = method or self.identity.method_of(swipe)
        return swipe.masked() if method == "card" else "****"

    def debounced(self, swipe: Swipe) -> bool:
        """True when the same value came from the same reader within debounce_seconds, on
        the monotonic clock (Swipe.seen): a wall clock stepped back or forward between two
        reads neither lets a repeat through nor holds a new swipe back."""
        window = self.settings.debounce_seconds
        key = (swipe.reader, swipe.value)
        last = self._last_seen.get(key)
        self._last_seen[key] = swipe.seen
        if len(self._last_seen) > 1024:
            horizon = swipe.seen - window
            self._last_seen = {k: t for k, t in self._last_seen.items() if t >= horizon}
        return last is not None and 0 <= swipe.seen - last < window

    def handle(self, swipe: Swipe) -> str:
        """Identify the person and release their jobs; returns a one-word outcome."""
        self.last_release = None
        self._denial, self._locking = None, False
        if self.debounced(swipe):
            log.debug("reader %s: %s ignored (debounce)", swipe.reader, self.shown(swipe))
            return "debounced"
        try:
            who = self.identity.identify(swipe)
        except ReleaseStationError as exc:
            log.error("reader %s: cannot identify %s: %s", swipe.reader, self.shown(swipe), exc)
            self._denial = "lookup-failed"
            self._deny(swipe, "lookup-failed", str(exc), method=None)
            return "lookup-failed"
        if who.user is None:
            shown = self.shown(swipe, who.method)
            log.info(
                "reader %s: denied %s %s: %s", swipe.reader, who.method, shown, clean(who.reason)
            )
            self._denial, self._locking = ("locked" if who.locked else "unknown"), who.locking
            self._deny(swipe, "unknown", who.reason, who.method)
            return "denied"
        try:
            result = self.releaser.release_user_jobs(who.user, who.method, swipe.reader)
        except ReleaseStationError as exc:
            log.error(
                "reader %s: release for %s failed: %s", swipe.reader, clean(who.user.username), exc
            )
            part = "store" if isinstance(exc, StoreError) else "print-server"
            self._denial = part
            self._deny(swipe, part, str(exc), who.method, who.user.username)
            return "release-failed"
        self.last_release = result
        if result.released and result.released_at is not None:
            log.debug(
                "reader %s: %d job(s) released %.1f ms after the swipe",
                swipe.reader,
                len(result.released),
                (result.released_at - swipe.at) * 1000,
            )
        self._feedback(swipe, result.ok)
        if result.refused:
            return "refused"
        if result.released:
            return "released"
        # none released: every job failed, or is in doubt (sent, never answered)
        return "release-failed" if result.failed or result.in_doubt else "no-jobs"

    def _deny(self, swipe: Swipe, outcome: str, detail: str, method, username=None) -> None:
        self._feedback(swipe, False)
        event = Event("deny", outcome, method, username, swipe.reader, detail=detail)
        try:
            self.audit.record(event)
        except ReleaseStationError as exc:
            log.error("audit: cannot record a denial: %s", exc)

    def _feedback(self, swipe: Swipe, ok: bool) -> None:
        for reader in self.readers:
            if reader.name == swipe.reader:
                reader.feedback(ok)


def settle_memory() -> None:
    """Collect what start-up left behind, then keep every object alive now (modules,
    configuration, connections) out of later garbage collections: a full collection over
    them takes tens of milliseconds, and one that falls inside a swipe delays it by as
    much. Objects made from now on are collected as usual."""
    gc.collect()
    gc.freeze()


def run(app: App, ready: Callable[[Station], None] | None = None) -> int:
    """Run until SIGTERM/SIGINT. Exit code 0 on a clean stop; 1 when nothing can run or the
    release worker died (so that systemd's Restart=on-failure restarts the station)."""
    station = build_station(app)
    if not station.readers:
        log.error("no enabled [reader:NAME] sections: nothing to listen to")
        return 1
    stop = threading.Event()

    def on_signal(signum, _frame):
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        station.start()
        settle_memory()
        sdnotify.notify("READY=1\nSTATUS=serving")
        if ready:
            ready(station)
        healthy = _supervise(station, stop)
    finally:
        sdnotify.notify("STOPPING=1")
        station.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if healthy else 1


def _supervise(station: Station, stop: threading.Event) -> bool:
    """Ping the systemd watchdog while the worker lives and is not stuck; report reader
    health, and what ails a background service, in STATUS. False when the worker died."""
    interval = sdnotify.watchdog_interval() or 5.0
    while not stop.wait(min(interval, 5.0)):
        if not station.alive():
            log.error("release worker died; stopping so that systemd restarts the station")
            return False
        if station.stuck():
            log.error("release worker stuck on one swipe; not feeding the watchdog")
            continue
        states = ", ".join(f"{r.name}: {r.health.state}" for r in station.readers)
        troubles = "".join(f"; {trouble}" for trouble in station.troubles())
        sdnotify.notify(f"WATCHDOG=1\nSTATUS={station.handled} swipes; {states}{troubles}")
    return True
