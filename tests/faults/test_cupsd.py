# SPDX-License-Identifier: GPL-3.0-or-later
"""cupsd killed and restarted while swipes arrive; cupsd that accepts and never answers.

A real `releasestation run` swipes against a cupsd of its own that is SIGKILLed and started
again; a station in this process talks to the session's cupsd through a proxy
(tests/fixtures/cupsd_proxy.py) that can stall (accept and never answer) or swallow
answers, with the systemd watchdog protocol read from a real datagram socket. Each case
says what it proves.
"""

from __future__ import annotations

import datetime as dt
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
from releasestation.config import CupsSettings
from releasestation.daemon import build_station
from releasestation.demo.private_cups import PrivateCups
from releasestation.lifecycle import reconcile
from releasestation.printq import HELD, PrintServer
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
    the daemon stays up, no job is audited as released that cupsd did not print, and once
    everyone swipes again every job has printed once and is audited "ok" exactly once. A
    release the kill met is audited from what cupsd says of the job: at once when it can
    be asked, else its claim waits (neither "ok" nor "failed") and is settled before a
    later swipe once cupsd is back. A "failed" row is left only for a job cupsd was not
    asked to release (unreachable, or not sent once cupsd stopped answering) or did not
    release, which a later swipe then printed. Fails on a double print, an "ok" for a job
    that never came out, a job printed but audited "failed" and never "ok", a claim left
    over or a dead daemon."""
    cups = own_cupsd
    app = make_app(cups=f"server = {cups.socket}\n")
    people = [f"user{n}" for n in range(8)]
    for n, name in enumerate(people):
        add_user(app, name, card=f"7000{n:04d}")
    jobs = cups.submit_many([(name, f"doc-{i}") for name in people for i in range(3)])
    daemon = daemon_for(cups, db_url)
    daemon.start()
    for n, _name in enumerate(people):
        if n == 2:  # cupsd dies as a swipe arrives, not halfway through printing a job,
            # which it would print again when it starts (cupsd's rule; see docs/cups.md)
            assert wait_for(lambda: printing_done(app, cups), 10)
        daemon.swipe(f"7000{n:04d}")
        if n == 2:
            os.kill(cups.pid or 0, signal.SIGKILL)  # while the swipes keep coming
        if n == 5:
            cups.start()
        time.sleep(0.25)
    assert daemon.proc is not None and daemon.proc.poll() is None, "the daemon stayed up"
    assert wait_for(lambda: audit_rows(app, "release"), 20)
    ok_before = {job for job, outcome in outcomes(app) if outcome == "ok"}
    printed_before = {p.job_id for p in cups.wait_printed(len(ok_before), 10)}
    assert ok_before <= printed_before, "a job audited as released that cupsd did not print"
    time.sleep(3)  # the reader's debounce_seconds
    for n, _name in enumerate(people):  # everyone again, once cupsd is back
        daemon.swipe(f"7000{n:04d}")
    assert wait_for(lambda: len(cups.printed()) >= len(jobs), 30)
    assert wait_for(lambda: claims_left(app) == [], 10), "every claim settled"
    time.sleep(0.5)  # a second copy would come out meanwhile
    daemon.stop()
    printed = Counter(p.job_id for p in cups.printed())
    assert sorted(printed) == sorted(jobs) and set(printed.values()) == {1}
    ok = Counter(job for job, outcome in outcomes(app) if outcome == "ok")
    assert ok == Counter(jobs), "every job audited as released exactly once"
    for job, detail in failures(app):  # then released by a later swipe, audited ok
        assert any(w in detail for w in ("unreachable", "not sent", "no answer")), (job, detail)
    assert claims_left(app) == []


def printing_done(app, cups: PrivateCups) -> bool:
    """Every job audited as released has come out, and cupsd is printing none."""
    released = {job for job, outcome in outcomes(app) if outcome == "ok"}
    if not released <= {p.job_id for p in cups.printed()}:
        return False
    server = PrintServer(CupsSettings(server=cups.socket))
    try:
        return not server.processing_jobs(["Secure", "Secure2"])
    finally:
        server.close()


def failures(app) -> list[tuple[int, str]]:
    return [
        (r["job_id"], r["detail"]) for r in audit_rows(app, "release") if r["outcome"] == "failed"
    ]


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
def test_a_stalled_cupsd_releases_nothing_and_the_swipe_ends_after_its_timeouts(
    make_app, cups_clean, print_server, proxy, watchdog, stall
):
    """Proves that a cupsd which accepts and never answers (the whole of it, or only the
    releases, which never reach it) leaves every job held and never audited as released,
    and that the swipe ends after [cups] timeout_seconds per request that waited: a listing
    that stalls, once; a release, twice (sent; the job looked at, still held; sent once
    more; looked at again), and the swipe's other jobs are then not sent. Those are audited
    "failed" (not sent); the first stays claimed, in doubt (cupsd might still read a
    request the station gave up on), until the next swipe settles it ("interrupted": still
    held) and prints each job once. The systemd watchdog still matters for a worker stuck
    anywhere else (a hung store, say): it is not fed while the worker is held up past
    `stuck_after` (set here below the timeout so that the case is seen) and is fed again
    once the swipe ends.
    Fails on an "ok" for a held job, a claim dropped while in doubt or left after the next
    swipe, a swipe that outlasts its timeouts, a dead worker, or a watchdog fed while
    stuck."""
    app = make_app(
        cups=f"server = {proxy.path}\ntimeout_seconds = 1\n", station="debounce_seconds = 0\n"
    )
    add_user(app, "alice", card=CARD)
    jobs = cups_clean.submit_many([("alice", f"report-{i}") for i in range(3)])
    run = Supervised(app, stuck_after=0.5)
    try:
        assert wait_for(lambda: len(watchdog.fed) >= 2, 5), "fed while idle"
        proxy.stall = stall
        taken = run.swipe(CARD)
        ended, _ = run.outcome(1, timeout=15)
        waits = 1 if stall == "all" else 2  # requests that waited out timeout_seconds
        assert waits * 1.0 <= ended - taken < waits * 1.0 + 2.0, ended - taken
        # stuck from 0.5 s after the swipe was taken; allow one interval (0.1 s) of slack
        assert watchdog.fed_between(taken + 0.5 + 0.15, ended) == [], "fed while stuck"
        fed = len(watchdog.fed)
        assert wait_for(lambda: len(watchdog.fed) > fed, 2), "fed again once unstuck"
        assert [j.state for j in print_server.held_jobs(["Secure"])] == [HELD] * 3
        assert "ok" not in [o for _, o in outcomes(app)] and cups_clean.printed() == []
        assert run.station.alive()
        if stall == "all":
            assert claims_left(app) == []
        else:  # the first sent twice and in doubt; the others never sent
            assert proxy.swallowed == 2
            assert [c.job_id for c in claims_left(app)] == [jobs[0]]
            details = dict(failures(app))
            assert sorted(details) == sorted(jobs[1:])
            assert all("not sent" in details[job] for job in jobs[1:]), details
            last = run.station.last_release
            assert last is not None
            [doubt] = last.in_doubt
            assert "no answer within 1 s ([cups] timeout_seconds)" in doubt[1]
            assert "still held" in doubt[1]
        proxy.stall = None
        proxy.drop()
        run.swipe(CARD)
        assert run.outcome(2)[1] == "released"
        assert claims_left(app) == []
        if stall == "release":
            assert "interrupted" in [o for j, o in outcomes(app) if j == jobs[0]]
        assert sorted(p.job_id for p in cups_clean.wait_printed(3)) == sorted(jobs)
        time.sleep(0.3)
        assert Counter(p.job_id for p in cups_clean.printed()) == Counter(jobs)
        assert Counter(j for j, o in outcomes(app) if o == "ok") == Counter(jobs)
    finally:
        proxy.stall = None
        proxy.drop()
        run.close()
    assert run.healthy == [True]


def station_of(app):
    """A station of `app` without readers or services; swipes are handed to it at once."""
    return build_station(app, readers=[], services=[])


def handle(station, card: str = CARD) -> str:
    return station.handle(Swipe(reader="door", value=card))


@pytest.mark.parametrize("answer", ["answer-close", "answer-never"])
def test_a_release_done_but_never_answered_is_audited_ok_once(make_app, cups_clean, proxy, answer):
    """Proves that a release cupsd carries out but whose answer never reaches the station
    (the connection closed in its place, or no answer until [cups] timeout_seconds) is
    found released by looking at the job, so each job prints once, is audited "ok" once
    and leaves no claim; the swipe says "released", and is not sent twice (cupsd got
    each release once). Fails on a job audited "failed" though printed, a second release, a
    claim left, or a swipe that takes much longer than one timeout per job."""
    app = make_app(
        cups=f"server = {proxy.path}\ntimeout_seconds = 1\n", station="debounce_seconds = 0\n"
    )
    add_user(app, "alice", card=CARD)
    jobs = cups_clean.submit_many([("alice", f"report-{i}") for i in range(3)])
    station = station_of(app)
    proxy.stall = answer
    started = time.monotonic()
    assert handle(station) == "released"
    took = time.monotonic() - started
    outcome = station.last_release
    assert sorted(j.id for j in outcome.released) == sorted(jobs) and outcome.ok
    assert outcome.failed == [] and outcome.in_doubt == []
    # the first alone, then the other two together: at most two timeouts in a row
    assert took < (2 if answer == "answer-never" else 0) * 1.0 + 2.0, took
    assert proxy.passed == 3, "each release reached cupsd once"
    assert sorted(p.job_id for p in cups_clean.wait_printed(3)) == sorted(jobs)
    time.sleep(0.3)  # a second copy would come out meanwhile
    assert Counter(p.job_id for p in cups_clean.printed()) == Counter(jobs)
    assert sorted(outcomes(app)) == sorted((job, "ok") for job in jobs)
    assert claims_left(app) == []


@pytest.mark.parametrize("answer", ["answer-close", "answer-never"])
def test_a_release_in_doubt_keeps_its_claim_until_cupsd_answers(
    make_app, cups_clean, proxy, answer
):
    """Proves that when a release's answer never comes and cupsd cannot be asked what
    became of the job either, the job is neither audited released nor failed: its claim
    stays, the swipe's Outcome lists it in doubt (not ok, so the reader signals a failure),
    and the swipe's other jobs are not sent. Once cupsd answers, the next swipe (anyone's)
    first settles the claim from what cupsd says: "ok" once, since cupsd did print it;
    the other jobs, still held, are released by their owner's swipe. Fails on a "failed"
    or second "ok" for the printed job, a claim dropped while cupsd could not say, a claim
    left after it answers, or a job printed twice."""
    app = make_app(
        cups=f"server = {proxy.path}\ntimeout_seconds = 1\n", station="debounce_seconds = 0\n"
    )
    add_user(app, "alice", card=CARD)
    add_user(app, "bob", card="66778899")
    first, *others = cups_clean.submit_many([("alice", f"report-{i}") for i in range(3)])
    station = station_of(app)
    proxy.stall, proxy.then_all = answer, True
    assert handle(station) == "release-failed"  # the daemon's word: nothing was released
    outcome = station.last_release
    assert not outcome.ok and outcome.released == []
    assert [j.id for j, _ in outcome.in_doubt] == [first]
    assert "may be printing" in outcome.in_doubt[0][1]
    assert sorted(j.id for j, _ in outcome.failed) == sorted(others)
    assert all("not sent" in why for _, why in outcome.failed)
    assert [c.job_id for c in claims_left(app)] == [first]
    assert [o for j, o in outcomes(app) if j == first] == []
    assert [p.job_id for p in cups_clean.wait_printed(1)] == [first]  # cupsd did it

    assert handle(station, "66778899") == "release-failed"  # cupsd still silent: kept
    assert [c.job_id for c in claims_left(app)] == [first]

    proxy.stall, proxy.then_all = None, False
    proxy.drop()  # cupsd answers again
    assert handle(station, "66778899") == "no-jobs"  # bob's swipe settles alice's claim
    assert claims_left(app) == []
    assert [o for j, o in outcomes(app) if j == first] == ["ok"]
    [row] = [r for r in audit_rows(app, "release") if r["job_id"] == first]
    assert "answer to the release never came" in row["detail"] and row["username"] == "alice"
    assert handle(station) == "released"
    assert sorted(p.job_id for p in cups_clean.wait_printed(3)) == sorted([first, *others])
    time.sleep(0.3)
    assert Counter(p.job_id for p in cups_clean.printed()) == Counter([first, *others])
    ok = Counter(j for j, o in outcomes(app) if o == "ok")
    assert ok == Counter([first, *others])


def test_a_release_in_doubt_settled_meanwhile_elsewhere_is_left_alone(
    make_app, cups_clean, proxy, caplog
):
    """Proves the Releaser settles only its claims still in the store: a claim in doubt
    that housekeeping settled meanwhile (as it does any claim left 15 minutes) is not
    settled a second time by the next release (which, had the job been held on the
    follow-me printer by then, would release it again, unaudited). Fails when the next
    release settles it again, or on a second audit row for the job."""
    app = make_app(
        cups=f"server = {proxy.path}\ntimeout_seconds = 1\n", station="debounce_seconds = 0\n"
    )
    add_user(app, "alice", card=CARD)
    add_user(app, "bob", card="66778899")
    [job] = cups_clean.submit_many([("alice", "report-0")])
    station = station_of(app)
    proxy.stall, proxy.then_all = "answer-close", True
    assert handle(station) == "release-failed"
    assert [c.job_id for c in claims_left(app)] == [job]
    proxy.stall, proxy.then_all = None, False
    proxy.drop()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)  # every claim counts as left
    assert [s.outcome for s in reconcile.reconcile(app.claims, app.printq, later)] == ["ok"]
    caplog.clear()
    assert handle(station, "66778899") == "no-jobs"
    assert "in doubt, settled" not in caplog.text
    assert [o for j, o in outcomes(app) if j == job] == ["ok"]
    assert station.releaser._in_doubt == [] and claims_left(app) == []
    assert [p.job_id for p in cups_clean.wait_printed(1)] == [job]


def test_a_move_done_but_never_answered_goes_on_to_the_release(make_app, cups_clean, proxy):
    """Proves that with a follow-me printer, a move cupsd carries out but never answers
    (the connection closed in its place) is found done by looking at the job, held on the
    printer now, and the release goes on from there: the job prints once, on the printer,
    audited "ok" once, with no claim left. Fails on a job left held, audited "failed",
    moved back, or printed twice."""
    app = make_app(
        cups=f"server = {proxy.path}\ntimeout_seconds = 1\n",
        station="debounce_seconds = 0\nprinter = Lobby\n",
    )
    add_user(app, "alice", card=CARD)
    [job] = cups_clean.submit_many([("alice", "plan")])
    proxy.stall, proxy.writes = "answer-close", ("move",)
    assert handle(station_of(app)) == "released"
    assert proxy.passed == 1
    assert [(p.job_id, p.queue) for p in cups_clean.wait_printed(1)] == [(job, "Lobby")]
    time.sleep(0.3)
    assert len(cups_clean.printed()) == 1
    assert outcomes(app) == [(job, "ok")] and claims_left(app) == []
