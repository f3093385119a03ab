# SPDX-License-Identifier: GPL-3.0-or-later
"""The IPP client's own HTTP/1.1: answers as servers send them, over real sockets.

cupsd itself answers in the print-server tests; here a small server answers what cupsd
would seldom send (Content-Length, 100 Continue, "Connection: close", TLS) and what no
server should (broken framing, endless or oversized answers), to show each is read right
or refused with a clear error, and that a broken answer never leaks into the next one.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cups
import pytest

from bench.servers.slapd_data import make_certificates
from releasestation.config import CupsSettings
from releasestation.errors import PrintServerError
from releasestation.printq import PrintServer, http, ipp

# The smallest IPP answer: version 2.0, successful-ok, request id 1, no attributes.
OK = bytes([2, 0, 0, 0, 0, 0, 0, 1, 3])
PRINTER = (
    bytes([2, 0, 0, 0, 0, 0, 0, 1, 4, 0x23, 0, 13])
    + b"printer-state"
    + bytes([0, 4, 0, 0, 0, 3, 3])
)  # a printer group: printer-state = 3 (idle)
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n" + OK
ASK = [(cups.IPP_TAG_URI, "printer-uri", "ipp://localhost/printers/Secure")]
TRAILERS = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + b"T: 1\r\n" * 101
STALL = b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n\x02"  # then nothing more


class Server:
    """Answers each request with the next of `answers` (raw bytes, or (seconds, raw bytes)
    to answer that late), on a domain socket, on TCP, or with TLS. After a STALL answer it
    waits until the client hangs up."""

    def __init__(self, answers: list, path: Path | None, tls: ssl.SSLContext | None):
        self.answers = list(answers)
        self.requests: list[bytes] = []
        self.connections = 0
        self.tls = tls
        if path is not None:
            self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.listener.bind(str(path))
            self.address = str(path)
        else:
            self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.listener.bind(("127.0.0.1", 0))
            self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.listener.listen(4)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.answers:
            try:
                conn, _ = self.listener.accept()
                self.connections += 1
                if self.tls is not None:
                    conn = self.tls.wrap_socket(conn, server_side=True)
            except OSError:  # closed, or a client that refused our certificate
                if self.listener.fileno() < 0:
                    return
                continue
            with conn, contextlib.suppress(OSError):  # a client that gave up and hung up
                self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        while self.answers:
            head = reader.readline()
            while head and not head.endswith(b"\r\n\r\n"):
                line = reader.readline()
                if not line:
                    return
                head += line
            if not head:
                return
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            self.requests.append(head + reader.read(length))
            answer = self.answers.pop(0)
            if isinstance(answer, tuple):  # (seconds, answer): a server slow to answer
                delay, answer = answer
                time.sleep(delay)
            conn.sendall(answer)
            if answer is STALL:
                reader.read()  # until the client gives up and hangs up
                return
            if b"Connection: close" in answer.split(b"\r\n\r\n")[0]:
                return

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator:
    servers: list[Server] = []

    def start(
        *answers: bytes, tcp: bool = False, tls: ssl.SSLContext | None = None, **options
    ) -> tuple[Server, ipp.IppClient]:
        path = None if tcp or tls else tmp_path / f"s{len(servers)}.sock"
        server = Server(list(answers), path, tls)
        servers.append(server)
        options.setdefault("timeout", 5)
        return server, ipp.IppClient(server.address, **options)

    yield start
    for server in servers:
        server.close()


def chunked(body: bytes, size: int = 5) -> bytes:
    parts = [b"%x;ext=1\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size])
             for i in range(0, len(body), size)]  # fmt: skip
    return b"".join(parts) + b"0\r\nX-Trailer: yes\r\n\r\n"


def printer_state(client: ipp.IppClient) -> list[dict]:
    groups = client.request(cups.IPP_OP_GET_PRINTER_ATTRIBUTES, ASK)
    return ipp.groups_of(groups, cups.IPP_TAG_PRINTER)


def test_chunked_and_content_length_answers_on_one_kept_connection(serve):
    server, client = serve(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(PRINTER),
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(PRINTER), PRINTER),
    )
    assert printer_state(client) == printer_state(client) == [{"printer-state": 3}]
    assert client.connects == 1 and server.connections == 1
    request = server.requests[0]
    assert request.startswith(b"POST / HTTP/1.1\r\nHost: localhost\r\n")
    assert b"Content-Type: application/ipp\r\n" in request


def test_over_tcp_the_host_field_names_the_server_and_small_writes_are_not_held_back(serve):
    server, client = serve(ANSWER, tcp=True)
    assert printer_state(client) == []
    host, port = server.address.split(":")
    assert server.requests[0].startswith(b"POST / HTTP/1.1\r\nHost: %s:%s\r\n" % (
        host.encode(), port.encode()))  # fmt: skip
    assert client._http is not None
    assert client._http.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def tls_context(directory: Path) -> tuple[ssl.SSLContext, Path]:
    certs = make_certificates(directory)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs.cert_file, certs.key_file)
    return context, certs.ca_file


def test_tls_checks_the_certificate(serve, tmp_path, monkeypatch):
    context, ca_file = tls_context(tmp_path / "certs")
    _, client = serve(ANSWER, ANSWER, tls=context, encryption="required")
    with pytest.raises(ssl.SSLCertVerificationError):
        printer_state(client)  # signed by a CA this machine does not trust
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # now it does
    assert printer_state(client) == []


def test_cupsd_is_trusted_through_cups_ca_file(serve, tmp_path):
    """A central cupsd with a certificate of the site's own CA (or self-signed):
    `[cups] ca_file` trusts it for the station's requests and nothing else; the check
    says what to set when it is missing, and names the key when its file cannot be read."""
    context, ca_file = tls_context(tmp_path / "certs")
    _, client = serve(ANSWER, tls=context, encryption="required", ca_file=str(ca_file))
    assert printer_state(client) == []

    server, _ = serve(ANSWER, tls=context)
    untrusted = PrintServer(CupsSettings(server=server.address, encryption="required"))
    missing = tmp_path / "no-such-ca.pem"
    unreadable = PrintServer(
        CupsSettings(server=server.address, encryption="required", ca_file=str(missing))
    )
    try:
        [problem] = untrusted.check(["Secure"], printer=None)
        assert "CERTIFICATE_VERIFY_FAILED" in problem and "[cups] ca_file" in problem
        [problem] = unreadable.check(["Secure"], printer=None)
        assert f"[cups] ca_file {missing}: No such file or directory" in problem
        assert "must name a readable PEM file" in problem
        # this machine's name reaches the server, whose certificate names 127.0.0.1
        name, port = socket.gethostname(), server.address.rsplit(":", 1)[1]
        if name != "localhost" and socket.gethostbyname(name) == "127.0.0.1":
            settings = CupsSettings(server=f"{name}:{port}", encryption="required",
                                    ca_file=str(ca_file))  # fmt: skip
            misnamed = PrintServer(settings)
            [problem] = misnamed.check(["Secure"], printer=None)
            misnamed.close()
            assert "Hostname mismatch" in problem and "as its certificate does" in problem
    finally:
        untrusted.close()
        unreadable.close()


def test_interim_answers_are_skipped_up_to_a_bound(serve):
    interim = b"HTTP/1.1 100 Continue\r\n\r\n"
    _, client = serve(interim + ANSWER, interim * (http.MAX_INTERIM + 1) + ANSWER)
    assert printer_state(client) == []
    with pytest.raises(ConnectionError, match="interim HTTP answers"):
        client.request(cups.IPP_OP_GET_PRINTER_ATTRIBUTES, ASK, resend=False)


def test_connection_close_is_honoured_and_the_next_connection_counted(serve):
    server, client = serve(
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 9\r\n\r\n" + OK, ANSWER
    )
    client.request(cups.IPP_OP_GET_PRINTER_ATTRIBUTES, ASK)
    with pytest.raises(ConnectionError, match="closed the connection after its last answer"):
        client.request(cups.IPP_OP_GET_PRINTER_ATTRIBUTES, ASK, resend=False)
    client.request(cups.IPP_OP_GET_PRINTER_ATTRIBUTES, ASK)
    assert client.connects == 2 and server.connections == 2


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.0 200 OK\r\n\r\n" + OK,
        b"HTTP/1.1 200 OK\r\n\r\n" + OK,
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + OK,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n" + OK,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n" + OK,
    ],
    ids=["http-1.0", "http-1.1", "connection-close", "gzip", "gzip-last"],
)
def test_a_body_that_would_end_with_the_connection_is_refused(serve, answer):
    server, client = serve(answer, ANSWER)
    with pytest.raises(ConnectionError, match=r"cannot be told from a cut-off one|Transfer-Enc"):
        client.request(cups.IPP_OP_GET_PRINTER_ATTRIBUTES, ASK, resend=False)
    assert client._http is None, "the connection was closed"
    assert printer_state(client) == []  # the next request goes on a new connection
    assert client.connects == 2 and server.connections == 2


def test_the_refusal_names_the_status_of_an_unframed_answer(serve):
    _, client = serve(b"HTTP/1.1 403 Forbidden\r\n\r\n<html>go away</html>")
    with pytest.raises(ConnectionError, match="HTTP 403 answer with neither Content-Length"):
        client.request(cups.IPP_OP_GET_PRINTER_ATTRIBUTES, ASK, resend=False)


def test_an_answer_that_never_has_a_body_needs_no_framing(serve):
    _, client = serve(b"HTTP/1.1 204 No Content\r\n\r\n", ANSWER)
    with pytest.raises(ipp.IppError, match="HTTP 204"):
        client.request(cups.IPP_OP_GET_PRINTER_ATTRIBUTES, ASK, resend=False)
    assert printer_state(client) == []


def test_http_errors_name_the_status_and_drop_the_connection(serve):
    server, client = serve(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", ANSWER)
    with pytest.raises(ipp.IppError, match="HTTP 403 Forbidden") as caught:
        client.request(cups.IPP_OP_GET_PRINTER_ATTRIBUTES, ASK)
    assert caught.value.status == 403
    assert printer_state(client) == []
    assert client.connects == 2 and server.connections == 2


def test_a_server_that_stops_mid_answer_times_out_and_the_request_goes_again(serve):
    server, client = serve(STALL, ANSWER, timeout=0.5)
    assert printer_state(client) == [], "the half answer was not taken for an answer"
    assert client.connects == 2 and server.connections == 2
    assert server.requests[0] == server.requests[1]


def test_one_request_may_wait_longer_than_the_client_s_timeout(serve):
    """Proves a request's own `timeout` (a service's full listing, which cupsd makes even
    for a caller that gave up) outlasts the client's, and only for that request: an answer
    0.8 s late is taken with timeout=3 on a client of 0.3 s, and the next request, just as
    late, fails after the client's own 0.3 s. Fails if the longer wait leaks into later
    requests or is not applied."""
    _server, client = serve((0.8, ANSWER), (0.8, ANSWER), timeout=0.3)
    started = time.monotonic()
    assert client.request(cups.IPP_OP_GET_PRINTER_ATTRIBUTES, ASK, timeout=3) == []
    assert 0.8 <= time.monotonic() - started < 3
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        client.request(cups.IPP_OP_GET_PRINTER_ATTRIBUTES, ASK, resend=False)
    assert time.monotonic() - started < 0.8


def test_a_broken_answer_is_not_read_as_the_next_one(serve):
    _, client = serve(
        b"HTTP/1.1 200 OK\r\nContent-Length: 9x\r\n\r\n" + OK, b"HTTP/1.1 200 OK\r\n", ANSWER
    )
    with pytest.raises(ConnectionError, match="malformed Content-Length"):
        client.request(cups.IPP_OP_GET_PRINTER_ATTRIBUTES, ASK, resend=False)
    assert printer_state(client) == []  # on a new connection, not the rest of the first


def test_a_malformed_ipp_answer_fails_that_request_and_closes_the_connection(serve):
    cut = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(PRINTER) - 3, PRINTER[:-3])
    server, client = serve(cut, ANSWER)
    with pytest.raises(ipp.IppDecodeError, match=r"value of 'printer-state' of 4 bytes with 2"):
        printer_state(client)
    assert client._http is None, "the connection it came on was closed"
    assert printer_state(client) == []
    assert client.connects == 2 and server.connections == 2
    assert len(server.requests) == 2, "a request answered badly is not sent again"


def test_the_print_server_reports_a_malformed_answer_as_its_own_failure(serve):
    server, _ = serve(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n\x02\x00\x00\x00\x00")
    printq = PrintServer(CupsSettings(server=server.address, timeout_seconds=5))
    try:
        with pytest.raises(PrintServerError, match="queue Secure: malformed IPP answer: header"):
            printq.queue_attributes("Secure")
    finally:
        printq.close()


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (b"SMTP ready\r\n\r\n", "malformed HTTP status line"),
        (b"HTTP/1.1 2000 OK\r\n\r\n", "malformed HTTP status line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n", "malformed Content-Length"),
        ("HTTP/1.1 200 OK\r\nContent-Length: \u00b2\r\n\r\n".encode("latin-1"), "Content-Len"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "malformed chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", "malformed chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd", "no line end"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nshort", "in the middle of an answer"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"y" * (http.MAX_LINE + 10) + b"\r\n\r\n", "line too long"),
        (b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * (http.MAX_HEADERS + 1), "header fields"),
        (TRAILERS, "header fields"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (http.MAX_BODY + 1), "more than"),
    ],
)
def test_broken_answers_are_refused_with_what_was_wrong(serve, answer, error):
    _, client = serve(answer)
    with pytest.raises(ConnectionError, match=error):
        client.request(cups.IPP_OP_GET_PRINTER_ATTRIBUTES, ASK, resend=False)


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(b"x" * 120, 40),
        b"HTTP/1.1 200 OK\r\nContent-Length: 120\r\n\r\n" + b"x" * 120,
    ],
    ids=["chunked", "content-length"],
)
def test_bodies_of_every_kind_are_held_to_the_size_bound(serve, monkeypatch, answer):
    monkeypatch.setattr(http, "MAX_BODY", 100)
    monkeypatch.setattr(http, "PIECE", 16)
    _, client = serve(answer)
    with pytest.raises(ConnectionError, match="more than 100 bytes"):
        client.request(cups.IPP_OP_GET_PRINTER_ATTRIBUTES, ASK, resend=False)
