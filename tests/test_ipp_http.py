# SPDX-License-Identifier: GPL-3.0-or-later
"""The IPP client's own HTTP/1.1: answers as servers send them, over a real domain socket.

cupsd itself answers in the print-server tests; here a small server answers what cupsd
would seldom send (Content-Length, 100 Continue, "Connection: close") and what no server
should (broken framing), to show each is read right or refused with a clear error.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import cups
import pytest

from releasestation.printq import ipp

# The smallest IPP answer: version 2.0, successful-ok, request id 1, no attributes.
OK = bytes([2, 0, 0, 0, 0, 0, 0, 1, 3])
PRINTER = (
    bytes([2, 0, 0, 0, 0, 0, 0, 1, 4, 0x23, 0, 13])
    + b"printer-state"
    + bytes([0, 4, 0, 0, 0, 3, 3])
)  # a printer group: printer-state = 3 (idle)
ASK = [(cups.IPP_TAG_URI, "printer-uri", "ipp://localhost/printers/Secure")]


class Server:
    """Answers each request on a connection with the next of `answers` (raw bytes)."""

    def __init__(self, path: Path, answers: list[bytes]):
        self.path = str(path)
        self.answers = list(answers)
        self.requests: list[bytes] = []
        self.connections = 0
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(4)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.answers:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                reader = conn.makefile("rb")
                while self.answers:
                    head = b""
                    while not head.endswith(b"\r\n\r\n"):
                        byte = reader.read(1)
                        if not byte:
                            break
                        head += byte
                    if not head:
                        break
                    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                    self.requests.append(head + reader.read(length))
                    answer = self.answers.pop(0)
                    conn.sendall(answer)
                    if b"Connection: close" in answer.split(b"\r\n\r\n")[0]:
                        break

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator:
    servers: list[Server] = []

    def start(*answers: bytes) -> tuple[Server, ipp.IppClient]:
        server = Server(tmp_path / f"s{len(servers)}.sock", list(answers))
        servers.append(server)
        return server, ipp.IppClient(server.path, timeout=5)

    yield start
    for server in servers:
        server.close()


def chunked(body: bytes, size: int = 5) -> bytes:
    parts = [b"%x;ext=1\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size])
             for i in range(0, len(body), size)]  # fmt: skip
    return b"".join(parts) + b"0\r\nX-Trailer: yes\r\n\r\n"


def test_chunked_and_content_length_answers_on_one_kept_connection(serve):
    server, client = serve(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(PRINTER),
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(PRINTER), PRINTER),
    )
    for _ in range(2):
        groups = client.request(cups.IPP_OP_GET_PRINTER_ATTRIBUTES, ASK)
        assert ipp.groups_of(groups, cups.IPP_TAG_PRINTER) == [{"printer-state": 3}]
    assert client.connects == 1 and server.connections == 1
    request = server.requests[0]
    assert request.startswith(b"POST / HTTP/1.1\r\nHost: localhost\r\n")
    assert b"Content-Type: application/ipp\r\n" in request


def test_interim_answers_are_skipped(serve):
    _, client = serve(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n" + OK
    )
    assert client.request(cups.IPP_OP_GET_PRINTER_ATTRIBUTES, ASK) == []


def test_connection_close_is_honoured_and_the_next_connection_counted(serve):
    server, client = serve(
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 9\r\n\r\n" + OK,
        b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n" + OK,
    )
    client.request(cups.IPP_OP_GET_PRINTER_ATTRIBUTES, ASK)
    with pytest.raises(ConnectionError, match="closed the connection after its last answer"):
        client.request(cups.IPP_OP_GET_PRINTER_ATTRIBUTES, ASK, resend=False)
    client.request(cups.IPP_OP_GET_PRINTER_ATTRIBUTES, ASK)
    assert client.connects == 2 and server.connections == 2


def test_a_body_that_ends_with_the_connection(serve):
    _, client = serve(b"HTTP/1.0 200 OK\r\n\r\n" + OK)
    assert client.request(cups.IPP_OP_GET_PRINTER_ATTRIBUTES, ASK) == []


def test_http_errors_name_the_status_and_drop_the_connection(serve):
    _, client = serve(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
    with pytest.raises(ipp.IppError, match="HTTP 403 Forbidden") as caught:
        client.request(cups.IPP_OP_GET_PRINTER_ATTRIBUTES, ASK)
    assert caught.value.status == 403


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (b"SMTP ready\r\n\r\n", "malformed HTTP status line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n", "malformed Content-Length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "malformed chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd", "no line end"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nshort", "in the middle of an answer"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"y" * (ipp.MAX_LINE + 10) + b"\r\n\r\n", "line too long"),
        (b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * (ipp.MAX_HEADERS + 1), "header fields"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (ipp.MAX_BODY + 1), "more than"),
    ],
)
def test_broken_answers_are_refused_with_what_was_wrong(serve, answer, error):
    _, client = serve(answer)
    with pytest.raises(ConnectionError, match=error):
        client.request(cups.IPP_OP_GET_PRINTER_ATTRIBUTES, ASK, resend=False)
