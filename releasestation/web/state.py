# SPDX-License-Identifier: GPL-3.0-or-later
"""The station as the status and admin pages show it: printers, readers, every held job.

Printers are the hold queues and the follow-me printer, each with cupsd's state, message
and count of waiting jobs (`queued-job-count`: one Get-Printer-Attributes per queue, never
a walk over the jobs). Readers are those of the config file, with when each last read a
card (from the audit trail, the last week). The portal runs apart from the daemon: whether
a reader is connected now it asks the daemon's own metrics (`DaemonReaders`, on
`[monitoring] listen`, kept a few seconds); when the daemon cannot be asked, it says
nothing of it rather than guess.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from releasestation.audit import AUDIT
from releasestation.errors import PrintServerError
from releasestation.printq.server import PRINTER_ATTRIBUTES
from releasestation.store.models import utcnow

if TYPE_CHECKING:
    from readers import ReaderSettings
    from releasestation.config import StationSettings
    from releasestation.printq import HeldJob, PrintServer
    from releasestation.store import Store

log = logging.getLogger(__name__)

LAST_READ_WINDOW = dt.timedelta(days=7)
COLOR_KEPT = 60.0  # seconds: a printer's colour modes change when an admin changes it
CONNECTED = "releasestation_reader_connected"
STATES = {3: "idle", 4: "printing", 5: "stopped"}
UNREACHABLE = "the print server cannot be reached"
_ATTRIBUTES = (*PRINTER_ATTRIBUTES, "queued-job-count")


@dataclass(frozen=True)
class PrinterState:
    name: str
    role: str  # "hold queue" | "printer"
    state: str  # idle | printing | stopped | missing
    message: str
    problem: str | None  # why jobs cannot print there now, as a reader would be told
    waiting: int | None  # jobs waiting on it (held, pending or printing)

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "role": self.role,
            "state": self.state,
            "message": self.message,
            "problem": self.problem,
            "waiting": self.waiting,
        }


@dataclass(frozen=True)
class ReaderState:
    name: str
    type: str
    enabled: bool
    connection: str | None  # connected | not connected; None: the daemon cannot be asked
    last_read: dt.datetime | None

    def as_json(self) -> dict[str, object]:
        last = self.last_read.isoformat(timespec="seconds") if self.last_read else None
        return {
            "name": self.name,
            "type": self.type,
            "enabled": self.enabled,
            "connection": self.connection,
            "last_read": last,
        }


class StationState:
    """State of the printers and readers of `station`; `live`: each reader's connection
    as the daemon has it ("connected" / "not connected"), when it can be asked."""

    def __init__(
        self,
        printq: PrintServer,
        store: Store,
        station: StationSettings,
        readers: Mapping[str, ReaderSettings],
        live: Callable[[], Mapping[str, str]] | None = None,
    ):
        self.printq = printq
        self.store = store
        self.station = station
        self.reader_settings = readers
        self.live = live
        self._color: tuple[float, bool] = (-COLOR_KEPT, False)

    def printers(self) -> list[PrinterState]:
        """Each printer's state; when cupsd cannot be asked, each one says so (state
        `unreachable`), so the status still shows the readers and why nothing prints."""
        named = [(q, "hold queue") for q in self.station.hold_queues]
        if self.station.printer:
            named.append((self.station.printer, "printer"))
        states: list[PrinterState] = []
        for name, role in named:
            try:
                states.append(self._printer(name, role))
            except PrintServerError as exc:
                log.error("web: %s", exc)
                break  # one timeout is enough: the others are on the same cupsd
        for name, role in named[len(states) :]:
            states.append(PrinterState(name, role, "unreachable", "", UNREACHABLE, None))
        return states

    def _printer(self, name: str, role: str) -> PrinterState:
        attrs = self.printq.queue_attributes(name, _ATTRIBUTES)
        if attrs is None:
            return PrinterState(name, role, "missing", "", "no such queue", None)
        waiting = attrs.get("queued-job-count")
        return PrinterState(
            name,
            role,
            STATES.get(attrs.get("printer-state"), "unknown"),  # type: ignore[arg-type]
            str(attrs.get("printer-state-message") or "").strip(),
            self.printq.printer_problem(name),
            waiting if isinstance(waiting, int) else None,
        )

    def offers_color(self) -> bool:
        """Whether the printer jobs go to (`[station] printer`, else the first hold queue)
        prints both in colour and in black and white (print-color-mode-supported); asked
        of cupsd at most every COLOR_KEPT seconds (My jobs asks on every load)."""
        at, offered = self._color
        if time.monotonic() - at < COLOR_KEPT:
            return offered
        queue = self.station.printer or self.station.hold_queues[0]
        attrs = self.printq.queue_attributes(queue, ["print-color-mode-supported"]) or {}
        modes = attrs.get("print-color-mode-supported") or []
        modes = modes if isinstance(modes, list) else [modes]
        offered = {"color", "monochrome"} <= set(modes)
        self._color = (time.monotonic(), offered)
        return offered

    def readers(self) -> list[ReaderState]:
        last = self._last_reads(list(self.reader_settings))
        live = self.live() if self.live is not None else {}
        return [
            ReaderState(name, settings.type, settings.enabled, live.get(name), last.get(name))
            for name, settings in self.reader_settings.items()
        ]

    def _last_reads(self, names: Sequence[str]) -> dict[str, dt.datetime]:
        """When each of `names` last read a card or PIN (any outcome), in the last week."""
        if not names:
            return {}
        c = AUDIT.c
        query = (
            select(c.reader, func.max(c.at))
            .where(c.station == self.station.name, c.reader.in_(names))
            .where(c.at >= utcnow() - LAST_READ_WINDOW)
            .group_by(c.reader)
        )
        with self.store.read() as session:
            return {reader: at for reader, at in session.execute(query)}

    def held_jobs(self) -> list[HeldJob]:
        """Every held job on the hold queues, oldest first (the admin's listing: one
        Get-Jobs per queue, which costs cupsd a moment per job)."""
        return self.printq.held_jobs(self.station.hold_queues)


class DaemonReaders:
    """Each reader's connection as the daemon's /metrics says (`releasestation_reader_
    connected`), asked at `url` at most every `keep_seconds`; {} when it cannot be asked."""

    def __init__(self, url: str, timeout: float = 1.0, keep_seconds: float = 5.0):
        self.url = url.rstrip("/") + "/metrics"
        self.timeout = timeout
        self.keep_seconds = keep_seconds
        self._lock = threading.Lock()
        self._kept: tuple[float, dict[str, str]] = (-keep_seconds, {})

    def __call__(self) -> dict[str, str]:
        with self._lock:
            at, states = self._kept
            if time.monotonic() - at >= self.keep_seconds:
                states = self._ask()
                self._kept = (time.monotonic(), states)
            return states

    def _ask(self) -> dict[str, str]:
        from prometheus_client.parser import text_string_to_metric_families

        try:
            with urllib.request.urlopen(self.url, timeout=self.timeout) as answer:  # noqa: S310 - [monitoring] listen
                text = answer.read().decode()
            families = list(text_string_to_metric_families(text))
        except (OSError, ValueError) as exc:
            log.debug("the daemon's metrics at %s cannot be read: %s", self.url, exc)
            return {}
        return {
            sample.labels["reader"]: "connected" if sample.value else "not connected"
            for family in families
            for sample in family.samples
            if sample.name == CONNECTED and "reader" in sample.labels
        }
