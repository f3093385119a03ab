# SPDX-License-Identifier: GPL-3.0-or-later
"""Just enough HTTP/1.1 for IPP to cupsd: POST a body on a kept connection, read the answer.

Not http.client, whose answer parsing (an e-mail header parser) is heavy: a printer-state
read made 50 ms apart (the CPU's caches cold, as when a swipe comes after a quiet while)
took 0.88 ms at p50 with it and 0.59 ms with this; a swipe makes two such reads.

An answer's body comes by Content-Length or in chunks; interim (1xx) answers before it
are skipped. A body that would end when the connection closes (neither framing) is refused
without being read: it cannot be told from one cut short, and cupsd always frames its
answers; only a 204 or 304 answer, which has no body, may come with neither. Whatever a
server sends is bounded: a line, the number of header fields, of interim answers, and the
size of a body. A broken answer raises ConnectionError naming what was wrong, and the
connection is closed: what is left of that answer is never read as the next one.

A request may carry a document after its body (Print-Job): it is sent from its file (or
bytes) a piece at a time, never joined to the request in one buffer.
"""

from __future__ import annotations

import io
import re
import socket
from typing import BinaryIO

MAX_LINE = 65536  # a status or header line
MAX_HEADERS = 100  # header (or trailer) fields of one answer
MAX_INTERIM = 10  # 1xx answers before the real one
MAX_BODY = 64 * 1024 * 1024  # an IPP answer: every held job of a queue is a few MiB
PIECE = 65536  # bodies are read this much at a time, never sized up front
NO_BODY = (204, 304)  # answers that never have a body, whatever their header fields say

_STATUS = re.compile(r"HTTP/(\d\.\d) ([1-5]\d\d)(?: (.*))?")
_LENGTH = re.compile(r"[0-9]{1,19}")
_CHUNK = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;.*)?")


class HttpConnection:
    """One HTTP/1.1 keep-alive connection on a connected socket; `host` is the Host field."""

    def __init__(self, sock: socket.socket, host: str):
        self.sock = sock
        self.host = host.encode("ascii")
        self._in = sock.makefile("rb")
        self.open = True  # False once closed, or once the server said it closes after an answer

    def close(self) -> None:
        self.open = False
        self._in.close()
        self.sock.close()

    def post(
        self,
        body: bytes,
        content_type: str = "application/ipp",
        authorization: str = "",
        document: bytes | BinaryIO | None = None,
    ) -> tuple[int, str, bytes]:
        """(HTTP status, reason, body) of a POST of `body` to "/", with an Authorization
        field when `authorization` is given and `document` (from where its file stands
        now to its end) sent after `body`."""
        try:
            return self._post(body, content_type, authorization, document)
        except BaseException:
            self.close()  # part of the answer may be unread
            raise

    def _post(
        self,
        body: bytes,
        content_type: str,
        authorization: str,
        document: bytes | BinaryIO | None,
    ) -> tuple[int, str, bytes]:
        stream = io.BytesIO(document) if isinstance(document, bytes | bytearray) else document
        length = len(body) + (_left(stream) if stream is not None else 0)
        head = b"POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
        head %= (self.host, content_type.encode("ascii"), length)
        if authorization:
            if any(c in authorization for c in "\r\n\0"):
                raise ValueError("an Authorization field cannot hold a line break or NUL")
            head += b"Authorization: %s\r\n" % authorization.encode("utf-8")
        self.sock.sendall(head + b"\r\n" + body)
        if stream is not None:
            self._send(stream, length - len(body))
        for _ in range(MAX_INTERIM + 1):
            version, status, reason = self._status_line()
            headers = self._headers()
            if status >= 200:  # 100 Continue and the like come before the answer
                break
        else:
            raise ConnectionError(f"more than {MAX_INTERIM} interim HTTP answers")
        data = self._body(status, headers)
        if version == "1.0" or "close" in headers.get("connection", "").lower():
            self.close()
        return status, reason, data

    def _send(self, stream: BinaryIO, size: int) -> None:
        """Send exactly `size` bytes of `stream`, PIECE at a time."""
        while size > 0:
            piece = stream.read(min(PIECE, size))
            if not piece:
                raise ConnectionError("the document ended before its length was sent")
            self.sock.sendall(piece)
            size -= len(piece)

    def _line(self) -> bytes:
        line = self._in.readline(MAX_LINE + 1)
        if not line:
            raise ConnectionError("the server closed the connection")
        if len(line) > MAX_LINE or not line.endswith(b"\n"):
            raise ConnectionError("malformed HTTP answer (a line too long or cut short)")
        return line.rstrip(b"\r\n")

    def _status_line(self) -> tuple[str, int, str]:
        text = self._line().decode("latin-1")
        found = _STATUS.fullmatch(text)
        if found is None:
            raise ConnectionError(f"malformed HTTP status line {text[:80]!r}")
        return found[1], int(found[2]), found[3] or ""

    def _headers(self) -> dict[str, str]:
        """Header fields up to the empty line (trailer fields too), names in lower case."""
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADERS + 1):
            line = self._line()
            if not line:
                return headers
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        raise ConnectionError(f"more than {MAX_HEADERS} HTTP header fields")

    def _body(self, status: int, headers: dict[str, str]) -> bytes:
        if status in NO_BODY:
            return b""
        coding = headers.get("transfer-encoding")
        if coding is not None:
            # Plain chunked only: a coding that does not end in chunked ends with the
            # connection, and one under chunked (gzip, ...) would have to be undone.
            if coding.strip().lower() != "chunked":
                raise ConnectionError(f"unsupported Transfer-Encoding {coding[:40]!r}")
            return self._chunked()
        length = headers.get("content-length")
        if length is not None:
            if not _LENGTH.fullmatch(length):
                raise ConnectionError(f"malformed Content-Length {length[:20]!r}")
            _check_size(int(length))
            return bytes(self._exactly(int(length)))
        raise ConnectionError(
            f"HTTP {status} answer with neither Content-Length nor chunked Transfer-Encoding:"
            " a body that ends when the connection closes cannot be told from a cut-off one"
        )

    def _chunked(self) -> bytes:
        data = bytearray()
        while True:
            line = self._line()
            found = _CHUNK.fullmatch(line)
            if found is None:
                raise ConnectionError(f"malformed chunk size {line[:20]!r}")
            size = int(found[1], 16)
            if size == 0:
                self._headers()  # trailer fields, then the empty line
                return bytes(data)
            _check_size(len(data) + size)
            data += self._exactly(size)
            if self._in.read(2) != b"\r\n":
                raise ConnectionError("malformed chunk (no line end after its data)")

    def _exactly(self, size: int) -> bytearray:
        data = bytearray()
        while len(data) < size:
            piece = self._in.read(min(PIECE, size - len(data)))
            if not piece:
                raise ConnectionError("the server closed the connection in the middle of an answer")
            data += piece
        return data


def _left(stream: BinaryIO) -> int:
    """Bytes from where `stream` stands to its end (it must be seekable)."""
    here = stream.tell()
    end = stream.seek(0, io.SEEK_END)
    stream.seek(here)
    return max(end - here, 0)


def _check_size(size: int) -> None:
    if size > MAX_BODY:
        raise ConnectionError(f"an answer of more than {MAX_BODY} bytes")
