# SPDX-License-Identifier: GPL-3.0-or-later
"""PIN keypad (`type = keypad`): a USB numeric keypad read through evdev.

Wire format: key events, as from any keyboard. Digit keys (keypad or top row) build the
PIN, Enter or keypad Enter submits it, Backspace deletes the last digit, Esc clears, and
`timeout_seconds` without a key clears. Other keys are ignored. The PIN is handed on as a
PIN (`Swipe.kind == "pin"`), never converted, and never written to a log, not even masked.

    [reader:front-desk-pin]
    type = keypad
    usb_id = 05a4:9759             ; or device / name, see readers.evdev_util
    min_digits = 4
    max_digits = 8
    timeout_seconds = 15
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from readers import keys
from readers.evdev_util import EvdevReader, EvdevSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class KeypadSettings(EvdevSettings):
    min_digits: int = 4
    max_digits: int = 8
    timeout_seconds: float = 15.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.convert:
            raise ValueError("convert: a keypad hands on PINs as typed; remove this key")
        if not 1 <= self.min_digits <= self.max_digits <= 32:
            raise ValueError("min_digits, max_digits: need 1 <= min_digits <= max_digits <= 32")
        if self.timeout_seconds <= 0:
            raise ValueError("timeout_seconds: must be greater than 0")


class PinEntry:
    """The digits typed so far; pure, driven by key events and a clock."""

    def __init__(self, max_digits: int, timeout: float):
        self.max_digits, self.timeout = max_digits, timeout
        self.digits: list[str] = []
        self.too_long = False
        self.last_key = 0.0

    def feed(self, code: int, value: int, now: float) -> str | None:
        """Take one key event; return the PIN when Enter submits one, else None."""
        if value != keys.KEY_DOWN:
            return None
        self.last_key = now
        if code in keys.ENTER:
            return self.submit()
        if code == keys.BACKSPACE:
            if self.digits:
                self.digits.pop()
            self.too_long = len(self.digits) > self.max_digits
        elif code == keys.ESCAPE:
            self.clear()
        elif code in keys.DIGITS:
            self.digits.append(keys.DIGITS[code])
            self.too_long = len(self.digits) > self.max_digits
            if len(self.digits) > self.max_digits + 1:
                self.digits.pop()  # keep memory bounded; the entry is refused anyway
        return None

    def submit(self) -> str:
        pin = "".join(self.digits)
        self.clear()
        return pin

    def clear(self) -> None:
        self.digits.clear()
        self.too_long = False

    def deadline(self) -> float | None:
        return self.last_key + self.timeout if self.digits else None


class KeypadReader(EvdevReader):
    kind = "keypad"
    Settings = KeypadSettings
    settings: KeypadSettings

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.entry = PinEntry(self.settings.max_digits, self.settings.timeout_seconds)

    def on_key(self, code: int, value: int, now: float) -> None:
        due = self.entry.deadline()
        if due is not None and now > due:
            self.on_idle(now)
        too_long = self.entry.too_long
        pin = self.entry.feed(code, value, now)
        if pin is None:
            return
        if too_long:
            self.drop(f"PIN longer than {self.settings.max_digits} digits")
        elif len(pin) < self.settings.min_digits:
            if pin:
                self.drop(f"PIN shorter than {self.settings.min_digits} digits")
        else:
            self.deliver(pin, kind="pin")

    def deadline(self) -> float | None:
        return self.entry.deadline()

    def on_idle(self, now: float) -> None:
        due = self.entry.deadline()
        if due is not None and now >= due:
            self.reset_input(f"no key for {self.settings.timeout_seconds}s")

    def reset_input(self, why: str) -> None:
        if self.entry.digits:
            log.info("reader %s: PIN entry cleared: %s", self.name, why)
        self.entry.clear()
