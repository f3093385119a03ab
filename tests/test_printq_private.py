# SPDX-License-Identifier: GPL-3.0-or-later
"""PrivateCups itself: start/stop, failure reports, the capture backend, restarts."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from releasestation.config import CupsSettings
from releasestation.demo import capture_backend
from releasestation.demo.private_cups import PrivateCups
from releasestation.demo.private_setup import CUPSD_GLIBC_TUNABLES, cupsd_environment
from releasestation.errors import PrintServerError
from releasestation.printq import PrintServer
from tests.waiting import wait_for


def test_starts_and_stops_fast_and_leaves_nothing():
    started = time.monotonic()
    with PrivateCups(policy="default") as cups:
        assert time.monotonic() - started < 2
        root, pid = cups.root, cups._proc.pid if cups._proc else None
        assert pid and Path(f"/proc/{pid}").exists()
        assert Path(cups.socket).is_socket()
        conf = (root / "conf" / "cupsd.conf").read_text()
        assert [line for line in conf.splitlines() if line.startswith(("Listen", "Port"))] == [
            f"Listen {cups.socket}"
        ]
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 2
    assert not Path(f"/proc/{pid}").exists() or _zombie(pid)
    assert not root.exists()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def test_failed_start_reports_the_error_log():
    class Broken(PrivateCups):
        def _cupsd_conf(self) -> str:
            return super()._cupsd_conf().replace(self.socket, "/nonexistent/dir/cups.sock")

    with pytest.raises(PrintServerError) as caught, Broken():
        pass
    assert "/nonexistent/dir/cups.sock" in str(caught.value)
    assert "exited at start" in str(caught.value)


def test_given_root_is_kept_and_reused():
    root = Path(os.environ.get("TMPDIR", "/tmp")) / f"rs-cups-keep-{os.getpid()}"
    try:
        with PrivateCups(root=root, policy="default") as cups:
            cups.add_hold_queue("Keep")
            # CUPS's stock policy: a local owner (a non-local one crashes Debian's cupsd
            # 2.4.2-3+deb12u10 at Send-Document; tests/test_cupsd_nonlocal_owners.py).
            job_id = cups.submit("daemon", "survives a new PrivateCups", queue="Keep")
        assert root.exists()
        with PrivateCups(root=root, policy="default") as again:
            jobs = subprocess.run(
                ["lpstat", "-h", again.socket, "-o", "Keep"],
                capture_output=True,
                text=True,
                env=again.client_env(),
                check=True,
            ).stdout
            assert f"Keep-{job_id}" in jobs
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_restart_keeps_queues_and_held_jobs(cups_clean):
    job_id = cups_clean.submit("alice", "held across restart")
    cups_clean.restart()
    out = subprocess.run(
        ["lpstat", "-h", cups_clean.socket, "-o", "Secure"],
        capture_output=True,
        text=True,
        env=cups_clean.client_env(),
        check=True,
    ).stdout
    assert f"Secure-{job_id}" in out


def test_printed_returns_what_the_backend_received(cups_clean):
    data = bytes(range(256)) * 4
    job_id = cups_clean.submit("bob", "binary", data=data, queue="Lobby")
    [captured] = cups_clean.wait_printed(1)
    assert (captured.job_id, captured.user, captured.title, captured.queue) == (
        job_id,
        "bob",
        "binary",
        "Lobby",
    )
    assert captured.data == data
    cups_clean.reset()
    assert cups_clean.printed() == []


def test_capture_backend_lists_itself_and_captures(tmp_path):
    script = Path(capture_backend.__file__)
    listing = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert listing.returncode == 0 and listing.stdout.startswith("direct capture ")
    env = {"DEVICE_URI": f"capture:{tmp_path}", "PRINTER": "Q", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, str(script), "7", "carol", "t", "2", "opt=1"],
        input=b"payload",
        env=env,
        capture_output=True,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "7.data").read_bytes() == b"payload"
    meta = json.loads((tmp_path / "7.json").read_text())
    assert meta == {
        "job_id": 7,
        "user": "carol",
        "title": "t",
        "queue": "Q",
        "copies": 2,
        "options": "opt=1",
    }
    bad = subprocess.run(
        [sys.executable, str(script), "8", "carol", "t", "1", ""],
        input=b"x",
        env=env | {"DEVICE_URI": "capture:relative"},
        capture_output=True,
    )
    assert bad.returncode == capture_backend.CUPS_BACKEND_FAILED


def test_capture_backend_keeps_a_second_print_of_a_job_beside_the_first(tmp_path):
    """A job cupsd prints again (restarted) must count twice, or "printed twice" checks
    built on printed() could never fail: the second print is kept as 7.2, never written
    over the first. A job id that is not a number is refused (it names the file)."""
    script = Path(capture_backend.__file__)
    env = {"DEVICE_URI": f"capture:{tmp_path}", "PRINTER": "Q", "PATH": "/usr/bin:/bin"}

    def run(job_id: str, data: bytes) -> int:
        args = [sys.executable, str(script), job_id, "carol", "t", "1", ""]
        return subprocess.run(args, input=data, env=env, capture_output=True).returncode

    assert run("7", b"first") == run("7", b"second") == capture_backend.CUPS_BACKEND_OK
    assert (tmp_path / "7.data").read_bytes() == b"first"
    assert (tmp_path / "7.2.data").read_bytes() == b"second"
    assert json.loads((tmp_path / "7.2.json").read_text())["job_id"] == 7
    assert run("../7", b"x") == capture_backend.CUPS_BACKEND_FAILED
    with PrivateCups() as cups:
        env["DEVICE_URI"] = f"capture:{cups.captures}"
        assert run("3", b"a") == run("3", b"b") == capture_backend.CUPS_BACKEND_OK
        assert [(p.job_id, p.data) for p in cups.printed()] in ([(3, b"a"), (3, b"b")],
                                                                [(3, b"b"), (3, b"a")])  # fmt: skip
        cups.reset()
        assert cups.printed() == []


def test_a_tally_queue_counts_every_print_and_keeps_nothing():
    """The site bench's printers: each job that comes out is one line (job id, queue) —
    a second print of one job a second line — and no data is kept."""
    with PrivateCups() as cups:
        cups.add_hold_queue("Held", tally=True)
        cups.add_printer("Front", tally=True)
        held = [cups.submit("daemon", f"doc-{n}", queue="Held") for n in (1, 2)]
        server = PrintServer(CupsSettings(server=cups.socket))
        try:
            jobs = [server.job(job_id) for job_id in held]
            assert all(job is not None and job.held for job in jobs)
            server.release(jobs[0])  # type: ignore[arg-type]
            server.release(jobs[1], printer="Front")  # type: ignore[arg-type]
            assert wait_for(lambda: len(cups.tallied()) == 2, 15)
        finally:
            server.close()
        assert sorted(cups.tallied()) == [(held[0], "Held"), (held[1], "Front")]
        assert cups.printed() == []
        backend = cups.root / "bin" / "backend" / "tally"
        env = {"DEVICE_URI": f"tally:{cups.tally}", "PRINTER": "Held", "PATH": "/usr/bin:/bin"}
        again = subprocess.run([str(backend), str(held[0]), "daemon", "t", "1", ""],
                               input=b"x", env=env, capture_output=True)  # fmt: skip
        assert again.returncode == 0, again.stderr
        assert [job for job, _ in cups.tallied()].count(held[0]) == 2
        with pytest.raises(ValueError, match="discards or tallies"):
            cups.add_hold_queue("Both", discard=True, tally=True)
        cups.reset()
        assert cups.tallied() == []


def test_submit_many_gives_each_owner_their_jobs(cups_clean):
    ids = cups_clean.submit_many([(f"owner{i % 3}", f"doc {i}") for i in range(9)], "Secure2")
    assert len(set(ids)) == 9
    out = subprocess.run(
        ["lpstat", "-h", cups_clean.socket, "-W", "not-completed", "-o", "Secure2"],
        capture_output=True,
        text=True,
        env=cups_clean.client_env(),
        check=True,
    ).stdout
    owners = [line.split()[1] for line in out.splitlines()]
    assert sorted(owners) == sorted(f"owner{i % 3}" for i in range(9))


def test_a_discard_queue_prints_released_jobs_and_keeps_nothing():
    with PrivateCups() as cups:
        cups.add_hold_queue("Fast", discard=True)
        job_id = cups.submit("alice", "thrown away", queue="Fast")
        server = PrintServer(CupsSettings(server=cups.socket))
        try:
            job = server.job(job_id)
            assert job is not None and job.held
            server.release(job)
            deadline = time.monotonic() + 10
            while (now := server.job(job_id)) is not None and now.state != 9:
                assert time.monotonic() < deadline, f"job still in state {now.state}"
                time.sleep(0.05)
        finally:
            server.close()
        assert cups.printed() == []


def test_a_paced_discard_queue_takes_its_time_over_each_job():
    with PrivateCups() as cups:
        cups.add_hold_queue("Paced", discard=True, print_seconds=0.4)
        first, second = (cups.submit("alice", f"job {n}", queue="Paced") for n in (1, 2))
        server = PrintServer(CupsSettings(server=cups.socket))
        try:
            jobs = [server.job(first), server.job(second)]
            assert all(job is not None and job.held for job in jobs)
            started = time.monotonic()
            server.release_all([job for job in jobs if job is not None])
            assert wait_for(lambda: (j := server.job(second)) is not None and j.state == 9, 15)
            # one after the other, each 0.4 s on the printer
            assert time.monotonic() - started >= 0.8
        finally:
            server.close()
        assert cups.printed() == []


def test_a_printer_pace_needs_a_discard_queue_and_a_sane_number():
    with PrivateCups() as cups:
        with pytest.raises(ValueError, match="discard"):
            cups.add_hold_queue("Slow", print_seconds=1)
        for bad in (-1, 61, float("nan")):
            with pytest.raises(ValueError, match="between 0 and 60"):
                cups.add_hold_queue("Slow", discard=True, print_seconds=bad)


def _heap_flags(pid: int) -> set[str]:
    """The VmFlags of process `pid`'s heap mappings ("hg": madvised for huge pages)."""
    flags: set[str] = set()
    heap = False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        if re.match(r"[0-9a-f]+-[0-9a-f]+ ", line):  # a mapping's first line
            heap = line.endswith("[heap]")
        elif heap and line.startswith("VmFlags:"):
            flags.update(line.split()[1:])
    return flags


def test_the_shipped_cups_drop_in_sets_the_tunables_the_private_cupsd_runs_with():
    drop_in = Path(__file__).parent.parent / "systemd/cups.service.d/releasestation.conf"
    lines = [line.strip() for line in drop_in.read_text().splitlines()]
    assert "[Service]" in lines
    assert [line for line in lines if line.startswith("Environment=")] == [
        f"Environment=GLIBC_TUNABLES={CUPSD_GLIBC_TUNABLES}"
    ]


def test_cupsd_environment_adds_the_tunable_or_takes_it_out():
    base = {"PATH": "/usr/bin", "GLIBC_TUNABLES": "glibc.malloc.check=0"}
    tuned = cupsd_environment(base, stock=False)
    assert tuned == {**base, "GLIBC_TUNABLES": f"glibc.malloc.check=0:{CUPSD_GLIBC_TUNABLES}"}
    assert cupsd_environment(base, stock=True) == base
    # stock means stock, whatever the caller's environment asked for
    asked = {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=2"}
    assert cupsd_environment(asked, stock=True) == {}
    assert cupsd_environment(asked, stock=False) == {"GLIBC_TUNABLES": CUPSD_GLIBC_TUNABLES}
    assert base == {"PATH": "/usr/bin", "GLIBC_TUNABLES": "glibc.malloc.check=0"}


def _environ(pid: int) -> dict[str, str]:
    pairs = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(pair.decode().partition("=")[::2] for pair in pairs if pair)


def test_cupsd_starts_with_the_tunable_unless_stock(monkeypatch):
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    with PrivateCups(policy="default") as tuned, PrivateCups(policy="default", stock=True) as stock:
        assert tuned.pid and stock.pid
        assert _environ(tuned.pid).get("GLIBC_TUNABLES") == CUPSD_GLIBC_TUNABLES
        assert "GLIBC_TUNABLES" not in _environ(stock.pid)


def test_cupsd_runs_with_its_heap_madvised_for_huge_pages_unless_stock(monkeypatch):
    thp = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    if not thp.exists() or "[madvise]" not in thp.read_text():
        pytest.skip("glibc asks for huge pages only when the kernel's THP mode is madvise")
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.check=0")
    with PrivateCups(policy="default") as tuned, PrivateCups(policy="default", stock=True) as stock:
        assert tuned.pid and stock.pid
        assert "hg" in _heap_flags(tuned.pid)
        assert "hg" not in _heap_flags(stock.pid)
