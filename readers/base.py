# SPDX-License-Identifier: GPL-3.0-or-later
"""The contract every reader keeps, and the retry loop they share.

A reader is built from its config section, produces `Swipe`s through `emit` until stopped,
reports its health, and never raises into the core: `serve()` may fail, `run()` logs the
failure and tries again with capped, jittered backoff until `stop()` is called.
"""

from __future__ import annotations

import abc
import contextlib
import logging
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from readers.framing import decode_line
from readers.swipe import Swipe, SwipeKind, mask

log = logging.getLogger(__name__)

Emit = Callable[[Swipe], None]


class Framer(Protocol):
    """Turns a byte stream into lines (readers.framing.LineFramer and the like)."""

    overruns: int

    def feed(self, data: bytes) -> list[bytes]: ...


class ReaderError(Exception):
    """A reader could not open, read or talk to its device or peer; names which."""


@dataclass(frozen=True)
class ReaderSettings:
    """Keys every `[reader:NAME]` section may have; each reader kind subclasses this."""

    type: str
    convert: str = ""  # conversion chain applied to every value, see readers.conversion
    enabled: bool = True


@dataclass
class Health:
    """What `releasestation check` and the daemon's status show for one reader."""

    state: str = "starting"  # starting | ok | retrying | stopped
    detail: str = ""
    swipes: int = 0
    dropped: int = 0
    failures: int = 0
    since: float = field(default_factory=time.time)

    def set(self, state: str, detail: str = "") -> None:
        if state != self.state or detail != self.detail:
            self.state, self.detail, self.since = state, detail, time.time()


class Backoff:
    """Capped exponential backoff with full jitter; `reset()` after a success."""

    def __init__(self, first: float = 0.5, cap: float = 30.0):
        self.first, self.cap, self.attempt = first, cap, 0

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.first * (2**self.attempt))
        self.attempt += 1
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempt = 0


class Reader(abc.ABC):
    """Base of every reader kind. Subclasses set `kind`, `Settings` and implement `serve()`."""

    kind: ClassVar[str]
    Settings: ClassVar[type[ReaderSettings]] = ReaderSettings
    backoff_first: ClassVar[float] = 0.5
    backoff_cap: ClassVar[float] = 30.0

    def __init__(self, name: str, settings: ReaderSettings, emit: Emit):
        from readers.conversion import Chain  # late: conversion is a sibling, not a base

        self.name = name
        self.settings = settings
        self._emit = emit
        self.chain = Chain.parse(settings.convert)
        self.health = Health()
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.backoff = Backoff(self.backoff_first, self.backoff_cap)
        # A select()-based serve() watches _wake_r; wake() makes it readable.
        self._wake_r, self._wake_w = socket.socketpair()

    # -- the part each kind writes ------------------------------------------------------
    @abc.abstractmethod
    def serve(self) -> None:
        """Open the device or connection and deliver swipes until it fails or stop is asked.

        Return normally only when stopping; raise (any exception) when the device or peer
        failed, and `run()` will retry.
        """

    def wake(self) -> None:
        """Interrupt a blocking `serve()` so that it notices `stopping`: serve() loops
        select() on `_wake_r` too (and drain it with `clear_wake()`); kinds that block
        elsewhere override this."""
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def clear_wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_r.recv(64)

    def feedback(self, ok: bool) -> None:  # noqa: B027 - optional hook
        """Beep or light an LED where the hardware can; most readers cannot."""

    # -- shared machinery ---------------------------------------------------------------
    def deliver(self, raw: str, kind: SwipeKind = "card") -> Swipe | None:
        """Convert `raw` and emit it as a Swipe; drop (and log masked) what cannot convert."""
        value = self.chain.apply(raw)
        if not value:
            self.health.dropped += 1
            log.warning("reader %s: dropped %s: conversion failed", self.name, mask(raw))
            return None
        swipe = Swipe(reader=self.name, value=value, kind=kind, raw=raw)
        self.health.swipes += 1
        self._emit(swipe)
        return swipe

    def deliver_framed(self, framer: Framer, data: bytes, max_line: int) -> None:
        """Feed `data` to `framer`; deliver each complete line that can be a card number,
        and drop (logged masked) the others and any line longer than `max_line`."""
        overruns = framer.overruns
        for line in framer.feed(data):
            text = decode_line(line)
            if text is None:
                self.drop("not a card number", line.decode("ascii", "replace")[:64])
            else:
                self.deliver(text)
        if framer.overruns > overruns:
            self.drop(f"line longer than {max_line} bytes")

    def drop(self, why: str, raw: str = "") -> None:
        """Count and log a read that cannot be a card number, never showing it whole."""
        self.health.dropped += 1
        shown = f" {mask(raw)}" if raw else ""
        log.warning("reader %s: dropped input%s: %s", self.name, shown, why)

    def run(self) -> None:
        """Serve until stopped, retrying after failures. Never raises."""
        while not self.stopping.is_set():
            try:
                self.serve()
                if self.stopping.is_set():
                    break
                raise ReaderError("connection ended")
            except Exception as exc:
                if self.stopping.is_set():
                    break
                self.health.failures += 1
                delay = self.backoff.next_delay()
                self.health.set("retrying", str(exc))
                log.warning("reader %s: %s; retrying in %.1fs", self.name, exc, delay)
                self.stopping.wait(delay)
        self.health.set("stopped")

    def start(self) -> threading.Thread:
        self._thread = threading.Thread(target=self.run, name=f"reader-{self.name}", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        self.wake()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._thread is None or not self._thread.is_alive():
            self._wake_r.close()
            self._wake_w.close()

    def serving(self, detail: str = "") -> None:
        """Subclasses call this once the device or peer is open: health ok, backoff reset."""
        self.health.set("ok", detail)
        self.backoff.reset()
