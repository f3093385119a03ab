# SPDX-License-Identifier: GPL-3.0-or-later
"""The IMAP mailbox mail-to-print reads (imaplib, RFC 3501), always over TLS.

TLS from the first byte (port 993), or STARTTLS (`starttls = yes`, port 143) before the
password is sent; the server's certificate and name are checked against the system's CAs
or `ca_file`, always. The password comes from `password_file` (0600) and is never logged
(imaplib's own debug output is never turned on).

Messages are named by UID. A message is read with BODY.PEEK[] (no \\Seen flag set) and
moved with UID MOVE (RFC 6851), or UID COPY, \\Deleted and UID EXPUNGE (RFC 4315) where
the server has no MOVE, or EXPUNGE where it has neither.

Waiting for mail: with IDLE (RFC 2177) when the server offers it after login, the wait
ends as soon as the server says a message exists; the IDLE is renewed every
`idle_seconds`. Without it, the wait is `poll_seconds`. imaplib has no IDLE (before
Python 3.14), so IDLE is spoken here on the TLS socket itself: between commands imaplib's
read buffer is empty, and IDLE's own lines never pass through it.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import re
import select
import socket
import ssl
import threading
import time

from releasestation.config import read_secret_text
from releasestation.errors import ReleaseStationError
from releasestation.mailprint.settings import MailprintSettings

log = logging.getLogger(__name__)

_EXISTS = re.compile(rb"^\* \d+ (EXISTS|RECENT)\b", re.MULTILINE)
_IDLE_TAG = b"RSIDLE"
SLICE = 0.25  # seconds: how often a wait looks at its stop event


class MailboxError(ReleaseStationError):
    """The IMAP server cannot be reached, refused the login, or refused a command."""


def _quoted(folder: str) -> str:
    """A mailbox name as an IMAP quoted string."""
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Mailbox:
    """One logged-in IMAP connection with `settings.folder` selected."""

    def __init__(self, settings: MailprintSettings):
        self.settings = settings
        self.where = f"{settings.imap_server}:{settings.port}"
        self.imap: imaplib.IMAP4 | None = None
        self.capabilities: frozenset[str] = frozenset()

    # -- connection ---------------------------------------------------------------------------
    def __enter__(self) -> Mailbox:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def open(self) -> None:
        s = self.settings
        try:
            password = read_secret_text(None, s.password_file, "[mailprint] password_file") or ""
        except ReleaseStationError as exc:
            raise MailboxError(str(exc)) from None
        context = ssl.create_default_context(cafile=s.ca_file or None)
        try:
            if s.starttls:
                imap: imaplib.IMAP4 = imaplib.IMAP4(s.imap_server, s.port, s.timeout_seconds)
                imap.starttls(context)
            else:
                imap = imaplib.IMAP4_SSL(
                    s.imap_server, s.port, ssl_context=context, timeout=s.timeout_seconds
                )
            self.imap = imap
            imap.login(s.user, password)
            self.capabilities = self._capabilities()
            for folder in (s.processed_folder, s.failed_folder):
                imap.create(_quoted(folder))  # NO when it exists: a failed move says more
            self._ok(imap.select(_quoted(s.folder)), f"select {s.folder}")
        except (OSError, imaplib.IMAP4.error, ssl.SSLError) as exc:
            self.close()
            raise MailboxError(f"IMAP server {self.where}: {_reason(exc)}") from None
        log.debug("IMAP %s: logged in as %s, %s", self.where, s.user, "IDLE" if self.can_idle
                  else "no IDLE: polling")  # fmt: skip

    def _capabilities(self) -> frozenset[str]:
        """What the server offers after login (it may offer more than before)."""
        typ, data = self._connected().capability()
        words = b" ".join(d for d in data if isinstance(d, bytes)).decode("ascii", "replace")
        return frozenset(w.upper() for w in words.split()) if typ == "OK" else frozenset()

    @property
    def can_idle(self) -> bool:
        return "IDLE" in self.capabilities

    def close(self) -> None:
        imap, self.imap = self.imap, None
        if imap is None:
            return
        try:
            imap.logout()
        except (OSError, imaplib.IMAP4.error, ssl.SSLError):
            with contextlib.suppress(OSError):
                imap.shutdown()

    # -- messages ----------------------------------------------------------------------------
    def uids(self) -> list[int]:
        """The UIDs of the messages in the folder not marked deleted, oldest first."""
        data = self._command("uid search", lambda imap: imap.uid("SEARCH", "UNDELETED"))
        return sorted(int(u) for u in b" ".join(x for x in data if x).split())

    def size(self, uid: int) -> int | None:
        """The size of message `uid` in bytes, as the server counts it; None if unknown."""
        data = self._command("uid fetch", lambda imap: imap.uid("FETCH", str(uid), "(RFC822.SIZE)"))
        for item in data:
            line = item[0] if isinstance(item, tuple) else item
            found = re.search(rb"RFC822\.SIZE (\d+)", line or b"")
            if found:
                return int(found[1])
        return None

    def fetch(self, uid: int, header_only: bool = False) -> bytes | None:
        """Message `uid` (only its header with `header_only`), unread flags left alone;
        None when it is gone."""
        part = "(BODY.PEEK[HEADER])" if header_only else "(BODY.PEEK[])"
        data = self._command("uid fetch", lambda imap: imap.uid("FETCH", str(uid), part))
        for item in data:
            if isinstance(item, tuple) and len(item) >= 2 and isinstance(item[1], bytes):
                return item[1]
        return None

    def move(self, uid: int, folder: str) -> None:
        """Move message `uid` to `folder`."""
        target, number = _quoted(folder), str(uid)
        if "MOVE" in self.capabilities:
            self._command("uid move", lambda imap: imap.uid("MOVE", number, target))
            return
        self._command("uid copy", lambda imap: imap.uid("COPY", number, target))
        self._command(
            "uid store", lambda imap: imap.uid("STORE", number, "+FLAGS.SILENT", r"(\Deleted)")
        )
        if "UIDPLUS" in self.capabilities:
            self._command("uid expunge", lambda imap: imap.uid("EXPUNGE", number))
        else:
            self._command("expunge", lambda imap: imap.expunge())

    def _connected(self) -> imaplib.IMAP4:
        if self.imap is None:
            raise MailboxError(f"IMAP server {self.where}: not connected")
        return self.imap

    def _command(self, what: str, call) -> list:
        imap = self._connected()
        try:
            typ, data = call(imap)
        except (OSError, imaplib.IMAP4.error, ssl.SSLError) as exc:
            raise MailboxError(f"IMAP server {self.where}: {what}: {_reason(exc)}") from None
        return self._ok((typ, data), what)

    def _ok(self, answer: tuple[str, list], what: str) -> list:
        typ, data = answer
        if typ != "OK":
            said = b" ".join(d for d in data if isinstance(d, bytes)).decode("utf-8", "replace")
            raise MailboxError(f"IMAP server {self.where}: {what}: {typ} {said}")
        return data

    # -- waiting ------------------------------------------------------------------------------
    def wait(self, stop: threading.Event) -> bool:
        """Wait for new mail: IDLE for up to `idle_seconds` where offered, else sleep
        `poll_seconds`. True when the server said mail arrived (or the wait just ended)."""
        if not self.can_idle:
            stop.wait(self.settings.poll_seconds)
            return True
        return self._idle(stop, self.settings.idle_seconds)

    def _idle(self, stop: threading.Event, seconds: float) -> bool:
        sock = self._connected().socket()
        tag = _IDLE_TAG + str(time.monotonic_ns()).encode()
        try:
            sock.sendall(tag + b" IDLE\r\n")
            buffer, end = b"", time.monotonic() + self.settings.timeout_seconds
            while not re.search(rb"(^|\n)\+[^\n]*\n", buffer):  # untagged lines may come first
                buffer = self._read_line(sock, buffer, end)
                if re.search(rb"(^|\n)" + tag + rb" ", buffer):
                    raise MailboxError(f"IMAP server {self.where}: IDLE refused: {buffer[-100:]!r}")
            arrived = _EXISTS.search(buffer) is not None
            deadline = time.monotonic() + seconds
            while not stop.is_set() and time.monotonic() < deadline and not arrived:
                buffer += _receive(sock, SLICE)
                arrived = _EXISTS.search(buffer) is not None
            sock.sendall(b"DONE\r\n")
            end = time.monotonic() + self.settings.timeout_seconds
            while not re.search(rb"(^|\n)" + tag + rb" [^\n]*\n", buffer):
                buffer = self._read_line(sock, buffer, end)
        except (OSError, ssl.SSLError) as exc:
            raise MailboxError(f"IMAP server {self.where}: IDLE: {_reason(exc)}") from None
        return arrived

    def _read_line(self, sock: socket.socket, buffer: bytes, deadline: float) -> bytes:
        """`buffer` with at least one more complete line read from `sock`."""
        lines = buffer.count(b"\n")
        while buffer.count(b"\n") == lines:
            if time.monotonic() > deadline:
                raise MailboxError(f"IMAP server {self.where}: no answer within the timeout")
            buffer += _receive(sock, SLICE)
        return buffer


def _receive(sock: socket.socket, timeout: float) -> bytes:
    """What `sock` has within `timeout` seconds (b"" when nothing came)."""
    pending = sock.pending() if isinstance(sock, ssl.SSLSocket) else 0
    if not pending:
        readable, _, _ = select.select([sock], [], [], timeout)
        if not readable:
            return b""
    try:
        data = sock.recv(65536)
    except ssl.SSLWantReadError:
        return b""
    if not data:
        raise ConnectionError("the server closed the connection")
    return data


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate not trusted: {exc.verify_message}"
    text = str(exc.args[0] if exc.args else exc)
    if text.startswith("b'") or text.startswith('b"'):
        text = text[2:-1]
    return text or type(exc).__name__
