# SPDX-License-Identifier: GPL-3.0-or-later
"""Card-number conversion chains (the full set of steps is built with the local readers).

`Chain.parse("")` is the identity; `apply()` returns the converted value or None.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chain:
    steps: tuple[str, ...] = ()

    @classmethod
    def parse(cls, spec: str) -> Chain:
        steps = tuple(s.strip() for s in spec.split(",") if s.strip())
        if steps:
            raise ValueError(f"unknown conversion step {steps[0]!r}")
        return cls(steps)

    def apply(self, value: str) -> str | None:
        return value.strip() or None
