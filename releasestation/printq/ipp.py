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

IPP_PORT = 631
OK_LIMIT = 0x00FF  # successful-ok .. successful-ok-events-complete
NOT_FOUND = 0x0406
SUBSCRIPTION_GROUP = 0x06  # IPP_TAG_SUBSCRIPTION, which pycups does not name
EVENT_GROUP = 0x07  # IPP_TAG_EVENT_NOTIFICATION
_END = 0x03
_INTEGER, _BOOLEAN, _ENUM = 0x21, 0x22, 0x23
_TEXT_LANG, _NAME_LANG = 0x35, 0x36
MAX_LINE = 65536  # an HTTP status or header line
MAX_HEADERS = 100
MAX_BODY = 256 * 1024 * 1024  # an IPP answer (every held job's attributes is far less)

Value = str | int | bool | Sequence[str] | Sequence[int]


class IppError(Exception):
    """cupsd answered with an HTTP or IPP error status."""

    def __init__(self, status: int, text: str):
        self.status = status
        super().__init__(text)


class _Http:
    """One HTTP/1.1 keep-alive connection, just enough for IPP: POST a body, read the
    answer (Content-Length, chunked, or up to the end of the connection).

    Not http.client: its response parsing (the e-mail header parser) cost more than the
    rest of a request put together when the CPU's caches were cold, as they are when a
    swipe comes after a quiet while, and a swipe makes two such requests."""

    def __init__(self, sock: socket.socket, host: str):
        self.sock = sock
        self.host = host.encode("idna")
        self._in = sock.makefile("rb")
        self.open = True  # False once cupsd said it closes the connection after an answer

    def close(self) -> None:
        self.open = False
        self._in.close()
        self.sock.close()

    def post(self, body: bytes) -> tuple[int, str, bytes]:
        """(HTTP status, reason, body) of a POST of `body` to "/"."""
        head = b"POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/ipp\r\n" % self.host
        self.sock.sendall(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        while True:
            version, status, reason = self._status_line()
            headers = self._headers()
            if not 100 <= status < 200:  # 100 Continue and the like come before the answer
                break
        data = self._body(headers)
        if version == "HTTP/1.0" or "close" in headers.get("connection", "").lower():
            self.close()
        return status, reason, data

    def _line(self) -> bytes:
        line = self._in.readline(MAX_LINE + 1)
        if not line:
            raise ConnectionError("cupsd closed the connection")
        if len(line) > MAX_LINE or not line.endswith(b"\n"):
            raise ConnectionError("malformed HTTP answer (a line too long or cut short)")
        return line.rstrip(b"\r\n")

    def _status_line(self) -> tuple[str, int, str]:
        parts = self._line().decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise ConnectionError(f"malformed HTTP status line {' '.join(parts)[:80]!r}")
        return parts[0], int(parts[1]), parts[2] if len(parts) > 2 else ""

    def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADERS):
            line = self._line()
            if not line:
                return headers
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        raise ConnectionError(f"more than {MAX_HEADERS} HTTP header fields")

    def _body(self, headers: dict[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                size_text = self._line().split(b";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise ConnectionError(f"malformed chunk size {size_text[:20]!r}") from None
                if size == 0:
                    while self._line():  # trailer fields, then the empty line
                        pass
                    return b"".join(chunks)
                total += size
                self._check_size(total)
                chunks.append(self._exactly(size))
                if self._in.read(2) != b"\r\n":
                    raise ConnectionError("malformed chunk (no line end after its data)")
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                raise ConnectionError(f"malformed Content-Length {length[:20]!r}")
            self._check_size(int(length))
            return self._exactly(int(length))
        data = self._in.read(MAX_BODY + 1)  # neither: the body ends with the connection
        self._check_size(len(data))
        self.open = False
        return data

    def _exactly(self, size: int) -> bytes:
        data = self._in.read(size)
        if len(data) != size:
            raise ConnectionError("cupsd closed the connection in the middle of an answer")
        return data

    @staticmethod
    def _check_size(size: int) -> None:
        if size > MAX_BODY:
            raise ConnectionError(f"an answer of more than {MAX_BODY} bytes")


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
        self._http: _Http | None = None
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
    ) -> list[tuple[int, dict[str, Any]]]:
        """Send one request (operation-group attributes as (value tag, name, value), and
        those of a subscription group) and return the response's attribute groups as
        (group tag, {name: value}).

        A connection that has gone away (cupsd restarted) is reopened and the request sent
        once more, unless `resend` is false (a request that must not be done twice);
        `connects` counts the connections opened.
        """
        body = _encode(operation, attributes, subscription)
        try:
            data = self._post(body)
        except OSError:
            self.close()
            if not resend:
                raise
            data = self._post(body)
        return _decode(data)

    def _post(self, body: bytes) -> bytes:
        if self._http is not None and not self._http.open:
            self.close()  # cupsd closed it after its last answer: a new one is counted
            raise ConnectionError("cupsd closed the connection after its last answer")
        conn = self._http or self._connect()
        status, reason, data = conn.post(body)
        if status != 200:
            self.close()
            raise IppError(status, f"HTTP {status} {reason}")
        return data

    def _connect(self) -> _Http:
        host, port = split_server(self.server)
        sock: socket.socket
        if host.startswith("/"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(host)
            except OSError:
                sock.close()
                raise
            name = "localhost"
        else:
            sock = socket.create_connection((host, port), timeout=self.timeout)
            if self.encryption == "required":
                try:
                    sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
                except OSError:
                    sock.close()
                    raise
            name = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        # Never reopened behind our back (after a "Connection: close"): every connection is
        # made here and counted, so a caller can tell that cupsd may have restarted.
        self._http = _Http(sock, name)
        self.connects += 1
        return self._http


def _encode(
    operation: int,
    attributes: Iterable[tuple[int, str, Value]],
    subscription: Iterable[tuple[int, str, Value]] = (),
) -> bytes:
    request = cups.IPPRequest(operation)  # adds attributes-charset / -natural-language
    for group, items in ((cups.IPP_TAG_OPERATION, attributes),
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
