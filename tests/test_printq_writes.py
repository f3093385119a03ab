# SPDX-License-Identifier: GPL-3.0-or-later
"""The print server's releases and moves against a real private cupsd: what cupsd refuses is
a failure naming the fix, never a release in doubt. (What happens when cupsd's answer never
comes is tests/faults/test_cupsd.py's.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from releasestation.config import CupsSettings
from releasestation.errors import PrintServerError
from releasestation.printq import HELD, PrintServer
from releasestation.printq.releases import NoAnswer, ReleaseInDoubt
from tests.fixtures.cupsd_proxy import StallingProxy


@pytest.fixture
def over_tcp(cups_clean) -> Iterator[PrintServer]:
    """A PrintServer that reaches the session's cupsd by TCP, without a [cups] password."""
    front = StallingProxy(cups_clean.socket)  # a plain proxy on TCP
    server = PrintServer(CupsSettings(server=front.address, timeout_seconds=5))
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
