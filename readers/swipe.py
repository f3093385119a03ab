# SPDX-License-Identifier: GPL-3.0-or-later
"""What a reader hands to the core: one `Swipe` per card read or PIN entered.

A Swipe never shows its value in `repr` or logs; use `mask()` for anything a person reads,
and `clean()` for any other text from outside that goes into a log line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

from readers.logtext import clean

SwipeKind = Literal["card", "pin"]


def mask(value: str, shown: int = 4) -> str:
    """Return `value` with all but the last `shown` characters hidden (never more than half),
    those escaped as `clean` does."""
    if not value:
        return "<empty>"
    keep = min(shown, len(value) // 2)
    return "*" * (len(value) - keep) + (clean(value[-keep:]) if keep else "")


@dataclass(frozen=True)
class Swipe:
    """One entry at a reader.

    `kind` is "pin" when the reader knows the value was typed as a PIN (a keypad); "card"
    otherwise. The core may still treat a short all-digit "card" as a PIN (`pin_max_digits`).
    `raw` is what the reader sent before conversion, kept for diagnostics only. `at` is the
    wall-clock time of the read (for the audit trail); `seen` the monotonic one, for
    intervals between reads that a stepped wall clock must not stretch or reverse.
    """

    reader: str
    value: str
    kind: SwipeKind = "card"
    at: float = field(default_factory=time.time)
    raw: str | None = None
    seen: float = field(default_factory=time.monotonic, compare=False)

    def masked(self) -> str:
        """The value as a log line may show it: nothing of a PIN, the last digits of a card."""
        return "<pin>" if self.kind == "pin" else mask(self.value)

    def __repr__(self) -> str:
        return f"Swipe(reader={self.reader!r}, value={self.masked()!r}, kind={self.kind!r})"

    __str__ = __repr__
