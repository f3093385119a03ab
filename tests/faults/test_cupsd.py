# SPDX-License-Identifier: GPL-3.0-or-later
"""cupsd killed and restarted while swipes arrive; cupsd that accepts and never answers.

A real `releasestation run` swipes against a cupsd of its own that is SIGKILLed and started
again; a station in this process talks to the session's cupsd through a TCP proxy that can
stall (accept and never answer), with the systemd watchdog protocol read from a real
datagram socket. Each case says what it proves.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from readers import Swipe
from releasestation import daemon as daemon_mod
from releasestation.daemon import build_station
from releasestation.demo.private_cups import PrivateCups
from releasestation.printq import HELD
from tests.fixtures.station import add_user, audit_rows
from tests.test_crash_restart import claims_left, outcomes
from tests.waiting import wait_for

CARD = "55667788"


@pytest.fixture
def db_url(tmp_path) -> str:
    """SQLite only: cupsd's faults meet the store the same way on either backend (the
    kill cases, tests/faults/test_kill.py, run on both)."""
    return f"sqlite:///{tmp_path}/station.db"


class PromptCups(PrivateCups):
    """A private cupsd that writes its job files at once (`DirtyCleanInterval 0`). With
    cupsd's default of 30 s, a SIGKILL loses every job submitted, and every state change
    (a release, a job printed) made, in the 30 s before it: the jobs vanish or come back
    held, whatever any station did."""

    def _cupsd_conf(self) -> str:
        return super()._cupsd_conf() + "DirtyCleanInterval 0\n"


@pytest.fixture
def own_cupsd(tmp_path) -> Iterator[PrivateCups]:
    """A cupsd this test may kill: Secure and Secure2, as the station's config names."""
    with PromptCups(tmp_path / "cups") as cups:
        cups.add_hold_queue("Secure")
        cups.add_hold_queue("Secure2")
        yield cups


def test_cupsd_killed_and_restarted_while_swipes_arrive(daemon_for, own_cupsd, db_url, make_app):
    """Proves a cupsd that dies under the station costs nothing but the swipes that met it:
    the daemon stays up, no job is audited as released that cupsd did not print, each job
    prints once after everyone swipes again, and no claim is left. Fails on a double print,
    an "ok" for a job that never came out, a claim left over or a dead daemon."""
    cups = own_cupsd
    app = make_app(cups=f"server = {cups.socket}\n")
    people = [f"user{n}" for n in range(8)]
    for n, name in enumerate(people):
        add_user(app, name, card=f"7000{n:04d}")
    jobs = cups.submit_many([(name, f"doc-{i}") for name in people for i in range(3)])
    daemon = daemon_for(cups, db_url)
    daemon.start()
    for n, _name in enumerate(people):
        daemon.swipe(f"7000{n:04d}")
        if n == 2:
            os.kill(cups.pid or 0, signal.SIGKILL)  # while the swipes keep coming
        if n == 5:
            cups.start()
        time.sleep(0.25)
    assert daemon.proc is not None and daemon.proc.poll() is None, "the daemon stayed up"

    def settled() -> bool:
        return bool(audit_rows(app, "release")) and not claims_left(app)

    assert wait_for(settled, 20)
    ok_before = {job for job, outcome in outcomes(app) if outcome == "ok"}
    printed_before = {p.job_id for p in cups.wait_printed(len(ok_before), 10)}
    assert ok_before <= printed_before, "a job audited as released that cupsd did not print"
    time.sleep(3)  # the reader's debounce_seconds
    for n, _name in enumerate(people):  # everyone again, once cupsd is back
        daemon.swipe(f"7000{n:04d}")
    assert wait_for(lambda: len(cups.printed()) >= len(jobs), 30)
    time.sleep(0.5)  # a second copy would come out meanwhile
    daemon.stop()
    printed = Counter(p.job_id for p in cups.printed())
    assert sorted(printed) == sorted(jobs) and set(printed.values()) == {1}
    ok = Counter(job for job, outcome in outcomes(app) if outcome == "ok")
    assert set(ok.values()) == {1}, "audited as released once at most"
    # A release cupsd carried out just before it died, whose answer never came, is
    # audited "failed" (the station cannot tell); at most the one swipe's jobs that met
    # the kill, each with a row saying cupsd could not be reached.
    unanswered = sorted(set(jobs) - set(ok))
    assert len(unanswered) <= 3, unanswered
    failed = {job: d for job, d in failures(app)}
    assert all("unreachable" in failed[job] for job in unanswered), failed
    assert claims_left(app) == []


def failures(app) -> list[tuple[int, str]]:
    return [
        (r["job_id"], r["detail"]) for r in audit_rows(app, "release") if r["outcome"] == "failed"
    ]


class StallingProxy:
    """A listener on a domain socket of its own in front of cupsd's (so that cupsd still
    sees the station's account on the other side, as PeerCred tells it; over TCP the
    hardened policy would hide the jobs' owners). `stall = "all"`: it accepts and
    never answers (nor passes anything on); `stall = "release"`: it passes everything
    but a release (job-hold-until = no-hold), which it swallows; `stall = None`: a plain
    proxy. Requests swallowed never reach cupsd."""

    def __init__(self, target: str, path: Path):
        self.target, self.path = target, str(path)
        self.stall: str | None = None
        self.swallowed = 0
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(16)
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.listener.accept()
                self.conns.append(client)
                if self.stall == "all":
                    continue  # accepted, never read, never answered
                server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                server.connect(self.target)
                self.conns.append(server)
                threading.Thread(target=self._up, args=(client, server), daemon=True).start()
                threading.Thread(target=self._down, args=(server, client), daemon=True).start()

    def _up(self, client: socket.socket, server: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                if self.stall == "release" and b"no-hold" in data:
                    self.swallowed += 1
                    while client.recv(65536):  # swallowed: cupsd never sees it
                        pass
                    return
                server.sendall(data)

    @staticmethod
    def _down(server: socket.socket, client: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := server.recv(65536):
                client.sendall(data)

    def drop(self) -> None:
        """Close every connection made so far, both ways."""
        conns, self.conns = self.conns, []
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                conn.close()

    def close(self) -> None:
        self.listener.close()
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.close()


class Watchdog:
    """systemd's end of the notify protocol: every datagram, with when it came."""

    def __init__(self, path: Path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.1)
        self.fed: list[float] = []
        self._stop = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            if b"WATCHDOG=1" in data:
                self.fed.append(time.monotonic())

    def fed_between(self, start: float, end: float) -> list[float]:
        return [t for t in self.fed if start <= t <= end]

    def close(self) -> None:
        self._stop.set()
        self.sock.close()


@pytest.fixture
def proxy(cups_clean, tmp_path) -> Iterator[StallingProxy]:
    stalling = StallingProxy(cups_clean.socket, tmp_path / "stalling.sock")
    yield stalling
    stalling.close()


@pytest.fixture
def watchdog(tmp_path, monkeypatch) -> Iterator[Watchdog]:
    dog = Watchdog(tmp_path / "notify.sock")
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify.sock"))
    monkeypatch.setenv("WATCHDOG_USEC", "200000")  # fed every 0.1 s
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    yield dog
    dog.close()


class Supervised:
    """A station of `app` without readers or services, its worker watched by the daemon's
    own supervisor (daemon._supervise) in a thread; swipes go straight onto its queue."""

    def __init__(self, app, stuck_after: float):
        self.station = build_station(app, readers=[], services=[])
        self.station.stuck_after = stuck_after
        self.ended: list[tuple[float, str]] = []
        self.station.listeners.append(
            lambda _s, outcome: self.ended.append((time.monotonic(), outcome))
        )
        self.stop = threading.Event()
        self.healthy: list[bool] = []
        self.station.start()
        self.thread = threading.Thread(
            target=lambda: self.healthy.append(daemon_mod._supervise(self.station, self.stop)),
            daemon=True,
        )
        self.thread.start()

    def swipe(self, card: str) -> float:
        """Put a swipe on the queue; when the worker took it."""
        count = len(self.ended)
        self.station.queue.put(Swipe(reader="door", value=card))
        assert wait_for(lambda: self.station.busy_since or len(self.ended) > count, 5)
        return time.monotonic()

    def outcome(self, number: int, timeout: float = 30) -> tuple[float, str]:
        """(when the `number`th swipe, from 1, ended; its outcome)."""
        assert wait_for(lambda: len(self.ended) >= number, timeout), "the swipe never ended"
        return self.ended[number - 1]

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        self.station.stop()


@pytest.mark.parametrize("stall", ["all", "release"])
def test_a_stalled_cupsd_releases_nothing_and_starves_the_watchdog_only_while_stuck(
    make_app, cups_clean, print_server, proxy, watchdog, stall
):
    """Proves that a cupsd which accepts and never answers (the whole of it, or only the
    releases) leaves every job held and never audited as released; that the systemd
    watchdog is fed while the worker works, not once while it has been stuck on one swipe
    past its limit, and again after; and that once cupsd's side goes away the worker
    carries on, leaves no claim, and the next swipe prints each job once. A listing that
    stalls ends after [cups] timeout_seconds; a release sent through libcups waits until
    the connection ends, and meanwhile the unfed watchdog is what lets systemd restart
    the station (its claims are then settled at start, tests/faults/test_kill.py). Fails
    on an "ok" for a held job, a claim left, a dead worker, or a watchdog fed while stuck."""
    app = make_app(
        cups=f"server = {proxy.path}\ntimeout_seconds = 1.5\n", station="debounce_seconds = 0\n"
    )
    add_user(app, "alice", card=CARD)
    jobs = cups_clean.submit_many([("alice", f"report-{i}") for i in range(3)])
    run = Supervised(app, stuck_after=0.5)
    try:
        assert wait_for(lambda: len(watchdog.fed) >= 2, 5), "fed while idle"
        proxy.stall = stall
        taken = run.swipe(CARD)
        time.sleep(2.0)  # past stuck_after; past [cups] timeout_seconds
        now = time.monotonic()
        # stuck from 0.5 s after the swipe was taken; allow one interval (0.1 s) of slack
        assert watchdog.fed_between(taken + 0.5 + 0.15, now) == [] or run.ended, "fed while stuck"
        assert [j.state for j in print_server.held_jobs(["Secure"])] == [HELD] * 3
        assert "ok" not in [o for _, o in outcomes(app)] and cups_clean.printed() == []
        if stall == "release":  # stuck inside the release: the claims stand, nothing else
            assert run.ended == [] and len(claims_left(app)) == 3
        proxy.stall = None
        proxy.drop()  # cupsd's side goes away (a restart): a request waiting forever ends
        ended, _ = run.outcome(1)
        assert watchdog.fed_between(taken + 0.5 + 0.15, ended) == [], "fed while stuck"
        fed = len(watchdog.fed)
        assert wait_for(lambda: len(watchdog.fed) > fed, 2), "fed again once unstuck"
        assert run.station.alive() and claims_left(app) == []
        ok = {job for job, outcome in outcomes(app) if outcome == "ok"}
        assert ok <= {p.job_id for p in cups_clean.wait_printed(len(ok), 5)}
        run.swipe(CARD)
        assert run.outcome(2)[1] in ("released", "no-jobs")
        assert sorted(p.job_id for p in cups_clean.wait_printed(3)) == sorted(jobs)
        time.sleep(0.3)
        assert Counter(p.job_id for p in cups_clean.printed()) == Counter(jobs)
        assert Counter(j for j, o in outcomes(app) if o == "ok") == Counter(jobs)
    finally:
        proxy.stall = None
        proxy.drop()
        run.close()
    assert run.healthy == [True]
