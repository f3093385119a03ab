# SPDX-License-Identifier: GPL-3.0-or-later
"""Serial card reader (`type = serial`): RS-232 or USB-serial, read with pyserial.

Wire format: ASCII card numbers, each ended by `terminator`:

    cr       1234567890 \\r            lf     1234567890 \\n
    crlf     1234567890 \\r\\n          (cr, lf and crlf all accept either byte, and
                                         skip the empty line a CRLF pair leaves)
    stx-etx  \\x02 1234567890 \\x03     bytes outside STX...ETX (a checksum, noise) are
                                         ignored

    [reader:lobby-serial]
    type = serial
    port = /dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0
    baud = 9600
    terminator = crlf

Prefer a `/dev/serial/by-id/...` path: `/dev/ttyUSB0` may name another adapter after a
replug. The port is opened exclusively. When it fails (unplugged: read error or EOF) the
reader closes it, looks for the port again every `rescan_seconds` and reopens it as soon as
it is back, without going through the reader's backoff.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import selectors
from dataclasses import dataclass, field
from typing import Any

import serial

from readers.base import Reader, ReaderError, ReaderSettings
from readers.framing import LineFramer

log = logging.getLogger(__name__)

STX, ETX = 0x02, 0x03
TERMINATORS = {"cr": b"\r", "lf": b"\n", "crlf": b"\r\n"}
PARITIES = {"none": serial.PARITY_NONE, "even": serial.PARITY_EVEN, "odd": serial.PARITY_ODD}


@dataclass
class StxEtxFramer:
    """Frames of `STX payload ETX`; same interface as `LineFramer`. Pure, no I/O."""

    max_len: int = 256
    overruns: int = 0
    _buf: bytearray = field(default_factory=bytearray)
    _state: str = "outside"  # outside | inside | discarding

    def feed(self, data: bytes) -> list[bytes]:
        frames: list[bytes] = []
        for byte in data:
            if byte == STX:  # a new STX always starts afresh, even inside a frame
                self._buf.clear()
                self._state = "inside"
            elif self._state == "outside":
                continue
            elif byte == ETX:
                if self._state == "inside" and self._buf:
                    frames.append(bytes(self._buf))
                self._buf.clear()
                self._state = "outside"
            elif self._state == "inside":
                self._take(byte)
        return frames

    def _take(self, byte: int) -> None:
        if len(self._buf) >= self.max_len:
            self._buf.clear()
            self._state = "discarding"
            self.overruns += 1
        else:
            self._buf.append(byte)

    def reset(self) -> None:
        self._buf.clear()
        self._state = "outside"


@dataclass(frozen=True, kw_only=True)
class SerialSettings(ReaderSettings):
    port: str
    baud: int = 9600
    terminator: str = "crlf"
    bytesize: int = 8
    parity: str = "none"
    stopbits: int = 1
    max_line: int = 64
    rescan_seconds: float = 0.5

    def __post_init__(self) -> None:
        if not self.port:
            raise ValueError("port: required, e.g. /dev/serial/by-id/...")
        if self.terminator not in (*TERMINATORS, "stx-etx"):
            raise ValueError("terminator: must be cr, lf, crlf or stx-etx")
        if self.baud not in serial.Serial.BAUDRATES:
            raise ValueError(f"baud: {self.baud} is not a standard rate")
        if self.bytesize not in (7, 8):
            raise ValueError("bytesize: must be 7 or 8")
        if self.parity not in PARITIES:
            raise ValueError("parity: must be none, even or odd")
        if self.stopbits not in (1, 2):
            raise ValueError("stopbits: must be 1 or 2")
        if not 0 < self.rescan_seconds <= 2:
            raise ValueError("rescan_seconds: must be more than 0 and at most 2")

    def framer(self) -> LineFramer | StxEtxFramer:
        if self.terminator == "stx-etx":
            return StxEtxFramer(max_len=self.max_line)
        return LineFramer(terminators=TERMINATORS[self.terminator], max_len=self.max_line)


class PortAbsent(Exception):
    """The port does not exist (yet)."""


class PortGone(Exception):
    """The open port failed: unplugged, or its peer hung up."""


class SerialReader(Reader):
    kind = "serial"
    Settings = SerialSettings
    settings: SerialSettings

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.opens = 0  # how many times the port was opened; diagnostics and tests

    def serve(self) -> None:
        quiet = False  # an unplug was just logged; do not log the absence again
        where = self.settings.port
        while not self.stopping.is_set():
            port = self._await_port(quiet)
            if port is None:
                return
            self.opens += 1
            self.serving(f"open {where} at {self.settings.baud} baud")
            log.info("reader %s: opened %s", self.name, where)
            try:
                self._pump(port)
            except PortGone as exc:
                log.warning("reader %s: %s failed (%s); waiting for it", self.name, where, exc)
                self.health.set("retrying", f"waiting for {where}")
                quiet = True
            finally:
                with contextlib.suppress(OSError, serial.SerialException):
                    port.close()

    def _open(self) -> serial.Serial:
        s = self.settings
        try:
            return serial.Serial(
                port=s.port,
                baudrate=s.baud,
                bytesize=s.bytesize,
                parity=PARITIES[s.parity],
                stopbits=s.stopbits,
                timeout=0,
                exclusive=True,
            )
        except serial.SerialException as exc:
            if exc.errno in (errno.ENOENT, errno.ENODEV, errno.ENXIO, errno.EIO):
                raise PortAbsent(f"{s.port} is not present") from None
            raise ReaderError(f"cannot open serial port {s.port}: {exc}") from exc

    def _await_port(self, quiet: bool) -> serial.Serial | None:
        while not self.stopping.is_set():
            try:
                return self._open()
            except PortAbsent as exc:
                if not quiet:
                    log.warning("reader %s: %s; waiting for it", self.name, exc)
                    self.health.set("retrying", f"waiting for {self.settings.port}")
                    quiet = True
            self.stopping.wait(self.settings.rescan_seconds)
        return None

    def _pump(self, port: serial.Serial) -> None:
        framer = self.settings.framer()
        sel = selectors.DefaultSelector()
        sel.register(port.fileno(), selectors.EVENT_READ, "port")
        sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        try:
            while not self.stopping.is_set():
                for key, _ in sel.select():
                    if key.data == "wake":
                        self.clear_wake()
                    else:
                        self._take(framer, self._read(port))
        finally:
            sel.close()

    def _read(self, port: serial.Serial) -> bytes:
        try:
            data = port.read(4096)
        except (serial.SerialException, OSError) as exc:
            raise PortGone(str(exc)) from None
        if not data:
            raise PortGone("end of file")
        return data

    def _take(self, framer: LineFramer | StxEtxFramer, data: bytes) -> None:
        self.deliver_framed(framer, data, self.settings.max_line)
