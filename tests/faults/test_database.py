# SPDX-License-Identifier: GPL-3.0-or-later
"""The database away: PostgreSQL restarted mid-swipe, unreachable at start-up; SQLite on a
full disk.

PostgreSQL here is a server of this module's own (bench/servers/private_postgres.py), never
the machine's shared one: it is stopped and started under a running `releasestation run`.
The full disk is a small tmpfs mounted for the test (root, as CI runs). Each case says
what it proves.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bench.servers.private_postgres import PrivatePostgres
from releasestation.printq import HELD
from tests.fixtures.station import add_user, audit_rows, swipe
from tests.test_crash_restart import claims_left, outcomes
from tests.waiting import wait_for

CARD = "55667788"


@pytest.fixture
def db_url(tmp_path) -> str:
    """Each case here names its own database: the store fixtures' once, not per backend."""
    return f"sqlite:///{tmp_path}/station.db"


@pytest.fixture(scope="module")
def cluster() -> Iterator[PrivatePostgres]:
    try:
        pg = PrivatePostgres()
    except (FileNotFoundError, RuntimeError) as exc:
        pytest.skip(f"no private PostgreSQL: {exc}")
    try:
        pg.start()
        yield pg
    finally:
        pg.close()


@pytest.fixture
def pg(cluster) -> Iterator[PrivatePostgres]:
    """The private server, running, with a database of this test's own in `pg.db_url`."""
    if not cluster.running:
        cluster.start()
    name = f"t_{uuid.uuid4().hex[:10]}"
    admin = create_engine(cluster.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    cluster.db_url = cluster.url.rsplit("/", 1)[0] + f"/{name}"
    yield cluster
    if not cluster.running:
        cluster.start()
    admin = create_engine(cluster.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def printed_once(cups, jobs: list[int]) -> None:
    time.sleep(0.3)  # a second copy would come out meanwhile
    printed = Counter(p.job_id for p in cups.printed())
    assert sorted(printed) == sorted(jobs) and set(printed.values()) == {1}


def test_database_unreachable_at_start_up_the_station_starts_once_it_answers(
    daemon_for, cups_clean, make_app, pg
):
    """Proves `releasestation run` with its database down says so in one clear line (no
    traceback), writes nothing, does not exit (systemd's start limit would give up on it),
    and starts serving by itself once the database answers. Fails on a traceback, an
    exit, a row written while down, or a station that never comes up."""
    app = make_app(database=f"url = {pg.db_url}\n")  # migrated while it runs
    add_user(app, "alice", card=CARD)
    jobs = cups_clean.submit_many([("alice", f"page-{i}") for i in range(3)])
    app.store.engine.dispose()
    pg.stop()
    daemon = daemon_for(cups_clean, pg.db_url)
    with daemon.log.open("ab") as out:
        daemon.proc = subprocess.Popen(
            [sys.executable, "-m", "releasestation", "-c", str(daemon.ini), "-v", "run"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=Path(__file__).resolve().parents[2],
        )  # fmt: skip
    assert wait_for(lambda: "starts once it answers" in daemon.log.read_text(), 20)
    time.sleep(1.5)  # a second try, and still no exit
    log = daemon.log.read_text()
    assert daemon.proc.poll() is None, log[-2000:]
    assert "Traceback" not in log and "Connection refused" in log
    assert not daemon._listening()
    pg.start()
    assert wait_for(daemon._listening, 20), daemon.log.read_text()[-2000:]
    assert [r["event"] for r in audit_rows(app)] == []  # nothing written while down
    daemon.swipe(CARD)
    assert wait_for(lambda: len(cups_clean.printed()) >= 3, 20)
    daemon.stop()
    printed_once(cups_clean, jobs)
    assert sorted(j for j, o in outcomes(app) if o == "ok") == sorted(jobs)


def test_postgresql_restarted_mid_swipe(daemon_for, cups_clean, make_app, pg):
    """Proves swipes that meet a PostgreSQL crash (stop -m immediate) and restart cost
    nothing but themselves: the daemon stays up and serves again by itself; a job is
    printed once at most, and only a job that printed can be left claimed (its claim
    committed, its audit row not), which the next start settles as "ok", once. Fails on a
    double print, a lost job, a claim on a job still held, or a dead daemon."""
    app = make_app(database=f"url = {pg.db_url}\n")
    people = [(f"user{n}", f"7100{n:04d}") for n in range(6)]
    for name, card in people:
        add_user(app, name, card=card)
    jobs = cups_clean.submit_many([(name, f"doc-{i}") for name, _ in people for i in range(4)])
    daemon = daemon_for(cups_clean, pg.db_url)
    daemon.start()
    for n, (_, card) in enumerate(people):
        daemon.swipe(card)
        if n == 1:
            time.sleep(0.05)  # inside the swipe
            pg.stop("immediate")
        if n == 3:
            pg.start()
        time.sleep(0.3)
    assert daemon.proc is not None and daemon.proc.poll() is None
    held = {j.id for j in app.printq.held_jobs(["Secure"])}
    assert not held & {c.job_id for c in claims_left(app)}, "a claim on a job still held"
    time.sleep(3)  # the reader's debounce
    for _, card in people:  # everyone again: the station serves by itself
        daemon.swipe(card)
    assert wait_for(lambda: len(cups_clean.printed()) >= len(jobs), 30)
    daemon.stop()
    daemon.start()  # settles what a lost transaction left claimed
    daemon.stop()
    assert claims_left(app) == []
    printed_once(cups_clean, jobs)
    ok = Counter(j for j, o in outcomes(app) if o == "ok")
    assert sorted(ok) == sorted(jobs) and set(ok.values()) == {1}
    assert [j.state for j in app.printq.held_jobs(["Secure"])] == []
    assert HELD not in [app.printq.job(j).state for j in jobs if app.printq.job(j)]


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A 2 MiB tmpfs: a disk that fills up."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    where = tmp_path / "disk"
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path) -> Path:
    """Fill `disk` to the last byte; the filler's path."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
    finally:
        os.close(fd)
    return filler


def test_sqlite_on_a_full_disk(make_app, cups_clean, small_disk):
    """Proves a swipe on a full disk releases nothing and leaves no claim or audit row
    half-written (the claim's transaction fails before cupsd is asked), that the database
    stays sound, and that the next swipe once there is room prints each job once. Fails on
    a job released without its claim, a claim left, a damaged database, or no recovery."""
    app = make_app(database=f"url = sqlite:///{small_disk}/station.db\n")
    add_user(app, "alice", card=CARD)
    jobs = cups_clean.submit_many([("alice", f"page-{i}") for i in range(3)])
    rows = len(audit_rows(app))
    filler = fill(small_disk)
    assert swipe(app, CARD) == "release-failed"
    assert [j.state for j in app.printq.held_jobs(["Secure"])] == [HELD] * 3
    assert cups_clean.printed() == [] and claims_left(app) == []
    assert len(audit_rows(app)) == rows  # the denial could not be written either
    with app.store.read() as session:
        assert session.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    filler.unlink()
    assert swipe(app, CARD) == "released"
    assert len(cups_clean.wait_printed(3)) == 3
    printed_once(cups_clean, jobs)
    assert Counter(j for j, o in outcomes(app) if o == "ok") == Counter(jobs)
