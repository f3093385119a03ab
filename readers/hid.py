# SPDX-License-Identifier: GPL-3.0-or-later
"""USB HID keyboard-wedge card reader (`type = hid`), read through evdev.

Wire format: the reader is a keyboard. It "types" the card number as key events (EV_KEY,
value 1 down, 0 up, 2 repeat), US layout, with a shift key around upper-case letters and
shifted symbols, and ends with Enter or keypad Enter:

    KEY_0 KEY_X KEY_0 KEY_0 LEFTSHIFT+KEY_B LEFTSHIFT+KEY_C KEY_6 ... KEY_ENTER
    -> "0x00BC614E"

    [reader:front-desk]
    type = hid
    device = /dev/input/by-id/usb-RFIDeas_USB_Keyboard-event-kbd   ; or usb_id / name
    key_timeout_seconds = 0.5     ; a read with a longer gap between keys is dropped
    convert = regex:^0x(.*)$, hex2dec

The device is grabbed for the reader's whole life (see readers.evdev_util), so card numbers
never reach a console. A read longer than `max_length` characters, or one that cannot be a
card number, is dropped and logged masked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from readers import keys
from readers.evdev_util import EvdevReader, EvdevSettings
from readers.framing import plausible_card

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class HidSettings(EvdevSettings):
    key_timeout_seconds: float = 0.5
    max_length: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.key_timeout_seconds <= 0:
            raise ValueError("key_timeout_seconds: must be greater than 0")
        if not 1 <= self.max_length <= 256:
            raise ValueError("max_length: must be between 1 and 256")


class KeyLine:
    """Assembles typed characters into one read; pure, driven by key events and a clock."""

    def __init__(self, timeout: float, max_length: int):
        self.timeout, self.max_length = timeout, max_length
        self.shift = keys.ShiftState()
        self.chars: list[str] = []
        self.overrun = False
        self.last_key = 0.0

    def feed(self, code: int, value: int, now: float) -> str | None:
        """Take one key event; return the finished read when it was Enter, else None."""
        self.last_key = now
        if self.shift.update(code, value) or value != keys.KEY_DOWN:
            return None
        if code in keys.ENTER:
            return self.finish()
        char = keys.char_for(code, self.shift.held)
        if char is None:
            return None
        if len(self.chars) >= self.max_length:
            self.overrun = True
        else:
            self.chars.append(char)
        return None

    def finish(self) -> str:
        text = "".join(self.chars)
        self.chars.clear()
        return text

    @property
    def pending(self) -> bool:
        return bool(self.chars) or self.overrun

    def deadline(self) -> float | None:
        return self.last_key + self.timeout if self.pending else None

    def reset(self) -> str:
        """Forget everything (partial text is returned, for a masked log line)."""
        self.shift.reset()
        self.overrun = False
        return self.finish()


class HidReader(EvdevReader):
    kind = "hid"
    Settings = HidSettings
    settings: HidSettings

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.line = KeyLine(self.settings.key_timeout_seconds, self.settings.max_length)

    def on_key(self, code: int, value: int, now: float) -> None:
        due = self.line.deadline()
        if due is not None and now > due:
            self.on_idle(now)
        text = self.line.feed(code, value, now)
        if text is None:
            return
        if self.line.overrun:
            self.line.reset()
            self.drop(f"read longer than {self.settings.max_length} characters")
        elif not text:
            return
        elif not plausible_card(text):
            self.drop("not a card number", text)
        else:
            self.deliver(text)

    def deadline(self) -> float | None:
        return self.line.deadline()

    def on_idle(self, now: float) -> None:
        due = self.line.deadline()
        if due is not None and now >= due:
            self.reset_input(f"no key for {self.settings.key_timeout_seconds}s: partial read")

    def reset_input(self, why: str) -> None:
        pending = self.line.pending
        partial = self.line.reset()
        if pending:
            self.drop(why, partial)
