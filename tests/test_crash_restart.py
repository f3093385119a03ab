# SPDX-License-Identifier: GPL-3.0-or-later
"""Crash safety: a release in flight when the station died is settled once, from what
cupsd says; no job is released twice. First each state a claim can be left in, then a real
daemon process killed (SIGKILL) mid-release and started again."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, select, text

from bench.servers.postgres import pg_schema_url
from releasestation import config
from releasestation.app import App
from releasestation.demo.private_cups import PrivateCups
from releasestation.lifecycle import reconcile
from releasestation.printq import HELD
from releasestation.release.models import JobClaim
from releasestation.store.models import utcnow
from tests.fixtures.station import add_user, audit_rows, station_ini, swipe
from tests.waiting import wait_for

CARD = "55667788"


def claim(app, job_id: int, action: str = "release", **fields):
    job = app.printq.job(job_id)
    fields.setdefault("username", "alice")
    if action == "release":
        fields.setdefault("method", "card")
        fields.setdefault("reader", "door")
    [made] = app.claims.claim([job], action, **fields)
    return made


def claims_left(app) -> list[JobClaim]:
    with app.store.read() as session:
        return list(session.scalars(select(JobClaim)))


def outcomes(app, event: str = "release") -> list[tuple[int, str]]:
    return [(r["job_id"], r["outcome"]) for r in audit_rows(app, event) if r["job_id"]]


# -- the states a claim can be left in -----------------------------------------------------


def test_claimed_but_not_released_stays_held_and_the_next_swipe_prints_it(make_app, cups_clean):
    app = make_app()
    add_user(app, "alice", card=CARD)
    job = cups_clean.submit("alice", "minutes")
    claim(app, job)
    assert swipe(app, CARD) == "no-jobs", "a claimed job is not touched by anyone else"
    [settled] = reconcile.reconcile(app.claims, app.printq)
    assert settled.outcome == "interrupted" and claims_left(app) == []
    assert [j.id for j in app.printq.held_jobs(["Secure"])] == [job]
    assert swipe(app, CARD) == "released"
    assert [p.job_id for p in cups_clean.wait_printed(1)] == [job]
    assert outcomes(app) == [(job, "interrupted"), (job, "ok")]


def test_a_claim_skips_the_jobs_claimed_elsewhere_and_its_transaction_goes_on(make_app, cups_clean):
    app = make_app()
    taken, free = cups_clean.submit("alice", "one"), cups_clean.submit("alice", "two")
    first = claim(app, taken)
    jobs = [app.printq.job(taken), app.printq.job(free), app.printq.job(free)]
    claims, sent = app.claims, []

    def note(_conn, _cursor, statement, *_args):
        sent.append(statement.split()[0].upper())

    with app.store.write() as session:
        event.listen(app.store.engine, "before_cursor_execute", note)
        try:
            won = claims.claim_in(session, jobs, "release", username="alice")
        finally:
            event.remove(app.store.engine, "before_cursor_execute", note)
        assert sent == ["INSERT"], "one statement for every claim, no savepoint"
        # a skipped claim spoils nothing: the transaction still works (PostgreSQL aborts a
        # transaction at the first error)
        assert len(session.execute(select(JobClaim.id)).all()) == 2
    assert [(c.job_id, c.username) for c in won] == [(free, "alice")]
    assert won[0].id != first.id
    assert sorted((c.job_id, c.id) for c in claims_left(app)) == sorted(
        [(taken, first.id), (free, won[0].id)]
    )


def test_released_but_not_audited_is_recorded_once(make_app, cups_clean):
    app = make_app()
    job = cups_clean.submit("alice", "minutes")
    made = claim(app, job, cost_center="CC-2")
    app.printq.release(app.printq.job(job))
    cups_clean.wait_printed(1)
    assert [s.outcome for s in reconcile.reconcile(app.claims, app.printq)] == ["ok"]
    assert reconcile.reconcile(app.claims, app.printq) == []
    [row] = audit_rows(app, "release")
    assert (row["job_id"], row["outcome"], row["cost_center"]) == (job, "ok", "CC-2")
    assert "settled after a restart" in row["detail"] and made.station == row["station"]


def test_moved_but_not_released_is_finished(make_app, cups_clean):
    app = make_app(station="printer = Lobby\n")
    job = cups_clean.submit("alice", "plan")
    claim(app, job, target="Lobby")
    subprocess.run(
        ["lpmove", "-h", cups_clean.socket, str(job), "Lobby"],
        env=cups_clean.client_env(), check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    assert app.printq.job(job).queue == "Lobby"
    assert [s.outcome for s in reconcile.reconcile(app.claims, app.printq)] == ["ok"]
    [printed] = cups_clean.wait_printed(1)
    assert (printed.job_id, printed.queue) == (job, "Lobby")
    assert "released now" in audit_rows(app, "release")[0]["detail"]


def test_expiry_claims(make_app, cups_clean):
    app = make_app()
    gone, held = cups_clean.submit("alice", "a"), cups_clean.submit("bob", "b")
    claim(app, gone, "expire")
    claim(app, held, "expire", username="bob")
    app.printq.cancel(gone)
    settled = reconcile.reconcile(app.claims, app.printq)
    assert sorted(s.outcome for s in settled) == ["dropped", "ok"]
    assert outcomes(app, "expire") == [(gone, "ok")]
    assert [j.id for j in app.printq.held_jobs(["Secure"])] == [held]


def test_a_vanished_stations_claims_are_settled_by_others_once_stale(make_app, cups_clean):
    north, south = make_app(station="name = north\n"), make_app(station="name = south\n")
    job = cups_clean.submit("alice", "a")
    claim(north, job)
    assert reconcile.reconcile(south.claims, south.printq) == [], "not south's own"
    assert reconcile.reconcile_stale(south.claims, south.printq, utcnow()) == [], "not stale yet"
    later = utcnow() + reconcile.STALE + reconcile.STALE
    [settled] = reconcile.reconcile_stale(south.claims, south.printq, later)
    assert settled.outcome == "interrupted" and claims_left(south) == []
    [row] = audit_rows(south, "release")
    assert row["station"] == "south" and "station north stopped" in row["detail"]


# -- a real daemon, killed mid-release ------------------------------------------------------


def every_job_printed_once_and_audited_ok_once(app, cups: PrivateCups, jobs: list[int]):
    printed = Counter(p.job_id for p in cups.wait_printed(len(jobs), timeout=20))
    assert sorted(printed) == sorted(jobs) and set(printed.values()) == {1}
    ok = Counter(job for job, outcome in outcomes(app) if outcome == "ok")
    assert sorted(ok) == sorted(jobs) and set(ok.values()) == {1}
    assert claims_left(app) == []


@pytest.fixture
def pg_app(cups_clean, tmp_path) -> Iterator[App]:
    """An App on a PostgreSQL schema of its own (this test holds a lock there)."""
    urls = pg_schema_url()
    url = next(urls)
    app = App(config.parse_text(station_ini(url, tmp_path, cups_clean)))
    app.store.upgrade()
    try:
        yield app
    finally:
        app.close()
        with contextlib.suppress(StopIteration):
            next(urls)


@pytest.mark.postgres
def test_daemon_killed_after_releasing_before_auditing(daemon_for, cups_clean, pg_app):
    app = pg_app
    add_user(app, "alice", card=CARD, cost_center="CC-5")
    jobs = cups_clean.submit_many([("alice", f"chapter {i}") for i in range(5)])
    daemon = daemon_for(cups_clean, app.config.database.url)
    daemon.start()
    with app.store.engine.connect() as lock:  # hold the audit chain: the daemon stops there
        key = zlib.crc32(b"audit-chain")
        lock.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
        try:
            daemon.swipe(CARD)
            assert len(cups_clean.wait_printed(5, timeout=20)) == 5
            assert wait_for(lambda: len(claims_left(app)) == 5, 5) and outcomes(app) == []
            daemon.kill()
        finally:
            lock.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
    daemon.start()  # settles its claims before the reader starts
    assert claims_left(app) == []
    daemon.swipe(CARD)
    assert wait_for(lambda: "no-jobs" in [r["outcome"] for r in audit_rows(app, "release")], 10)
    daemon.stop()
    every_job_printed_once_and_audited_ok_once(app, cups_clean, jobs)
    assert {r["cost_center"] for r in audit_rows(app, "release")} == {"CC-5"}


class FreezingProxy:
    """A domain-socket proxy in front of cupsd that lets `limit` release requests through
    (`job-hold-until` = no-hold) and then holds the next one until thawed: cupsd seems to hang
    in the middle of a release, at exactly that job. `thaw()` drops what it held."""

    def __init__(self, target: str, path: Path, limit: int):
        self.target, self.path, self.limit = target, str(path), limit
        self.passed = 0
        self.holding = threading.Event()
        self.thawed = threading.Event()
        self.lock = threading.Lock()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.listener.accept()
                server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                server.connect(self.target)
                threading.Thread(target=self._up, args=(client, server), daemon=True).start()
                threading.Thread(target=self._down, args=(server, client), daemon=True).start()

    def _up(self, client: socket.socket, server: socket.socket) -> None:
        with contextlib.suppress(OSError), client, server:
            while data := client.recv(65536):
                with self.lock:
                    releases = data.count(b"no-hold")
                    hold = self.passed + releases > self.limit
                    if not hold:
                        self.passed += releases
                if hold:
                    self.holding.set()
                    self.thawed.wait()
                    return  # what was held never reaches cupsd
                server.sendall(data)

    @staticmethod
    def _down(server: socket.socket, client: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := server.recv(65536):
                client.sendall(data)
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_WR)

    def thaw(self) -> None:
        self.limit = 1 << 30
        self.thawed.set()

    def close(self) -> None:
        self.thaw()
        self.listener.close()


def released_by_now(app, jobs: list[int]) -> list[int]:
    """The jobs cupsd no longer holds, once that stops changing: releases that got past the
    proxy on other connections just before it froze may still be in cupsd's hands."""
    released = None
    for _ in range(100):
        now = [j for j in jobs if app.printq.job(j).state != HELD]
        if now == released:
            return now
        released = now
        time.sleep(0.1)
    raise AssertionError("cupsd kept releasing jobs after the proxy froze")


def test_daemon_killed_mid_release_while_cupsd_hangs(daemon_for, cups_clean, db_url, make_app,
                                                     tmp_path):  # fmt: skip
    proxy = FreezingProxy(cups_clean.socket, tmp_path / "proxy.sock", limit=15)
    try:
        app = make_app()
        add_user(app, "alice", card=CARD)
        jobs = cups_clean.submit_many([("alice", f"page {i}") for i in range(40)])
        daemon = daemon_for(cups_clean, db_url, server=proxy.path)
        daemon.start()
        daemon.swipe(CARD)
        assert proxy.holding.wait(20), "the release never got that far"
        # libcups sends each connection's first release twice (unauthenticated, then with
        # PeerCred), and a swipe's releases go out on several connections at once, so how
        # many got through before the freeze varies; some did, and not all. (These titles
        # are document names with white space: each is released in one request of the
        # station's own, so up to all 15 may have passed.)
        released = released_by_now(app, jobs)
        assert 0 < len(released) <= 15
        assert len(claims_left(app)) == 40 and outcomes(app) == []
        daemon.kill()
        proxy.thaw()
        daemon.start()  # settles its claims before the reader starts
        assert claims_left(app) == []
        settled = dict(outcomes(app))
        assert sorted(j for j, outcome in settled.items() if outcome == "ok") == released
        left = len(jobs) - len(released)
        assert Counter(settled.values()) == {"ok": len(released), "interrupted": left}
        assert len(app.printq.held_jobs(["Secure"])) == left
        daemon.swipe(CARD)
        assert wait_for(lambda: len(cups_clean.printed()) == 40, 20)
        daemon.stop()
        every_job_printed_once_and_audited_ok_once(app, cups_clean, jobs)
    finally:
        proxy.close()
