# SPDX-License-Identifier: GPL-3.0-or-later
"""BackgroundService: the daemon's background work as one small base (the held-job index,
housekeeping, the job watcher), so that each of them keeps only its own round of work.

A service is a named daemon thread that calls `step()` at once, then every `interval`
seconds until `stop()`. `stop()` wakes a waiting loop at once: the loop waits on an Event,
the thread's equivalent of pyudev's stop pipe (nothing here waits in select()). A step in
progress is never interrupted; each service bounds its own requests (cupsd's and the
database's timeouts).

A step that raises has failed; nothing a step raises ends the thread. The first failure of
a streak is logged (one line for a ReleaseStationError, with the traceback for anything
else, which is a bug), the rest at debug level, and the return at info level. While a
streak lasts, the next step waits `interval`, then twice as long each time up to
`max_backoff`, jittered (readers.Backoff, the readers' own) but never less than `interval`.
A service whose retry is cheap and whose promise is prompt keeps `max_backoff = interval`.
`healthy`, `problem` and `last_error` tell the daemon's status what is wrong.
"""

from __future__ import annotations

import abc
import logging
import threading

from readers import Backoff
from releasestation.errors import ReleaseStationError


class BackgroundService(abc.ABC):
    """A daemon thread running `step()` every `interval` seconds until stopped."""

    recovered = "working again"  # logged when a step succeeds after a failure streak

    def __init__(
        self,
        name: str,
        thread_name: str,
        interval: float,
        max_backoff: float | None = None,
        join_timeout: float = 10.0,
    ):
        self.name = name  # in log lines and the daemon's status
        self.thread_name = thread_name
        self.interval = interval
        self.max_backoff = max(interval, max_backoff or interval)
        self.join_timeout = join_timeout
        self.failures = 0  # failed steps in a row
        self.last_error: str | None = None  # the latest failure, kept after recovery
        self.log = logging.getLogger(type(self).__module__)
        self._backoff = Backoff(interval, self.max_backoff)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @abc.abstractmethod
    def step(self) -> None:
        """One round of the service's work; raise when it failed."""

    # -- running ------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the thread (its first step at once); no second thread while one runs."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop the thread, waking it at once if it waits; waits up to `timeout` seconds
        (`join_timeout`) for a step in progress. Idempotent, and harmless before start()."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is None or thread is threading.current_thread():
            return
        thread.join(self.join_timeout if timeout is None else timeout)
        if thread.is_alive():
            self.log.warning("%s: still busy after stop; left to end on its own", self.name)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._stop.wait(self.run_once())

    def run_once(self) -> float:
        """One step with its failure handling; the seconds to wait before the next."""
        try:
            self.step()
        except Exception as exc:
            return self._failed(exc)
        if self.failures:
            self.log.info("%s: %s", self.name, self.recovered)
            self.failures = 0
            self._backoff.reset()
        return self.interval

    def _failed(self, exc: Exception) -> float:
        self.failures += 1
        self.last_error = str(exc) or type(exc).__name__
        delay = max(self.interval, self._backoff.next_delay())
        if self.failures > 1:
            self.log.debug("%s: failed again (%s); next try in %.1f s", self.name, exc, delay)
        elif isinstance(exc, ReleaseStationError):
            self.log.error("%s: %s (retrying %s)", self.name, exc, self._retrying())
        else:  # a bug must not end the service for the daemon's life
            self.log.exception("%s: unexpected failure; carrying on", self.name)
        return delay

    def _retrying(self) -> str:
        if self.max_backoff <= self.interval:
            return f"every {self.interval:g} s"
        return f"after {self.interval:g} s, then less often, up to every {self.max_backoff:g} s"

    # -- health -------------------------------------------------------------------------------
    @property
    def problem(self) -> str | None:
        """What is wrong now (None when nothing is)."""
        return self.last_error if self.failures else None

    @property
    def healthy(self) -> bool:
        return self.problem is None
