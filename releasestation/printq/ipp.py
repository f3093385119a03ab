# SPDX-License-Identifier: GPL-3.0-or-later
"""Read-only IPP requests to cupsd over our own HTTP connection, never authenticated.

Why not pycups for reads: pycups' getJobs() always asks about every queue, cannot name the
requesting user without `my_jobs` (so other users' job-originating-user-name comes back
hidden), and takes `my_jobs`'s user from `cups.setUser()`, which is per thread and, once a
connection has authenticated (PeerCred) for a release, is ignored in favour of the
authenticated name. Here each request names its printer-uri, its requesting-user-name and
its which-jobs itself. Requests are built by libcups (`cups.IPPRequest`); answers are
parsed here, strictly: an answer that is not well-formed IPP raises IppDecodeError (what
was wrong, at which byte) and closes the connection it came on.

Some requests here are not reads: the station's releases (Set-Job-Attributes, with the
rename of releasestation.printq.docname when needed) and moves (CUPS-Move-Job), sent on a
connection of their own with `ready()` first and `resend=False`, so that `timeout_seconds`
bounds each and none is sent twice; and the Print-Job of a document submitted for a user,
which carries the document after the request (releasestation.printq.submission).

Server: a domain socket path, or `host[:port]` (TLS with certificate validation when
encryption is "required"). One IppClient per thread.
"""

from __future__ import annotations

import select
import socket
import ssl
from collections.abc import Iterable, Sequence
from typing import Any, BinaryIO

import cups

from releasestation.errors import PrintServerError
from releasestation.printq.http import HttpConnection

IPP_PORT = 631
OK_LIMIT = 0x00FF  # successful-ok .. successful-ok-events-complete
NOT_FOUND = 0x0406
SUBSCRIPTION_GROUP = 0x06  # IPP_TAG_SUBSCRIPTION, which pycups does not name
EVENT_GROUP = 0x07  # IPP_TAG_EVENT_NOTIFICATION
DECODE_FAILED = 0x0500  # IPP_STATUS_ERROR_INTERNAL: libcups' own for an answer it cannot read
MAX_NESTING = 10  # collections inside collections (libcups reads no deeper either)
_END = 0x03
# Group tags: operation, job, printer, unsupported, subscription, event notification,
# resource, document, system. 0x00 and 0x0b-0x0f are not assigned.
_GROUPS = frozenset({0x01, 0x02, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A})
_INTEGER, _BOOLEAN, _ENUM = 0x21, 0x22, 0x23
_DATE, _RESOLUTION, _RANGE = 0x31, 0x32, 0x33
_BEG_COLLECTION, _TEXT_LANG, _NAME_LANG, _END_COLLECTION = 0x34, 0x35, 0x36, 0x37
_MEMBER_NAME = 0x4A
_EXTENSION = 0x7F
_SIZES = {_INTEGER: 4, _BOOLEAN: 1, _ENUM: 4, _DATE: 11, _RESOLUTION: 9, _RANGE: 8}
_KINDS = {_INTEGER: "integer", _BOOLEAN: "boolean", _ENUM: "enum", _DATE: "dateTime",
          _RESOLUTION: "resolution", _RANGE: "rangeOfInteger"}  # fmt: skip

Value = str | int | bool | Sequence[str] | Sequence[int]


class IppError(Exception):
    """cupsd answered with an HTTP or IPP error status."""

    def __init__(self, status: int, text: str):
        self.status = status
        super().__init__(text)


class IppDecodeError(IppError, PrintServerError):
    """cupsd's answer is not well-formed IPP: what was wrong, and at which offset.

    The decoder raises nothing else. An IppError, with libcups' own status for an answer
    it cannot read (DECODE_FAILED, never NOT_FOUND), so that every caller that handles
    cupsd's refusals fails that one request with it; and a PrintServerError, the print
    server layer's error, for callers above the layer. IppClient closes the connection
    the answer came on.
    """

    def __init__(self, problem: str, offset: int):
        self.problem = problem
        self.offset = offset
        super().__init__(DECODE_FAILED, f"malformed IPP answer: {problem} (at offset {offset})")


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

    def __init__(
        self,
        server: str,
        encryption: str = "if-requested",
        timeout: float = 10.0,
        ca_file: str | None = None,
    ):
        """`ca_file`: the CA (PEM) cupsd's certificate is checked against with
        `encryption` "required"; None: the system's CAs."""
        self.server = server
        self.encryption = encryption
        self.timeout = timeout
        self.ca_file = ca_file
        self._http: HttpConnection | None = None
        self.connects = 0

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def ready(self) -> None:
        """Open a connection unless a usable one is kept: one the server has closed, or said
        it would close, is replaced. Before a request that must not be sent twice: an
        OSError from here means that nothing was sent (cupsd could not be reached), one from
        the request that follows, that cupsd may have done it."""
        if self._http is not None and (not self._http.open or _readable(self._http.sock)):
            self.close()  # an idle connection has nothing to read but its end (or garbage)
        if self._http is None:
            self._connect()

    def request(
        self,
        operation: int,
        attributes: Iterable[tuple[int, str, Value]],
        subscription: Iterable[tuple[int, str, Value]] = (),
        resend: bool = True,
        job: Iterable[tuple[int, str, Value]] = (),
        authorization: str = "",
        document: bytes | BinaryIO | None = None,
        timeout: float | None = None,
    ) -> list[tuple[int, dict[str, Any]]]:
        """Send one request (operation-group attributes as (value tag, name, value), and
        those of a subscription group and of a job group) and return the response's
        attribute groups as (group tag, {name: value}). `authorization` is an HTTP
        Authorization value, for the station's writes (releases, moves). `document`
        (bytes, or a seekable binary file from where it stands) follows the request, as
        Print-Job's data; a request with one is never sent twice.

        A connection that has gone away (cupsd restarted) is reopened and the request sent
        once more, unless `resend` is false (a request that must not be done twice);
        `connects` counts the connections opened. An answer that is not well-formed IPP
        raises IppDecodeError, closes the connection and is not asked for again (cupsd
        may have done what was asked). `timeout`: how long this request may wait for its
        answer, instead of the client's own (a long listing that must not be given up on).
        """
        body = _encode(operation, attributes, subscription, job)
        try:
            data = self._post(body, authorization, document, timeout)
        except OSError:
            self.close()
            if not resend or document is not None:
                raise
            data = self._post(body, authorization, timeout=timeout)
        try:
            return _decode(data)
        except IppDecodeError:
            self.close()  # nothing more that came from there is trusted
            raise

    def _post(
        self,
        body: bytes,
        authorization: str = "",
        document: bytes | BinaryIO | None = None,
        timeout: float | None = None,
    ) -> bytes:
        if self._http is not None and not self._http.open:
            self.close()  # cupsd closed it after its last answer: a new one is counted
            raise ConnectionError("cupsd closed the connection after its last answer")
        conn = self._http or self._connect()
        try:
            if timeout is not None:
                conn.sock.settimeout(timeout)
            status, reason, data = conn.post(body, authorization=authorization, document=document)
            if timeout is not None:
                conn.sock.settimeout(self.timeout)
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
                sock = self._tls().wrap_socket(sock, server_hostname=host)
        except OSError:
            sock.close()
            raise
        return sock

    def _tls(self) -> ssl.SSLContext:
        try:
            return ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise ConnectionError(f"[cups] ca_file {self.ca_file}: {reason}") from None


def _readable(sock: socket.socket) -> bool:
    """True when `sock` has something to read now (on an idle connection: its end)."""
    poller = select.poll()  # not select(): a daemon's descriptors may pass 1024
    try:
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


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
    """The attribute groups of an IPP answer; IppDecodeError when it is not well-formed,
    IppError for an error status.

    Parsed here rather than by `cups.IPPRequest.readIO`, which calls back into Python for
    every chunk (four times slower) and whose group-separator entries crash when touched.

    The header must be that of IPP/1.x or 2.x (an HTML page, say, is not taken for one).
    Every length is checked against what is left before anything is cut from `data`, so a
    length that claims more than there is fails at once and allocates nothing. Integers
    and enums must be 4 bytes, booleans 1 byte (0 or 1), dateTime 11, resolution 9,
    rangeOfInteger 8 (those three are returned as raw bytes). Out-of-band values
    (no-value, unknown, ...) are None, value types IPP may add later raw bytes. A
    collection is a dict of its members, nested at most MAX_NESTING deep. A value with an
    empty name is one more value of the attribute (or member) before it: the attribute's
    value becomes a list. Of an attribute named twice in one group, the later is kept; a
    group with no attributes is left out.

    Text that is not UTF-8 is decoded with U+FFFD for each bad byte rather than refused:
    one job whose name came in with bad bytes must not hide every other job in a listing.
    Such a name can only match a name that holds U+FFFD itself, never another user's.

    The answer must end with the end-of-attributes tag: cupsd sends document data after
    it only in answers to CUPS-Get-Document, which the station never sends, so bytes
    after it mean that the body and the IPP message disagree and are refused.
    """
    end = len(data)
    if end < 8:
        raise IppDecodeError(f"header cut short ({end} of 8 bytes)", 0)
    if data[0] not in (1, 2):
        raise IppDecodeError(f"not an IPP answer (version {data[0]}.{data[1]})", 0)
    groups: list[tuple[int, dict[str, Any]]] = []
    attrs: dict[str, Any] | None = None  # the group being read
    target: dict[str, Any] | None = None  # where values go: that group, or a collection
    name = ""  # the attribute (or member) that a value with an empty name adds to
    outer: list[tuple[dict[str, Any], str]] = []  # (target, name) around open collections
    waiting = False  # a member name was read, its first value not yet
    pos = 8
    while True:
        if pos >= end:
            raise IppDecodeError("no end-of-attributes tag (0x03)", pos)
        tag, at = data[pos], pos
        if tag < 0x10:  # a delimiter: a new group, or the end
            if outer:
                raise IppDecodeError(f"collection {outer[0][1]!r} not closed", pos)
            if attrs is not None and not attrs:
                groups.pop()
            if tag == _END:
                break
            if tag not in _GROUPS:
                raise IppDecodeError(f"unknown group tag 0x{tag:02x}", pos)
            attrs = target = {}
            groups.append((tag, attrs))
            name = ""
            pos += 1
            continue
        if target is None:
            raise IppDecodeError(f"value tag 0x{tag:02x} before any group tag", pos)
        if tag == _EXTENSION:
            raise IppDecodeError("extension value tag (0x7f), which cupsd never sends", pos)
        if end - pos < 3:
            raise IppDecodeError(f"name-length cut short ({end - pos - 1} of 2 bytes)", pos + 1)
        size = data[pos + 1] << 8 | data[pos + 2]
        pos += 3
        if size > end - pos:
            raise IppDecodeError(f"name of {size} bytes with {end - pos} left", pos - 2)
        label = data[pos : pos + size].decode("utf-8", "replace")
        pos += size
        if end - pos < 2:
            what = f"value-length of {label or name!r} cut short ({end - pos} of 2 bytes)"
            raise IppDecodeError(what, pos)
        size = data[pos] << 8 | data[pos + 1]
        pos += 2
        if size > end - pos:
            what = f"value of {label or name!r} of {size} bytes with {end - pos} left"
            raise IppDecodeError(what, pos - 2)
        try:
            value = _value(tag, data[pos : pos + size])
        except _Malformed as exc:
            raise IppDecodeError(f"{label or name!r}: {exc}", pos - 2) from None
        pos += size
        if outer:  # in a collection: member names come as values of their own
            if label:
                raise IppDecodeError(f"attribute {label!r} inside collection", at)
            if tag == _MEMBER_NAME:
                if waiting:
                    raise IppDecodeError(f"member {name!r} with no value", at)
                if not value:
                    raise IppDecodeError("empty member name", at)
                name, waiting = value, True
                continue
            if tag == _END_COLLECTION:
                if waiting:
                    raise IppDecodeError(f"member {name!r} with no value", at)
                target, name = outer.pop()
                continue
            if not name:
                raise IppDecodeError("collection value before any member name", at)
            first, waiting = waiting, False
        elif tag in (_MEMBER_NAME, _END_COLLECTION):
            raise IppDecodeError(f"value tag 0x{tag:02x} outside a collection", at)
        elif label:
            name, first = label, True
        elif name:
            first = False
        else:
            raise IppDecodeError("additional value with no attribute before it", at)
        if first:
            target[name] = value
        elif isinstance(old := target[name], list):  # no single value is a list
            old.append(value)
        else:
            target[name] = [old, value]
        if tag == _BEG_COLLECTION:
            if len(outer) == MAX_NESTING:
                raise IppDecodeError(f"collections nested more than {MAX_NESTING} deep", at)
            outer.append((target, name))
            target, name = value, ""
    if pos + 1 < end:
        raise IppDecodeError(f"{end - pos - 1} bytes after the end-of-attributes tag", pos + 1)
    status = int.from_bytes(data[2:4], "big")
    if status > OK_LIMIT:
        raise IppError(status, _status_message(groups) or cups.ippErrorString(status))
    return groups


class _Malformed(Exception):
    """A value that does not fit its tag (the decoder adds the name and the offset)."""


def _value(tag: int, raw: bytes) -> Any:
    size = _SIZES.get(tag)
    if size is not None and len(raw) != size:
        raise _Malformed(f"{_KINDS[tag]} value of {len(raw)} bytes, not {size}")
    if tag in (_INTEGER, _ENUM):
        return int.from_bytes(raw, "big", signed=True)
    if tag == _BOOLEAN:
        if raw[0] > 1:
            raise _Malformed(f"boolean value {raw[0]}, not 0 or 1")
        return raw[0] == 1
    if 0x40 <= tag <= 0x5F:  # text, name, keyword, uri, charset, language, mime type
        return raw.decode("utf-8", "replace")
    if tag in (_TEXT_LANG, _NAME_LANG):
        return _with_language(raw)
    if tag < 0x20:  # out-of-band (unsupported, unknown, no-value): its value is ignored
        return None
    if tag == _BEG_COLLECTION:
        return {}  # its members follow; its own value is ignored
    return raw


def _with_language(raw: bytes) -> str:
    """The text of a textWithLanguage / nameWithLanguage value: two lengths and what each
    counts (the language, then the text), which must add up to the value's size."""
    if len(raw) < 2:
        raise _Malformed(f"language-length cut short ({len(raw)} of 2 bytes)")
    skip = 2 + (raw[0] << 8 | raw[1])
    if skip + 2 > len(raw):
        raise _Malformed(f"language of {skip - 2} bytes with {len(raw) - 2} left")
    size = raw[skip] << 8 | raw[skip + 1]
    if skip + 2 + size != len(raw):
        raise _Malformed(f"text of {size} bytes where {len(raw) - skip - 2} are left")
    return raw[skip + 2 :].decode("utf-8", "replace")


def _status_message(groups: list[tuple[int, dict[str, Any]]]) -> str:
    for tag, attrs in groups:
        if tag == cups.IPP_TAG_OPERATION and "status-message" in attrs:
            return str(attrs["status-message"])
    return ""


def groups_of(groups: list[tuple[int, dict[str, Any]]], tag: int) -> list[dict[str, Any]]:
    """The attribute groups of one kind (job, printer) from a response."""
    return [attrs for group, attrs in groups if group == tag]
