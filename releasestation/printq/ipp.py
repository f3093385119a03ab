# SPDX-License-Identifier: GPL-3.0-or-later
"""Read-only IPP requests to cupsd over our own HTTP connection, never authenticated.

Why not pycups for reads: pycups' getJobs() always asks about every queue, cannot name the
requesting user without `my_jobs` (so other users' job-originating-user-name comes back
hidden), and takes `my_jobs`'s user from `cups.setUser()`, which is per thread and, once a
connection has authenticated (PeerCred) for a release, is ignored in favour of the
authenticated name. Here each request names its printer-uri, its requesting-user-name and
its which-jobs itself. Requests are built by libcups (`cups.IPPRequest`); responses are
parsed here.

Server: a domain socket path, or `host[:port]` (TLS with certificate validation when
encryption is "required"). One IppClient per thread.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterable, Sequence
from typing import Any

import cups

from releasestation.printq.http import HttpConnection

IPP_PORT = 631
OK_LIMIT = 0x00FF  # successful-ok .. successful-ok-events-complete
NOT_FOUND = 0x0406
SUBSCRIPTION_GROUP = 0x06  # IPP_TAG_SUBSCRIPTION, which pycups does not name
EVENT_GROUP = 0x07  # IPP_TAG_EVENT_NOTIFICATION
_END = 0x03
_INTEGER, _BOOLEAN, _ENUM = 0x21, 0x22, 0x23
_TEXT_LANG, _NAME_LANG = 0x35, 0x36

Value = str | int | bool | Sequence[str] | Sequence[int]


class IppError(Exception):
    """cupsd answered with an HTTP or IPP error status."""

    def __init__(self, status: int, text: str):
        self.status = status
        super().__init__(text)


def split_server(server: str) -> tuple[str, int]:
    """(host, port) of a CupsSettings.server; a domain socket path is its own host."""
    if server.startswith("/"):
        return server, IPP_PORT
    if server.startswith("["):
        host, _, rest = server[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else IPP_PORT
    host, _, port = server.partition(":")
    return host, int(port) if port else IPP_PORT


class IppClient:
    """One keep-alive HTTP connection to cupsd for read-only IPP operations."""

    def __init__(self, server: str, encryption: str = "if-requested", timeout: float = 10.0):
        self.server = server
        self.encryption = encryption
        self.timeout = timeout
        self._http: HttpConnection | None = None
        self.connects = 0

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def request(
        self,
        operation: int,
        attributes: Iterable[tuple[int, str, Value]],
        subscription: Iterable[tuple[int, str, Value]] = (),
        resend: bool = True,
        job: Iterable[tuple[int, str, Value]] = (),
        authorization: str = "",
    ) -> list[tuple[int, dict[str, Any]]]:
        """Send one request (operation-group attributes as (value tag, name, value), and
        those of a subscription group and of a job group) and return the response's
        attribute groups as (group tag, {name: value}). `authorization` is an HTTP
        Authorization value, for the rare write that must be sent from here.

        A connection that has gone away (cupsd restarted) is reopened and the request sent
        once more, unless `resend` is false (a request that must not be done twice);
        `connects` counts the connections opened.
        """
        body = _encode(operation, attributes, subscription, job)
        try:
            data = self._post(body, authorization)
        except OSError:
            self.close()
            if not resend:
                raise
            data = self._post(body, authorization)
        return _decode(data)

    def _post(self, body: bytes, authorization: str = "") -> bytes:
        if self._http is not None and not self._http.open:
            self.close()  # cupsd closed it after its last answer: a new one is counted
            raise ConnectionError("cupsd closed the connection after its last answer")
        conn = self._http or self._connect()
        try:
            status, reason, data = conn.post(body, authorization=authorization)
        except BaseException:
            self.close()
            raise
        if status != 200:
            self.close()
            raise IppError(status, f"HTTP {status} {reason}")
        return data

    def _connect(self) -> HttpConnection:
        host, port = split_server(self.server)
        if host.startswith("/"):
            field = "localhost"
        else:
            try:
                name = host.encode("idna").decode("ascii")
            except UnicodeError as exc:
                raise ConnectionError(f"cannot use the host name {host!r}: {exc}") from None
            field = f"[{name}]:{port}" if ":" in name else f"{name}:{port}"
        sock = self._socket(host, port)
        # Never reopened behind our back (after a "Connection: close"): every connection is
        # made here and counted, so a caller can tell that cupsd may have restarted.
        self._http = HttpConnection(sock, field)
        self.connects += 1
        return self._http

    def _socket(self, host: str, port: int) -> socket.socket:
        if host.startswith("/"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(host)
            except OSError:
                sock.close()
                raise
            return sock
        sock = socket.create_connection((host, port), timeout=self.timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.encryption == "required":
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        except OSError:
            sock.close()
            raise
        return sock


def _encode(
    operation: int,
    attributes: Iterable[tuple[int, str, Value]],
    subscription: Iterable[tuple[int, str, Value]] = (),
    job: Iterable[tuple[int, str, Value]] = (),
) -> bytes:
    request = cups.IPPRequest(operation)  # adds attributes-charset / -natural-language
    for group, items in ((cups.IPP_TAG_OPERATION, attributes),
                         (cups.IPP_TAG_JOB, job),
                         (SUBSCRIPTION_GROUP, subscription)):  # fmt: skip
        for tag, name, value in items:
            values = list(value) if isinstance(value, list | tuple) else value
            request.add(cups.IPPAttribute(group, tag, name, values))
    chunks: list[bytes] = []

    def write(chunk: bytes) -> int:
        chunks.append(bytes(chunk))
        return len(chunk)

    request.writeIO(write)
    return b"".join(chunks)


def _decode(data: bytes) -> list[tuple[int, dict[str, Any]]]:
    """The attribute groups of an IPP response; IppError for an error status.

    Parsed here rather than by `cups.IPPRequest.readIO`, which calls back into Python for
    every chunk (four times slower) and whose group-separator entries crash when touched.
    """
    if len(data) < 8:
        raise IppError(0x0500, "short IPP response")
    status = int.from_bytes(data[2:4], "big")
    groups: list[tuple[int, dict[str, Any]]] = []
    current: dict[str, Any] = {}
    name = ""
    pos, end = 8, len(data)
    while pos < end:
        tag = data[pos]
        pos += 1
        if tag == _END:
            break
        if tag < 0x10:  # a delimiter starts a new group (operation, job, printer, ...)
            current, name = {}, ""
            groups.append((tag, current))
            continue
        size = int.from_bytes(data[pos : pos + 2], "big")
        attr_name = data[pos + 2 : pos + 2 + size].decode("utf-8", "replace")
        pos += 2 + size
        size = int.from_bytes(data[pos : pos + 2], "big")
        value = _value(tag, data[pos + 2 : pos + 2 + size])
        pos += 2 + size
        if attr_name:
            name = attr_name
            current[name] = value
        elif name:  # one more value of the attribute before
            old = current[name]
            current[name] = [*old, value] if isinstance(old, list) else [old, value]
    if status > OK_LIMIT:
        raise IppError(status, _status_message(groups) or cups.ippErrorString(status))
    return groups


def _value(tag: int, raw: bytes) -> Any:
    if tag in (_INTEGER, _ENUM):
        return int.from_bytes(raw, "big", signed=True)
    if tag == _BOOLEAN:
        return raw != b"\0"
    if tag in (_TEXT_LANG, _NAME_LANG):  # language, then the text itself
        skip = 2 + int.from_bytes(raw[:2], "big")
        return raw[skip + 2 :].decode("utf-8", "replace")
    if 0x40 <= tag <= 0x5F:  # text, name, keyword, uri, charset, language, mime type
        return raw.decode("utf-8", "replace")
    if tag < 0x20:  # out-of-band: unsupported, unknown, no-value
        return None
    return raw


def _status_message(groups: list[tuple[int, dict[str, Any]]]) -> str:
    for tag, attrs in groups:
        if tag == cups.IPP_TAG_OPERATION and "status-message" in attrs:
            return str(attrs["status-message"])
    return ""


def groups_of(groups: list[tuple[int, dict[str, Any]]], tag: int) -> list[dict[str, Any]]:
    """The attribute groups of one kind (job, printer) from a response."""
    return [attrs for group, attrs in groups if group == tag]
