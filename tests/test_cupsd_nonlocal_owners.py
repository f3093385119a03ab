# SPDX-License-Identifier: GPL-3.0-or-later
"""Debian's current cupsd and job owners that are not local accounts, against the real cupsd.

cupsd 2.4.2-3+deb12u10 crashes (a) when an unauthenticated request naming a user NSS does
not know meets a `Require user @OWNER …` limit, and (b) when it starts a job whose document
name holds white space. The shipped policy avoids (a); the station renames such documents
as it releases them (b). No local account is created here: the owners are directory-style
names this machine does not know.
"""

from __future__ import annotations

import contextlib
import pwd
import socket
import subprocess
import time
import uuid

import cups
import pytest

from releasestation.config import CupsSettings
from releasestation.demo.private_cups import PrivateCups
from releasestation.demo.private_setup import stock_default_policy
from releasestation.errors import PrintServerError
from releasestation.printq import HELD, PrintServer, ipp
from releasestation.printq.checks import crash_hazards, crashing_version, installed_cupsd_version
from releasestation.printq.http import HttpConnection
from releasestation.printq.jobs import printer_uri
from releasestation.printq.policy import render_policy

OWNERS = ["alice", "CORP\\alice", "v@example.com"]
PS = b"%!PS-Adobe-3.0\nshowpage\n"


@pytest.fixture(autouse=True)
def _owners_are_not_local():
    for owner in OWNERS:
        with pytest.raises(KeyError):
            pwd.getpwnam(owner)


def post(cupsd: PrivateCups, body: bytes) -> tuple[int, bytes]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(cupsd.socket)
    conn = HttpConnection(sock, "localhost")
    try:
        status, _, data = conn.post(body)
    finally:
        conn.close()
    return status, data


def print_job(cupsd: PrivateCups, owner: str, title: str, queue: str = "Secure") -> int:
    """An unauthenticated Print-Job naming `owner`, with a document name of `title`."""
    body = ipp._encode(
        cups.IPP_OP_PRINT_JOB,
        [
            (cups.IPP_TAG_URI, "printer-uri", printer_uri(queue)),
            (cups.IPP_TAG_NAME, "requesting-user-name", owner),
            (cups.IPP_TAG_NAME, "job-name", title),
            (cups.IPP_TAG_NAME, "document-name", title),
            (cups.IPP_TAG_MIMETYPE, "document-format", "application/vnd.cups-raw"),
        ],
    )
    status, data = post(cupsd, body + PS)
    assert status == 200
    [job] = [a for _, a in ipp._decode(data) if "job-id" in a]
    return int(job["job-id"])


def lp(cupsd: PrivateCups, owner: str, path: str) -> int:
    done = subprocess.run(
        ["lp", "-h", cupsd.socket, "-U", owner, "-d", "Secure", path],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    return int(done.stdout.split("Secure-")[1].split()[0])


def test_non_local_owners_submit_every_way_and_their_swipe_releases_them(
    cups_clean, print_server, tmp_path
):
    pid = cups_clean.pid
    document = tmp_path / "Quarterly report.ps"  # a document name with white space
    document.write_bytes(PS)
    ids = []
    for owner in OWNERS:
        ids.append(cups_clean.submit(owner, f"report of {owner}"))  # Create-Job + Send-Document
        ids.append(print_job(cups_clean, owner, f"print job of {owner}"))
        ids.append(lp(cups_clean, owner, str(document)))
        assert cups_clean.pid == pid, f"cupsd died on a job of {owner!r}"
    held = print_server.held_jobs_for(["Secure"], OWNERS)
    assert [j.id for j in held] == ids and all(j.state == HELD for j in held)
    for job in held:
        print_server.release(job)
    printed = cups_clean.wait_printed(len(ids), timeout=30)
    assert sorted(c.job_id for c in printed) == ids
    assert {c.user for c in printed} == set(OWNERS)
    assert "Quarterly report.ps" in {c.title for c in printed}  # the title is kept
    assert cups_clean.pid == pid


def test_made_up_users_neither_crash_cupsd_nor_touch_a_held_job(cups_clean, print_server):
    job_id = cups_clean.submit("alice", "alice's payslip")
    pid = cups_clean.pid
    ghost = f"ghost-{uuid.uuid4().hex[:8]}"
    job_uri = [(cups.IPP_TAG_URI, "job-uri", f"ipp://localhost/jobs/{job_id}")]
    for op in (
        cups.IPP_OP_RELEASE_JOB,
        cups.IPP_OP_HOLD_JOB,
        cups.IPP_OP_CANCEL_JOB,
        cups.IPP_OP_RESTART_JOB,
        cups.IPP_OP_SET_JOB_ATTRIBUTES,
        cups.IPP_OP_GET_JOB_ATTRIBUTES,
        cups.IPP_OP_CUPS_GET_DOCUMENT,
        cups.IPP_OP_CLOSE_JOB,
        cups.IPP_OP_CANCEL_MY_JOBS,
        cups.IPP_OP_CANCEL_SUBSCRIPTION,
        cups.IPP_OP_GET_NOTIFICATIONS,
    ):
        for who in (ghost, "alice"):
            attributes = [*job_uri, (cups.IPP_TAG_NAME, "requesting-user-name", who)]
            post(cups_clean, ipp._encode(op, attributes))
            assert cups_clean.pid == pid, f"cupsd died on operation 0x{op:04x} as {who!r}"
    job = print_server.job(job_id)
    assert job is not None and job.state == HELD
    assert cups_clean.printed() == []


def test_the_stock_policy_crashes_exactly_where_the_check_says(tmp_path):
    """Send-Document naming a user NSS does not know, under CUPS's stock policy: the check's
    version rule and the real cupsd agree."""
    version = installed_cupsd_version()
    if version is None:
        pytest.skip("cups-daemon is not a Debian package here")
    with PrivateCups(policy="default") as cupsd:
        cupsd.add_hold_queue("Stock")
        pid = cupsd.pid
        # A broken connection means cupsd died at Send-Document (checked below).
        with contextlib.suppress(PrintServerError):
            cupsd.submit("ghost", "x", queue="Stock")
        time.sleep(0.5)
        died = not cupsd.running or cupsd.pid != pid
    assert died == crashing_version(version)


def test_check_names_the_hazard_of_a_policy_that_checks_owner_without_auth():
    stock = stock_default_policy()
    conf = stock + render_policy("releasestation")
    [problem] = crash_hazards(conf, {"default"}, "2.4.2-3+deb12u10", owners=["alice"])
    assert "'default'" in problem and "Send-Document" in problem and "Cancel-Job" in problem
    assert "2.4.2-3+deb12u10" in problem and "'alice'" in problem
    assert crash_hazards(conf, {"releasestation"}, "2.4.2-3+deb12u10", ["alice"]) == []
    assert crash_hazards(conf, {"default"}, "2.4.2-3+deb12u9", ["alice"]) == []
    [unknown] = crash_hazards(conf, {"default"}, None)
    assert "if it is Debian's 2.4.2-3+deb12u10 or later" in unknown
    assert "NSS does not know" in unknown and "such as" not in unknown  # no owners given


def test_releasestation_check_warns_about_the_stock_policy_on_this_cupsd(cups_default_clean):
    version = installed_cupsd_version()
    if version is None or not crashing_version(version):
        pytest.skip(f"cupsd {version} is not one that crashes")
    server = PrintServer(CupsSettings(server=cups_default_clean.socket))
    try:
        problems = server.check(["Secure"], owners=["alice", "root"])
    finally:
        server.close()
    [hazard] = [p for p in problems if "crashes" in p]
    assert "policy 'default'" in hazard and version in hazard and "'alice'" in hazard
    assert "'root'" not in hazard  # a local account: NSS knows it
