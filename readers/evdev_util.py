# SPDX-License-Identifier: GPL-3.0-or-later
"""What the evdev readers (HID wedge, PIN keypad) share: finding, grabbing and re-finding.

A device is chosen by one of three keys: `device` (a path, best a stable
`/dev/input/by-id/...` link), `usb_id` (`vendor:product` in hex, as `lsusb` shows it) or
`name` (a shell pattern matched against the device name). The chosen device is grabbed
(EVIOCGRAB) for as long as the reader runs, so nothing it types reaches a console, and is
released in `finally`.

Unplugging shows up as ENODEV on read. The reader logs it, drops any partial input, looks
for the device again every `rescan_seconds` and grabs it again as soon as it is back; it
does not go through the reader's backoff, so a replugged reader is live within a second.
Errors other than absence (permission denied, held by another program) are raised, and
`Reader.run()` retries them with backoff.

The `opener` (path -> device) and `lister` (() -> paths) seams default to
`evdev.InputDevice` and the readable `/dev/input/event*`; tests pass a fake device with the
same interface.
"""

from __future__ import annotations

import abc
import contextlib
import errno
import fnmatch
import logging
import re
import selectors
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import evdev
from evdev import ecodes

from readers.base import Reader, ReaderError, ReaderSettings
from readers.logtext import clean

log = logging.getLogger(__name__)

USB_ID = re.compile(r"[0-9A-Fa-f]{4}:[0-9A-Fa-f]{4}")
ABSENT = (errno.ENOENT, errno.ENODEV, errno.ENXIO)


class InputLike(Protocol):
    """The part of `evdev.InputDevice` the readers use."""

    path: Any
    name: str
    info: Any

    def fileno(self) -> int: ...
    def read(self) -> Iterator[evdev.InputEvent]: ...
    def grab(self) -> None: ...
    def ungrab(self) -> None: ...
    def close(self) -> None: ...


Opener = Callable[[str], InputLike]
Lister = Callable[[], Iterable[str]]


class DeviceAbsent(Exception):
    """No device matching the reader's selection is present (yet)."""


class DeviceGone(Exception):
    """The open device was unplugged (ENODEV)."""


@dataclass(frozen=True, kw_only=True)
class EvdevSettings(ReaderSettings):
    """Keys shared by the evdev reader kinds: which device, and how often to look for it."""

    device: str | None = None  # /dev/input/by-id/usb-...-event-kbd
    usb_id: str | None = None  # 0c27:3bfa
    name: str | None = None  # shell pattern, e.g. "RFIDeas*"
    rescan_seconds: float = 0.5

    def __post_init__(self) -> None:
        given = [k for k in ("device", "usb_id", "name") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("device, usb_id, name: give exactly one to choose the device")
        if self.usb_id and not USB_ID.fullmatch(self.usb_id):
            raise ValueError(f"usb_id: expected vendor:product in hex, got {self.usb_id!r}")
        if not 0 < self.rescan_seconds <= 2:
            raise ValueError("rescan_seconds: must be more than 0 and at most 2")

    def selection(self) -> str:
        """The selection as a person would write it, for logs."""
        if self.device:
            return self.device
        if self.usb_id:
            return f"usb_id {self.usb_id}"
        return f"name {self.name!r}"

    def matches(self, device: InputLike) -> bool:
        if self.usb_id:
            vendor, product = (int(part, 16) for part in self.usb_id.split(":"))
            return (device.info.vendor, device.info.product) == (vendor, product)
        return fnmatch.fnmatchcase(device.name, self.name or "")


def open_grabbed(settings: EvdevSettings, opener: Opener, lister: Lister) -> InputLike:
    """Open and grab the selected device; DeviceAbsent when none is present."""
    if settings.device:
        return _grab(_open(opener, settings.device), busy_is_error=True)
    busy = denied = 0
    for path in sorted(lister()):
        try:
            device = _open(opener, path)
        except DeviceAbsent:
            continue  # vanished while we looked
        except ReaderError:
            denied += 1  # usually permissions: see the udev rule in docs/readers.md
            continue
        if not settings.matches(device):
            device.close()
            continue
        try:
            return _grab(device, busy_is_error=False)
        except DeviceAbsent:
            busy += 1  # another reader (or program) holds it; try the next one
    why = f"; {busy} matching devices are grabbed by others" if busy else ""
    why += f"; {denied} devices could not be opened" if denied else ""
    raise DeviceAbsent(f"no free device with {settings.selection()}{why}")


def _open(opener: Opener, path: str) -> InputLike:
    try:
        return opener(path)
    except OSError as exc:
        if exc.errno in ABSENT:
            raise DeviceAbsent(f"{path} is not present") from None
        raise ReaderError(f"cannot open {path}: {exc.strerror or exc}") from exc


def _grab(device: InputLike, busy_is_error: bool) -> InputLike:
    try:
        device.grab()
    except OSError as exc:
        device.close()
        if exc.errno == errno.EBUSY and not busy_is_error:
            raise DeviceAbsent(f"{device.path} is grabbed by another program") from None
        if exc.errno in ABSENT:
            raise DeviceAbsent(f"{device.path} went away") from None
        raise ReaderError(f"cannot grab {device.path}: {exc.strerror or exc}") from exc
    return device


def readable_devices() -> list[str]:
    """/dev/input/event* that this process may read (a udev rule may grant read only)."""
    return evdev.list_devices(writable=False)


def release(device: InputLike) -> None:
    """Ungrab and close, quietly: an unplugged device cannot be ungrabbed."""
    with contextlib.suppress(OSError):
        device.ungrab()
    with contextlib.suppress(OSError):
        device.close()


class EvdevReader(Reader):
    """Base of the evdev reader kinds: subclasses handle keys in `on_key()`.

    `deadline()` gives the monotonic time at which `on_idle()` must run (a partial read
    expiring), or None when nothing is pending.
    """

    Settings = EvdevSettings
    settings: EvdevSettings

    def __init__(self, *args: Any, opener: Opener | None = None, lister: Lister | None = None):
        super().__init__(*args)
        self._opener: Opener = opener or evdev.InputDevice
        self._lister: Lister = lister or readable_devices
        self.grabs = 0  # how many times a device was grabbed; diagnostics and tests

    # -- subclass hooks -------------------------------------------------------------------
    @abc.abstractmethod
    def on_key(self, code: int, value: int, now: float) -> None:
        """One EV_KEY event (value 1 down, 0 up, 2 repeat) read at monotonic time `now`."""

    def deadline(self) -> float | None:
        return None

    def on_idle(self, now: float) -> None:
        """Called when `deadline()` has passed with no input."""

    def reset_input(self, why: str) -> None:
        """Forget any partial input (the device went away)."""

    # -- the loop -------------------------------------------------------------------------

    def serve(self) -> None:
        quiet = False  # an unplug was just logged; do not log the absence again
        while not self.stopping.is_set():
            device = self._await_device(quiet)
            if device is None:
                return
            self.grabs += 1
            self.serving(f"grabbed {device.path} ({device.name})")
            log.info("reader %s: grabbed %s (%s)", self.name, device.path, clean(device.name))
            try:
                self._pump(device)
            except DeviceGone:
                log.warning(
                    "reader %s: %s unplugged; waiting for it to come back", self.name, device.path
                )
                self.health.set("retrying", f"waiting for {self.settings.selection()}")
                self.reset_input("device unplugged during a read")
                quiet = True
            finally:
                release(device)

    def _await_device(self, quiet: bool) -> InputLike | None:
        """Open and grab the device, waiting while it is absent; None when stopping."""
        while not self.stopping.is_set():
            try:
                return open_grabbed(self.settings, self._opener, self._lister)
            except DeviceAbsent as exc:
                if not quiet:
                    log.warning("reader %s: %s; waiting for it", self.name, exc)
                    self.health.set("retrying", f"waiting for {self.settings.selection()}")
                    quiet = True
            self.stopping.wait(self.settings.rescan_seconds)
        return None

    def _pump(self, device: InputLike) -> None:
        sel = selectors.DefaultSelector()
        sel.register(device.fileno(), selectors.EVENT_READ, "device")
        sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        try:
            while not self.stopping.is_set():
                ready = sel.select(self._timeout())
                for key, _ in ready:
                    if key.data == "wake":
                        self.clear_wake()
                    else:
                        self._read(device)
                if not ready:
                    self.on_idle(time.monotonic())
        finally:
            sel.close()

    def _timeout(self) -> float | None:
        due = self.deadline()
        return None if due is None else max(0.0, due - time.monotonic())

    def _read(self, device: InputLike) -> None:
        try:
            events = list(device.read())
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno == errno.ENODEV:
                raise DeviceGone(str(device.path)) from None
            raise ReaderError(f"cannot read {device.path}: {exc.strerror or exc}") from exc
        now = time.monotonic()
        for event in events:
            if event.type == ecodes.EV_KEY:
                self.on_key(event.code, event.value, now)
