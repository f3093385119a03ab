# SPDX-License-Identifier: GPL-3.0-or-later
"""PaperCut "generic" network card reader.

Wire format: plain TCP. The terminal sends each card number as ASCII ended by `\\n`
(`\\r\\n`, a bare `\\r` and empty lines are tolerated). The station sends a single `\\r`
every `keepalive_seconds` as a keep-alive; a failed send means the link is gone.

    [reader:lobby-terminal]
    type = papercut
    mode = connect          ; connect: the station dials host:port (the usual set-up)
    host = 10.1.2.3         ; listen: the station listens on host:port for terminals
    port = 7778
    allow = 10.1.2.0/24     ; listen mode: addresses that may connect (default: none)

A line longer than `max_line` or with bytes that cannot be a card number is dropped and
logged masked. After any failure the connection is retried with capped, jittered backoff.
"""

from __future__ import annotations

import ipaddress
import logging
import selectors
import socket
import time
import typing
from dataclasses import dataclass

from readers.base import Reader, ReaderSettings
from readers.framing import LineFramer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PaperCutSettings(ReaderSettings):
    host: str = ""
    port: int = 7778
    mode: str = "connect"
    allow: tuple[str, ...] = ()
    keepalive_seconds: float = 5.0
    connect_timeout: float = 5.0
    max_line: int = 64
    min_backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.mode not in ("connect", "listen"):
            raise ValueError(f"mode: must be connect or listen, not {self.mode!r}")
        if self.mode == "connect" and not self.host:
            raise ValueError("host: required in connect mode")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port: {self.port} is not a TCP port")
        for net in self.allow:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise ValueError(f"allow: {net!r} is not an address or network") from None
        if self.keepalive_seconds <= 0:
            raise ValueError("keepalive_seconds: must be greater than 0")


class PaperCutReader(Reader):
    kind = "papercut"
    Settings = PaperCutSettings
    settings: PaperCutSettings

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.backoff.first = self.settings.min_backoff_seconds
        self.backoff.cap = self.settings.max_backoff_seconds
        self._allowed = [ipaddress.ip_network(n, strict=False) for n in self.settings.allow]
        self.bound_port: int | None = None  # listen mode: the port actually bound
        self.connections = 0

    def serve(self) -> None:
        if self.settings.mode == "connect":
            self._serve_connect()
        else:
            self._serve_listen()

    # -- connect mode ---------------------------------------------------------------------
    def _serve_connect(self) -> None:
        where = f"{self.settings.host}:{self.settings.port}"
        try:
            sock = socket.create_connection(
                (self.settings.host, self.settings.port), timeout=self.settings.connect_timeout
            )
        except OSError as exc:
            raise ConnectionError(f"cannot connect to terminal {where}: {exc}") from exc
        self.connections += 1
        self.serving(f"connected to {where}")
        log.info("reader %s: connected to terminal %s", self.name, where)
        try:
            self._pump({sock: LineFramer(max_len=self.settings.max_line)}, listener=None)
        finally:
            sock.close()
        if not self.stopping.is_set():
            raise ConnectionError(f"terminal {where} closed the connection")

    # -- listen mode ----------------------------------------------------------------------
    def _serve_listen(self) -> None:
        family = socket.AF_INET6 if ":" in self.settings.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((self.settings.host, self.settings.port))
            listener.listen(8)
        except OSError as exc:
            listener.close()
            raise ConnectionError(
                f"cannot listen on {self.settings.host}:{self.settings.port}: {exc}"
            ) from exc
        self.bound_port = listener.getsockname()[1]
        self.serving(f"listening on port {self.bound_port}")
        try:
            self._pump({}, listener=listener)
        finally:
            listener.close()

    def _admit(self, listener: socket.socket, peers: dict[socket.socket, LineFramer]) -> None:
        conn, addr = listener.accept()
        ip = ipaddress.ip_address(addr[0])
        if not any(ip in net for net in self._allowed):
            log.warning("reader %s: refused terminal from %s (not in allow)", self.name, addr[0])
            conn.close()
            return
        log.info("reader %s: terminal %s connected", self.name, addr[0])
        self.connections += 1
        peers[conn] = LineFramer(max_len=self.settings.max_line)

    # -- the shared loop ------------------------------------------------------------------
    def _pump(self, peers: dict[socket.socket, LineFramer], listener: socket.socket | None):
        """Read lines from every peer and send keep-alives until stop or (connect) EOF."""
        sel = selectors.DefaultSelector()
        sel.register(self._wake_r, selectors.EVENT_READ)
        if listener is not None:
            sel.register(listener, selectors.EVENT_READ)
        for sock in peers:
            sel.register(sock, selectors.EVENT_READ)
        next_keepalive = time.monotonic() + self.settings.keepalive_seconds
        try:
            while not self.stopping.is_set():
                timeout = max(0.0, next_keepalive - time.monotonic())
                for key, _ in sel.select(timeout):
                    sock = typing.cast(socket.socket, key.fileobj)
                    if sock is self._wake_r:
                        self.clear_wake()
                    elif sock is listener:
                        before = set(peers)
                        self._admit(listener, peers)
                        for new in set(peers) - before:
                            sel.register(new, selectors.EVENT_READ)
                    elif not self._read(sock, peers[sock]):
                        sel.unregister(sock)
                        peers.pop(sock).reset()
                        sock.close()
                        if listener is None:
                            return
                if time.monotonic() >= next_keepalive:
                    next_keepalive = time.monotonic() + self.settings.keepalive_seconds
                    if not self._keepalive(peers, sel) and listener is None:
                        return
        finally:
            for sock in peers:
                sock.close()
            sel.close()

    def _read(self, sock, framer: LineFramer) -> bool:
        """Deliver the complete lines waiting on `sock`; False when the peer is gone."""
        try:
            data = sock.recv(4096)
        except OSError as exc:
            log.warning("reader %s: read failed: %s", self.name, exc)
            return False
        if not data:
            return False
        self.deliver_framed(framer, data, self.settings.max_line)
        return True

    def _keepalive(self, peers: dict[socket.socket, LineFramer], sel) -> bool:
        """Send `\\r` to every peer, dropping those that fail; False when any failed."""
        ok = True
        for sock in list(peers):
            try:
                sock.sendall(b"\r")
            except OSError:
                ok = False
                sel.unregister(sock)
                peers.pop(sock)
                sock.close()
        return ok
