# SPDX-License-Identifier: GPL-3.0-or-later
"""The print server's releases and moves against a real private cupsd: what cupsd refuses is
a failure naming the fix, never a release in doubt. (What happens when cupsd's answer never
comes is tests/faults/test_cupsd.py's.)"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest

from releasestation.config import CupsSettings
from releasestation.errors import PrintServerError
from releasestation.printq import HELD, PrintServer
from releasestation.printq.releases import NoAnswer, ReleaseInDoubt


class TcpFront:
    """A TCP listener on 127.0.0.1 that passes each connection on to cupsd's domain socket,
    so that the station talks to cupsd "over the network" (host:port, no PeerCred)."""

    def __init__(self, target: str):
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.listener.accept()
                server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                server.connect(self.target)
                self.conns += [client, server]
                for a, b in ((client, server), (server, client)):
                    threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.listener.close()
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.close()


@pytest.fixture
def over_tcp(cups_clean) -> Iterator[PrintServer]:
    """A PrintServer that reaches the session's cupsd by TCP, without a [cups] password."""
    front = TcpFront(cups_clean.socket)
    server = PrintServer(CupsSettings(server=f"127.0.0.1:{front.port}", timeout_seconds=5))
    yield server
    server.close()
    front.close()


def test_a_release_over_the_network_without_a_password_names_the_fix(cups_clean, over_tcp):
    """Proves that over the network with no [cups] password the release goes out without
    an Authorization field (as libcups first sends it), and that cupsd's demand for
    authentication (the shipped policy's) comes back at once as a failure naming the
    settings to set, not as a release in doubt; the job stays held. Fails on a hang, a
    message that does not say what to do, or a job that is no longer held."""
    job_id = cups_clean.submit("daemon", "report")
    [job] = [j for j in over_tcp.held_jobs(["Secure"]) if j.id == job_id]
    with pytest.raises(PrintServerError) as caught:
        over_tcp.release(job)
    assert not isinstance(caught.value, ReleaseInDoubt | NoAnswer)
    message = str(caught.value)
    assert "HTTP 401" in message and "[cups] user and password" in message, message
    assert over_tcp.job(job_id).state == HELD


def test_a_refused_release_and_move_are_failures_and_the_job_stays_held(cups_clean, print_server):
    """Proves that cupsd's own refusal (an IPP error status: a real answer) is a plain
    failure naming the server, the job and the status, never a release in doubt; and that
    a move to a printer cupsd does not have leaves the job held on its queue. Fails if a
    refusal is taken for a missing answer or the job is moved or released."""
    job_id = cups_clean.submit("games", "report")
    [job] = [j for j in print_server.held_jobs(["Secure"]) if j.id == job_id]
    with pytest.raises(PrintServerError) as caught:
        print_server.release(job, "NoSuchPrinter")
    assert not isinstance(caught.value, ReleaseInDoubt | NoAnswer)
    message = str(caught.value)
    assert cups_clean.socket in message and f"job {job_id}" in message
    assert "NoSuchPrinter" in message and "IPP status 0x04" in message, message
    now = print_server.job(job_id)
    assert (now.state, now.queue) == (HELD, "Secure")
