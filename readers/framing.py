# SPDX-License-Identifier: GPL-3.0-or-later
"""Line framing over a byte stream, shared by the serial, TCP and HTTP readers.

Pure code, no I/O: feed bytes in, get complete lines out. A line longer than `max_len` is
discarded whole (up to its terminator) and reported as an overrun, so a 10 KB line can never
turn into a card number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

CARD_CHARS = re.compile(r"[0-9A-Za-z._:-]{1,64}")


def plausible_card(text: str) -> bool:
    """True when `text` could be a card number: 1-64 of [0-9A-Za-z._:-], nothing else."""
    return CARD_CHARS.fullmatch(text) is not None


def decode_line(line: bytes) -> str | None:
    """Decode one framed line as a card number candidate, or None for bytes that cannot be one."""
    try:
        text = line.decode("ascii").strip()
    except UnicodeDecodeError:
        return None
    return text if plausible_card(text) else None


@dataclass
class LineFramer:
    """Split a byte stream on any of `terminators`; empty lines are skipped.

    `feed()` returns the complete lines found; `overruns` counts lines dropped for length.
    """

    terminators: bytes = b"\r\n"
    max_len: int = 256
    overruns: int = 0
    _buf: bytearray = field(default_factory=bytearray)
    _discarding: bool = False

    def feed(self, data: bytes) -> list[bytes]:
        lines: list[bytes] = []
        for byte in data:
            if byte in self.terminators:
                if not self._discarding and self._buf:
                    lines.append(bytes(self._buf))
                self._buf.clear()
                self._discarding = False
            elif self._discarding:
                continue
            elif len(self._buf) >= self.max_len:
                self._buf.clear()
                self._discarding = True
                self.overruns += 1
            else:
                self._buf.append(byte)
        return lines

    def reset(self) -> None:
        self._buf.clear()
        self._discarding = False
