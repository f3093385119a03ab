# SPDX-License-Identifier: GPL-3.0-or-later
"""The printmanager backend in a real private cupsd, wrapping a capture backend, against a
stand-in API on loopback (tests/fixtures/gateway.py)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from releasestation.gateway.backend import DISCOVERY
from releasestation.gateway.install import install
from tests.fixtures.gateway import (
    DISCARD_BACKEND,
    RECORD_BACKEND,
    SYSTEM_PYTHON,
    TOKEN,
    GatewayCups,
    StandIn,
    add_backend,
    lp_submit,
    write_settings,
)

DATA = b"%!PS-Adobe-3.0\n%%Pages: 2\n%%Title: gateway\nshowpage\nshowpage\n"
CANCELED, ABORTED, COMPLETED, HELD = 7, 8, 9, 4
CUPS_SOCKET = "/usr/lib/cups/backend/socket"
IDLE = 3


def wait_state(cups: GatewayCups, job_id: int, states: tuple[int, ...], timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        attrs = cups.job_attributes(job_id)
        if attrs["job-state"] in states or time.monotonic() > deadline:
            return attrs
        time.sleep(0.05)


def test_discovery_line_and_lpinfo(gateway: GatewayCups):
    backend = gateway.root / "bin" / "backend" / "printmanager"
    done = subprocess.run([str(backend)], capture_output=True, text=True, timeout=30, check=True)
    assert done.stdout.strip() == DISCOVERY
    listed = subprocess.run(
        ["lpinfo", "-h", gateway.socket, "-v"], capture_output=True, text=True,
        env=gateway.client_env(), timeout=60, check=True,
    )  # fmt: skip
    assert "network printmanager" in listed.stdout.splitlines()


def test_allowed_job_prints_the_same_bytes_and_the_payload_is_right(
    gateway: GatewayCups, stand_in: StandIn, tmp_path
):
    job_id = lp_submit(gateway, "Gate", DATA, tmp_path, "-o", "raw", "-o", "job-billing=CC7")
    printed = gateway.wait_printed(1)
    assert [p.data for p in printed] == [DATA]
    assert printed[0].job_id == job_id and printed[0].copies == 1
    assert wait_state(gateway, job_id, (COMPLETED,))["job-state"] == COMPLETED
    (ask,) = stand_in.calls("/authorize")
    assert ask.path == "/api/authorize"
    assert ask.headers["Authorization"] == f"Bearer {TOKEN}"
    job = ask.body["job"]
    assert job["id"] == job_id and job["user"] == "daemon" and job["title"] == "report"
    assert job["uuid"].startswith("urn:uuid:")
    assert job["uuid"] == gateway.job_attributes(job_id)["job-uuid"]
    assert job["copies"] == 1 and job["bytes"] == len(DATA) and job["pages"] == 2
    assert job["billing"] == {"job-billing": "CC7"}
    assert job["originating_host"] == "localhost"
    assert ask.body["queue"]["name"] == "Gate"
    assert ask.body["device"] == {"scheme": "lpcapture", "host": ""}
    (done,) = stand_in.wait_calls("/complete", 1)
    assert done.body["job"]["uuid"] == job["uuid"]
    assert done.body["printed"] is True and done.body["exit_code"] == 0
    assert done.body["pages"] == 2  # the capture backend's PAGE: lines


def test_a_completion_the_api_did_not_take_is_sent_again_with_the_same_id(
    gateway: GatewayCups, stand_in: StandIn, tmp_path
):
    """The job printed; the API fails the first /complete (a 503, as while it restarts):
    the backend sends it again with the same completion id, for the API to count once."""
    completes: list[int] = []

    def answer(seen):
        if seen.path.endswith("/complete"):
            completes.append(1)
            return (503, {}) if len(completes) == 1 else (200, {})
        return 200, {}

    stand_in.answer = answer
    job_id = lp_submit(gateway, "Gate", DATA, tmp_path, "-o", "raw")
    assert wait_state(gateway, job_id, (COMPLETED,))["job-state"] == COMPLETED
    first, second = stand_in.wait_calls("/complete", 2)
    assert first.body == second.body and len(first.body["completion"]) == 16
    assert second.at - first.at >= 0.9
    time.sleep(1.5)
    assert len(stand_in.calls("/complete")) == 2, "taken the second time: no third"


@pytest.mark.parametrize(("status", "reason"), [(403, "account-authorization-failed"),
                                                (402, "account-limit-reached")])  # fmt: skip
def test_refused_job_is_cancelled_and_the_queue_keeps_printing(
    gateway: GatewayCups, stand_in: StandIn, tmp_path, status, reason
):
    stand_in.answer = status
    refused = lp_submit(gateway, "Gate", DATA, tmp_path, "-o", "raw")
    attrs = wait_state(gateway, refused, (CANCELED, ABORTED, COMPLETED))
    assert attrs["job-state"] == CANCELED
    assert reason in attrs.get("job-printer-state-message", "")
    printer = gateway.printer_attributes("Gate")
    assert printer["printer-state"] == IDLE
    assert printer["printer-is-accepting-jobs"]
    assert "daemon" not in printer["printer-state-message"]
    assert gateway.printed() == []
    stand_in.answer = 200
    allowed = lp_submit(gateway, "Gate", DATA, tmp_path, "-o", "raw")
    assert [p.job_id for p in gateway.wait_printed(1)] == [allowed]
    assert stand_in.wait_calls("/complete", 1)[0].body["job"]["id"] == allowed


def test_api_down_the_job_waits_and_prints_once_with_one_uuid(
    gateway: GatewayCups, stand_in: StandIn, tmp_path
):
    stand_in.stop()
    job_id = lp_submit(gateway, "Gate", DATA, tmp_path, "-o", "raw")
    time.sleep(3)  # a few tries, each refused: held for JobRetryInterval (1 s), retried
    assert gateway.printed() == []
    attrs = gateway.job_attributes(job_id)
    assert attrs["job-state"] in (HELD, 3, 5)  # waiting for its retry, never aborted
    printer = gateway.printer_attributes("Gate")
    assert printer["printer-state"] != 5 and printer["printer-is-accepting-jobs"]
    stand_in.start()
    assert [p.job_id for p in gateway.wait_printed(1, timeout=15)] == [job_id]
    assert wait_state(gateway, job_id, (COMPLETED,))["job-state"] == COMPLETED
    time.sleep(1.5)
    assert len(gateway.printed()) == 1
    uuids = {s.body["job"]["uuid"] for s in stand_in.seen}
    assert uuids == {gateway.job_attributes(job_id)["job-uuid"]}
    assert len(stand_in.calls("/complete")) == 1


def test_api_hanging_the_job_waits_and_prints_once(
    gateway: GatewayCups, stand_in: StandIn, tmp_path
):
    stand_in.delay = 10  # longer than [gateway] timeout (2 s)
    job_id = lp_submit(gateway, "Gate", DATA, tmp_path, "-o", "raw")
    stand_in.wait_calls("/authorize", 1)
    time.sleep(2.5)
    assert gateway.printed() == []
    stand_in.delay = 0
    assert [p.job_id for p in gateway.wait_printed(1, timeout=20)] == [job_id]
    time.sleep(1)
    assert len(gateway.printed()) == 1
    assert gateway.printer_attributes("Gate")["printer-is-accepting-jobs"]


def test_three_copies_on_a_raw_queue_are_three_not_nine(
    gateway: GatewayCups, stand_in: StandIn, tmp_path
):
    job_id = lp_submit(gateway, "Gate", DATA, tmp_path, "-o", "raw", "-n", "3")
    (printed,) = gateway.wait_printed(1)
    # A file and copies=3 reach the real backend unchanged: it makes the three copies.
    assert printed.job_id == job_id and printed.copies == 3 and printed.data == DATA
    assert stand_in.calls("/authorize")[0].body["job"]["copies"] == 3
    assert stand_in.wait_calls("/complete", 1)[0].body["pages"] == 6  # PAGE: n 3, twice


def test_three_copies_on_a_filtered_queue_match_the_unwrapped_queue(
    gateway: GatewayCups, stand_in: StandIn, tmp_path
):
    model = ("-m", "drv:///sample.drv/generic.ppd")
    gateway.add_gateway_queue("GateFiltered", *model)
    gateway._run("lpadmin", "-p", "PlainFiltered", "-E", "-v", f"lpcapture:{gateway.captures}",
                 *model)  # fmt: skip
    wrapped = lp_submit(gateway, "GateFiltered", DATA, tmp_path, "-n", "3")
    gateway.wait_printed(1, timeout=20)
    plain = lp_submit(gateway, "PlainFiltered", DATA, tmp_path, "-n", "3")
    by_id = {p.job_id: p for p in gateway.wait_printed(2, timeout=20)}
    assert by_id[wrapped].copies == by_id[plain].copies
    showpages = [by_id[j].data.count(b"showpage") for j in (wrapped, plain)]
    assert showpages[0] == showpages[1]
    assert abs(len(by_id[wrapped].data) - len(by_id[plain].data)) < 200  # titles, ids differ


@pytest.mark.parametrize(("code", "state"), [(0, COMPLETED), (3, HELD), (5, CANCELED)])
def test_the_real_backends_exit_code_passes_through(gateway: GatewayCups, tmp_path, code, state):
    add_backend(gateway, "record", RECORD_BACKEND)
    gateway._run("lpadmin", "-p", "GateRecord", "-E", "-v", f"printmanager:record:/{code}")
    job_id = lp_submit(gateway, "GateRecord", DATA, tmp_path, "-o", "raw")
    assert wait_state(gateway, job_id, (state,))["job-state"] == state
    if code:
        deadline = time.monotonic() + 5
        while f"[Job {job_id}] Backend returned status {code}" not in gateway.error_log(200):
            assert time.monotonic() < deadline, gateway.error_log()
            time.sleep(0.05)


def test_stop_from_the_real_backend_stops_the_queue_as_it_would(gateway: GatewayCups, tmp_path):
    add_backend(gateway, "record", RECORD_BACKEND)
    gateway._run("lpadmin", "-p", "GateStop", "-E", "-v", "printmanager:record:/4")
    lp_submit(gateway, "GateStop", DATA, tmp_path, "-o", "raw")
    deadline = time.monotonic() + 10
    while gateway.printer_attributes("GateStop")["printer-state"] != 5:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    gateway._run("lpadmin", "-x", "GateStop")


def test_real_backend_gets_the_inner_uri_as_argv0_and_device_uri(gateway: GatewayCups, tmp_path):
    add_backend(gateway, "record", RECORD_BACKEND)
    inner = "record://printer.example:9100/0"
    gateway._run("lpadmin", "-p", "GateArgs", "-E", "-v", f"printmanager:{inner}")
    job_id = lp_submit(gateway, "GateArgs", DATA, tmp_path, "-o", "raw", "-n", "2")
    wait_state(gateway, job_id, (COMPLETED,))
    lines = (gateway.root / "record" / f"{job_id}.args").read_text().splitlines()
    assert lines[1] == inner  # DEVICE_URI
    assert lines[2:6] == [str(job_id), "daemon", "report", "2"]
    assert lines[-1].startswith(str(gateway.root / "spool"))  # the file, not stdin


def test_cancel_while_the_api_is_slow_leaves_no_process(
    gateway: GatewayCups, stand_in: StandIn, tmp_path
):
    stand_in.delay = 1.8  # under the 2 s timeout: the backend is waiting for the answer
    job_id = lp_submit(gateway, "Gate", DATA, tmp_path, "-o", "raw")
    stand_in.wait_calls("/authorize", 1)
    subprocess.run(["cancel", "-h", gateway.socket, str(job_id)], env=gateway.client_env(),
                   check=True, timeout=30)  # fmt: skip
    deadline = time.monotonic() + 5
    while backends_running(gateway):
        assert time.monotonic() < deadline, backends_running(gateway)
        time.sleep(0.05)
    time.sleep(2.5)
    assert gateway.printed() == [] and stand_in.calls("/complete") == []
    assert gateway.job_attributes(job_id)["job-state"] == CANCELED


def backends_running(cups: GatewayCups) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "backend/printmanager" in cmdline or "lpcapture" in cmdline:
            found.append(cmdline)
    return found


def test_credentials_and_job_password_go_nowhere(gateway: GatewayCups, stand_in: StandIn, tmp_path):
    add_backend(gateway, "record", RECORD_BACKEND)
    gateway._run("lpadmin", "-p", "GateSecret", "-E", "-v",
                 "printmanager:record://alice:S3cretPw@printer.example:9100/0")  # fmt: skip
    job_id = lp_submit(gateway, "GateSecret", DATA, tmp_path, "-o", "raw",
                       "-o", "job-password=98765432")  # fmt: skip
    wait_state(gateway, job_id, (COMPLETED,))
    stand_in.wait_calls("/complete", 1)
    sent = json.dumps([s.body for s in stand_in.seen])
    assert "S3cretPw" not in sent and "alice" not in sent and "98765432" not in sent
    assert "job-password" not in sent
    (ask,) = stand_in.calls("/authorize")
    assert ask.body["device"] == {"scheme": "record", "host": "printer.example"}
    logs = "".join(p.read_text(errors="replace") for p in (gateway.root / "log").iterdir())
    assert "S3cretPw" not in logs and "98765432" not in logs
    message = gateway.printer_attributes("GateSecret")["printer-state-message"]
    assert "S3cretPw" not in message and "98765432" not in message
    assert f"[Job {job_id}] Print gateway: the device URI holds a user name" in logs
    # What the backend cannot help: cupsd shows a nested URI whole to every user.
    listed = subprocess.run(["lpstat", "-h", gateway.socket, "-v", "GateSecret"],
                            capture_output=True, text=True, env=gateway.client_env(),
                            timeout=30, check=True)  # fmt: skip
    assert "S3cretPw" in listed.stdout


HOSTILE = "a\"b'c$(touch${IFS}/tmp/rs-gateway-pwned)`touch /tmp/rs-gateway-pwned`;x"


@pytest.mark.parametrize("title", [HOSTILE, HOSTILE + "\nline2 $(touch /tmp/rs-gateway-pwned)"])
def test_hostile_titles_do_nothing(gateway: GatewayCups, stand_in: StandIn, tmp_path, title):
    Path("/tmp/rs-gateway-pwned").unlink(missing_ok=True)
    job_id = lp_submit(gateway, "Gate", DATA, tmp_path, "-o", "raw", title=title)
    (printed,) = gateway.wait_printed(1)
    assert printed.job_id == job_id and printed.data == DATA
    assert stand_in.calls("/authorize")[0].body["job"]["title"] == printed.title
    if "\n" not in title:  # cupsd names a job whose title has a newline "Untitled"
        assert printed.title == title
    assert not Path("/tmp/rs-gateway-pwned").exists()


def test_a_200_mb_job_streams_with_flat_memory(gateway: GatewayCups, stand_in: StandIn, tmp_path):
    add_backend(gateway, "lpdiscard", DISCARD_BACKEND)
    gateway._run("lpadmin", "-p", "GateBig", "-E", "-v", "printmanager:lpdiscard:/1")
    big = tmp_path / "big.prn"
    with big.open("wb") as f:
        block = DATA * (1024 * 1024 // len(DATA))
        for _ in range(200 * 1024 * 1024 // len(block) + 1):
            f.write(block)
    size = big.stat().st_size
    done = subprocess.run(
        ["lp", "-h", gateway.socket, "-U", "daemon", "-d", "GateBig", "-o", "raw", str(big)],
        capture_output=True, text=True, env=gateway.client_env(), timeout=120, check=True,
    )  # fmt: skip
    job_id = int(done.stdout.split("GateBig-", 1)[1].split()[0])
    peak = 0
    deadline = time.monotonic() + 60
    while gateway.job_attributes(job_id)["job-state"] != COMPLETED:
        assert time.monotonic() < deadline
        peak = max(peak, gateway_peak_rss(), 0)
        time.sleep(0.05)
    assert stand_in.calls("/authorize")[0].body["job"]["bytes"] == size >= 200 * 1024 * 1024
    assert 0 < peak < 40 * 1024  # kB: the data never passes through the gateway


def gateway_peak_rss() -> int:
    """The largest VmHWM (kB) of a running printmanager process, 0 if none runs."""
    peak = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if b"backend/printmanager" not in (proc / "cmdline").read_bytes():
                continue
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            continue
    return peak


TRAP_BACKEND = """#!/bin/sh
if [ $# -eq 0 ]; then echo 'direct trap "Unknown" "test"'; exit 0; fi
trap 'echo "$DEVICE_URI" > "${DEVICE_URI#trap:}"; exit 143' TERM
echo started > "${DEVICE_URI#trap:}.started"
sleep 30 &
wait
"""


def test_sigterm_is_forwarded_to_the_real_backend_and_its_code_returned(
    gateway: GatewayCups, stand_in: StandIn, tmp_path
):
    """printmanager run by hand as cupsd runs it; SIGTERM to it alone reaches the real one."""
    add_backend(gateway, "trap", TRAP_BACKEND)
    marker = tmp_path / "term"
    env = {"PATH": "/usr/bin:/bin", "CUPS_SERVERBIN": str(gateway.root / "bin"),
           "RELEASESTATION_CONFIG": str(gateway.ini), "DEVICE_URI": f"printmanager:trap:{marker}",
           "PRINTER": "Gate"}  # fmt: skip
    document = tmp_path / "doc.prn"
    document.write_bytes(DATA)
    backend = gateway.root / "bin" / "backend" / "printmanager"
    proc = subprocess.Popen(
        [str(backend), "7", "daemon", "t", "1", "job-uuid=urn:uuid:7", str(document)],
        env=env, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 15
    while not Path(f"{marker}.started").exists():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.02)
    proc.terminate()
    assert proc.wait(10) == 143
    assert marker.read_text().strip() == f"trap:{marker}"  # DEVICE_URI: the inner URI
    assert stand_in.wait_calls("/complete", 1)[0].body["exit_code"] == 143


@pytest.mark.parametrize(
    ("settings", "status", "state"),
    [
        ({"on_refused": "hold"}, 403, HELD),
        ({}, 409, HELD),
        ({}, 423, HELD),
        ({"on_api_error": "hold"}, 500, HELD),
        ({"on_api_error": "cancel"}, 500, CANCELED),
        ({"on_api_error": "print"}, 500, COMPLETED),
    ],
)
def test_what_each_answer_does_to_the_job_and_never_to_the_queue(
    gateway: GatewayCups, stand_in: StandIn, tmp_path, settings, status, state
):
    write_settings(gateway.ini.parent, stand_in.endpoint, **settings)
    stand_in.answer = status
    job_id = lp_submit(gateway, "Gate", DATA, tmp_path, "-o", "raw")
    assert wait_state(gateway, job_id, (state,))["job-state"] == state
    assert len(gateway.printed()) == (1 if state == COMPLETED else 0)
    printer = gateway.printer_attributes("Gate")
    assert printer["printer-state"] == IDLE and printer["printer-is-accepting-jobs"]
    time.sleep(0.5)
    assert len(stand_in.calls("/authorize")) == 1  # held or ended: not asked again


def test_unreadable_settings_make_the_job_wait(gateway: GatewayCups, stand_in: StandIn, tmp_path):
    gateway.ini.write_text("[gateway]\nendpont = http://127.0.0.1:1/\n")  # a typo
    job_id = lp_submit(gateway, "Gate", DATA, tmp_path, "-o", "raw")
    deadline = time.monotonic() + 10
    while "endpont: unknown key" not in gateway.error_log(100):
        assert time.monotonic() < deadline, gateway.error_log()
        time.sleep(0.1)
    assert gateway.printed() == [] and stand_in.seen == []
    write_settings(gateway.ini.parent, stand_in.endpoint)
    assert [p.job_id for p in gateway.wait_printed(1, timeout=15)] == [job_id]


class Receiver:
    """A printer's raw port (AppSocket/JetDirect) on loopback: keeps each connection's bytes."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.received: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                chunks = []
                while chunk := conn.recv(65536):
                    chunks.append(chunk)
                self.received.append(b"".join(chunks))

    def close(self) -> None:
        self.server.close()


@pytest.mark.skipif(not Path(CUPS_SOCKET).exists(), reason="CUPS's socket backend is missing")
def test_cups_own_socket_backend_behind_the_gateway_sends_three_copies(
    gateway: GatewayCups, stand_in: StandIn, tmp_path
):
    """The real thing: CUPS's socket backend (a binary, which takes its URI from argv[0] or
    DEVICE_URI), given the file and copies=3, sends the job three times; not once, not nine."""
    link = gateway.root / "bin" / "backend" / "socket"
    if not link.exists():
        link.symlink_to(CUPS_SOCKET)
    printer = Receiver()
    try:
        uri = f"printmanager:socket://127.0.0.1:{printer.port}"
        gateway._run("lpadmin", "-p", "GateSocket", "-E", "-v", uri)
        job_id = lp_submit(gateway, "GateSocket", DATA, tmp_path, "-o", "raw", "-n", "3")
        assert wait_state(gateway, job_id, (COMPLETED,), timeout=30)["job-state"] == COMPLETED
        assert b"".join(printer.received) == DATA * 3
        assert stand_in.calls("/authorize")[0].body["device"] == {
            "scheme": "socket", "host": "127.0.0.1"}  # fmt: skip
    finally:
        printer.close()


def test_gateway_check_finds_the_installed_backend_and_its_api(
    gateway: GatewayCups, stand_in: StandIn, capsys
):
    from releasestation.cli import main

    args = ["gateway", "check", "--serverbin", str(gateway.root / "bin"), "-c", str(gateway.ini)]
    assert main(args) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "cupsd runs it as lp" in out and "answers (400" not in out  # the stand-in: 200
    assert f"ok: {stand_in.endpoint} answers (200 to an empty request)" in out
    if os.geteuid() == 0:
        assert f"lp can read token_file {gateway.ini.parent / 'gateway-token'}" in out
    stand_in.answer = 401
    assert main(args) == 1
    assert "the token was refused (401)" in capsys.readouterr().err
    stand_in.stop()
    assert main(args) == 1
    assert "no answer" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() != 0, reason="cupsd runs 0700 backends as root only when root")
def test_wrapping_a_root_only_backend_needs_mode_0700(gateway: GatewayCups, tmp_path):
    """The private cupsd's own `capture` is root-only (0700), as Debian's usb and lpd are
    (0744): the gateway as lp says it cannot run it; installed 0700 it runs as root."""
    gateway._run("lpadmin", "-p", "GateRoot", "-E", "-v",
                 f"printmanager:capture:{gateway.captures}")  # fmt: skip
    first = lp_submit(gateway, "GateRoot", DATA, tmp_path, "-o", "raw")
    deadline = time.monotonic() + 10
    while "cannot be run by this account" not in gateway.error_log(100):
        assert time.monotonic() < deadline, gateway.error_log()
        time.sleep(0.1)
    assert gateway.printed() == []
    gateway._run("lpadmin", "-x", "GateRoot")
    try:
        install(str(gateway.root / "bin"), python=SYSTEM_PYTHON, mode=0o700)
        gateway._run("lpadmin", "-p", "GateRoot", "-E", "-v",
                     f"printmanager:capture:{gateway.captures}")  # fmt: skip
        job_id = lp_submit(gateway, "GateRoot", DATA, tmp_path, "-o", "raw")
        assert [(p.job_id, p.data) for p in gateway.wait_printed(1)] == [(job_id, DATA)]
    finally:
        install(str(gateway.root / "bin"), python=SYSTEM_PYTHON, mode=0o755)
        gateway._run("lpadmin", "-x", "GateRoot")
    assert first != job_id
