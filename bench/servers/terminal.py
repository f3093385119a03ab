# SPDX-License-Identifier: GPL-3.0-or-later
"""A real PaperCut-style card terminal on a loopback TCP port, for the station to dial.

The release bench swipes through it; the tests' `terminal` fixture (tests/fixtures/terminal.py)
wraps it.
"""

from __future__ import annotations

import socket
import threading
import time


class Terminal:
    """Accepts the station's connections; `swipe()` sends a line, `drop()` hangs up."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.conn: socket.socket | None = None
        self.accepted = 0
        self.received = bytearray()
        self._cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self._cond:
                self.conn = conn
                self.accepted += 1
                self._cond.notify_all()
            threading.Thread(target=self._drain, args=(conn,), daemon=True).start()

    def _drain(self, conn: socket.socket) -> None:
        while True:
            try:
                data = conn.recv(1024)
            except OSError:
                return
            if not data:
                return
            with self._cond:
                self.received += data
                self._cond.notify_all()

    def wait_connections(self, count: int, timeout: float = 5.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: self.accepted >= count, timeout):
                raise TimeoutError(f"station connected {self.accepted} times, wanted {count}")

    def wait_received(self, data: bytes, timeout: float = 5.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: data in self.received, timeout):
                raise TimeoutError(f"terminal never received {data!r}")

    def swipe(self, payload: bytes | str) -> None:
        if isinstance(payload, str):
            payload = payload.encode() + b"\n"
        assert self.conn is not None, "no station connected"
        self.conn.sendall(payload)

    def drop(self) -> None:
        with self._cond:
            conn, self.conn = self.conn, None
        if conn is not None:
            conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def close(self) -> None:
        self._stop = True
        self.drop()
        self.listener.close()
        time.sleep(0)
