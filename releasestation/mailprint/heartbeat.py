# SPDX-License-Identifier: GPL-3.0-or-later
"""What `releasestation mailprint` last said of its mailbox, for the station's monitoring.

mailprint is a process of its own (a service, or `--once` from cron) with no HTTP server,
while the daemon already serves the station's metrics, health and alerts. So mailprint
records, in one `site_settings` row keyed by its station's name, when it was last heard
from, how it runs, whether the mailbox answered its last try (and since when it has not,
and why, in one line) and the longest it waits between two records; the daemon of the
same station reads that row when it checks its peers (releasestation.monitoring.probe).

A record costs one small write: when the mailbox starts or stops answering, when the
service stops, and otherwise at most once every `EVERY` seconds. A record that cannot be
written (the store away) is logged at debug level and never stops a mail.

`problem()` judges a record: the mailbox not answering; a service that ended on an
unexpected error; or a service not heard from for longer than it waits plus `GRACE` (it
died, or hangs). A service stopped on purpose, and `--once` between two cron runs, are no
problem (a `--once` run whose mailbox failed is, until a run gets through).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

from readers import clean
from releasestation.errors import ReleaseStationError
from releasestation.store import Store
from releasestation.store.site import put_setting, setting

log = logging.getLogger(__name__)

PREFIX = "mailprint:"
EVERY = 60.0  # seconds between two records when nothing changed
GRACE = 120.0  # beyond the longest wait, before a silent service is a problem
SERVICE, ONCE, STOPPED, CRASHED = "service", "once", "stopped", "crashed"
LATEST = 1e11  # seconds since 1970: a time in a record beyond this is not one
VALUE_LENGTH = 256  # site_settings.value


def key_of(station: str) -> str:
    return (PREFIX + station)[:64]


@dataclass(frozen=True)
class Heartbeat:
    """`at`: when recorded (Unix time); `mode`: SERVICE, ONCE or STOPPED; `ok`: the
    mailbox answered the last try; `answered`: when it last answered (None: never yet);
    `since`: when it stopped answering; `error`: why, one line; `wait`: the longest the
    service goes between two records."""

    at: float
    mode: str
    ok: bool
    answered: float | None = None
    since: float | None = None
    error: str = ""
    wait: float = 0.0

    def encode(self) -> str:
        value = asdict(self)
        error = value.pop("error")
        cut = False
        while True:  # the error is what gives way to fit the column
            shown = error + "…" if cut else error
            text = json.dumps({**value, "error": shown}, separators=(",", ":"), ensure_ascii=False)
            if len(text) <= VALUE_LENGTH or not error:
                return text
            # an escaped character takes two or more: shorten by half the overflow at least
            error, cut = error[: len(error) - max(2, (len(text) - VALUE_LENGTH) // 2)], True

    @classmethod
    def decode(cls, text: str) -> Heartbeat:
        """The record in `text`; ValueError when it is not one (times must be finite and
        between 1970 and `LATEST`)."""
        v = json.loads(text)
        beat = cls(
            at=float(v["at"]),
            mode=str(v["mode"]),
            ok=bool(v["ok"]),
            answered=None if v.get("answered") is None else float(v["answered"]),
            since=None if v.get("since") is None else float(v["since"]),
            error=str(v.get("error", "")),
            wait=float(v.get("wait", 0.0)),
        )
        for t in (beat.at, beat.answered, beat.since, beat.wait):
            if t is not None and not (math.isfinite(t) and 0 <= t <= LATEST):
                raise ValueError(f"not a time: {t!r}")
        if beat.mode not in (SERVICE, ONCE, STOPPED, CRASHED):
            raise ValueError(f"not a mode: {beat.mode!r}")
        return beat

    def problem(self, now: float) -> str | None:
        """What is wrong with mailprint, by this record, at `now`; None when nothing."""
        if self.mode == CRASHED:
            return f"stopped on an error at {_when(self.at)}: {self.error}"
        if not self.ok and self.mode != STOPPED:
            return f"the mailbox does not answer since {_when(self.since)}: {self.error}"
        if self.mode == SERVICE and now - self.at > self.wait + GRACE:
            return f"not heard from since {_when(self.at)}: is releasestation mailprint running?"
        return None


def record(store: Store, station: str, beat: Heartbeat) -> None:
    """Replace the record of `station`'s mailprint with `beat` (its own transaction); a
    store that cannot take it is logged at debug level, nothing more."""
    try:
        put_setting(store, key_of(station), beat.encode())
    except ReleaseStationError as exc:
        log.debug("mailprint: its state cannot be recorded: %s", exc)


def last(store: Store, station: str) -> Heartbeat | None:
    """The record of `station`'s mailprint; None when there is none or it cannot be read
    (the store away: the probe tells of the store on its own)."""
    try:
        text = setting(store, key_of(station))
    except ReleaseStationError as exc:
        log.debug("mailprint: its state cannot be read: %s", exc)
        return None
    if text is None:
        return None
    try:
        return Heartbeat.decode(text)
    except (ValueError, KeyError, TypeError, OverflowError, AttributeError) as exc:
        log.warning("site_settings %s is not mailprint's state (%s): ignored", key_of(station), exc)
        return None


class Pulse:
    """The records of one mailprint process, written through `write` (None: none).

    The mailbox failing is written at once; it answering again only after a whole round
    of mail (`answered(round_done=True)`), or a minute on: a server that takes the login
    and then fails every command would otherwise flip the record twice a second. While the
    state stays the same, a record a minute at most (timed on the monotonic clock)."""

    def __init__(
        self,
        write: Callable[[Heartbeat], None] | None,
        mode: str,
        wait: float,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.write = write
        self.clock = clock
        self.monotonic = monotonic
        self.beat = Heartbeat(at=0.0, mode=mode, ok=True, wait=wait)
        self._written_at: float | None = None  # monotonic time of the last record

    def answered(self, round_done: bool = False) -> None:
        """The mailbox answered (`round_done`: a whole round of mail went through)."""
        now = self.clock()
        recovered = not self.beat.ok
        beat = replace(self.beat, at=now, ok=True, answered=now, since=None, error="")
        self._put(beat, urgent=recovered and round_done)

    def failed(self, why: object) -> None:
        """The mailbox did not answer, or failed a command: `why`."""
        now = self.clock()
        was = self.beat
        since = was.since if not was.ok and was.since is not None else now
        error = " ".join(clean(str(why)).split())[:200]
        self._put(replace(was, at=now, ok=False, since=since, error=error), urgent=was.ok)

    def stopped(self) -> None:
        """The service stops (on purpose); a `--once` run ends."""
        mode = STOPPED if self.beat.mode == SERVICE else self.beat.mode
        self._put(replace(self.beat, at=self.clock(), mode=mode), urgent=True)

    def crashed(self, why: BaseException) -> None:
        """The service ends on an error it did not expect (its unit restarts it)."""
        error = " ".join(clean(f"{type(why).__name__}: {why}").split())[:200]
        beat = replace(self.beat, at=self.clock(), mode=CRASHED, ok=False, error=error)
        self._put(beat, urgent=True)

    def _put(self, beat: Heartbeat, urgent: bool) -> None:
        now = self.monotonic()
        due = urgent or self._written_at is None or now - self._written_at >= EVERY
        if due:
            self.beat = beat
            if self.write is not None:
                self.write(beat)
            self._written_at = now


def _when(epoch: float | None) -> str:
    if not epoch:
        return "it started"
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))
    except (OverflowError, ValueError, OSError):
        return "an unknown time"
