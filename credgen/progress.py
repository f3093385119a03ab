# SPDX-License-Identifier: GPL-3.0-or-later
"""Progress of a batch: a bar on a terminal, a plain log line every tenth under cron."""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

from credgen.results import BatchResult

log = logging.getLogger(__name__)

WIDTH = 30
REDRAW_SECONDS = 0.2


class Progress:
    def __init__(self, total: int, stream: TextIO | None = None, tty: bool | None = None):
        self.total = total
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.done = 0
        self._next_tenth = 1
        self._drawn = 0.0

    def advance(self, count: int, result: BatchResult) -> None:
        self.done += count
        if self.tty:
            now = time.monotonic()
            if now - self._drawn >= REDRAW_SECONDS or self.done >= self.total:
                self._drawn = now
                self._draw(result)
        elif self.total and self.done * 10 >= self._next_tenth * self.total:
            self._next_tenth = self.done * 10 // self.total + 1
            log.info("%s", self.line(result))

    def line(self, result: BatchResult) -> str:
        share = self.done / self.total if self.total else 1.0
        return (
            f"{share:4.0%} {self.done}/{self.total} users, {result.issued} issued,"
            f" {len(result.failed)} failed"
        )

    def _draw(self, result: BatchResult) -> None:
        filled = int(WIDTH * self.done / self.total) if self.total else WIDTH
        bar = "#" * filled + "-" * (WIDTH - filled)
        self.stream.write(f"\rcredgen [{bar}] {self.line(result)}")
        self.stream.flush()

    def finish(self) -> None:
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
