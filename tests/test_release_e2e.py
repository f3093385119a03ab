# SPDX-License-Identifier: GPL-3.0-or-later
"""The release path end to end: a real TCP terminal, the daemon, real slapd and cupsd.

A swipe of alice's card prints alice's held jobs (whatever form her owner name takes) and
nothing else; bad input releases nothing and never stops the daemon.
"""

from __future__ import annotations

import queue
import subprocess
import time
from dataclasses import dataclass

import pytest
from sqlalchemy import text

from releasestation.daemon import Station, build_station
from releasestation.printq.index import HeldIndex
from tests.fixtures.station import ldap_section
from tests.waiting import wait_for

ALICE_CARD, BOB_CARD = "0012345678", "0087654321"
ALICE_OWNERS = ["alice", "CORP\\alice", "alice@corp.example.org", "ALICE"]


@dataclass
class Running:
    station: Station
    app: object
    outcomes: queue.Queue
    terminal: object
    cups: object

    def swipe(self, card: str, timeout: float = 5.0) -> str:
        self.terminal.swipe(card)
        return self.outcomes.get(timeout=timeout)


def reader_section(terminal, **extra) -> str:
    lines = [
        "[reader:desk]",
        "type = papercut",
        "host = 127.0.0.1",
        f"port = {terminal.port}",
        "min_backoff_seconds = 0.02",
        "max_backoff_seconds = 0.2",
    ]
    lines += [f"{k} = {v}" for k, v in extra.items()]
    return "\n" + "\n".join(lines) + "\n"


def start(app, terminal, cups) -> Running:
    outcomes: queue.Queue = queue.Queue()
    station = build_station(app)
    station.listeners.append(lambda swipe, outcome: outcomes.put(outcome))
    station.start()
    terminal.wait_connections(1)
    return Running(station, app, outcomes, terminal, cups)


@pytest.fixture
def running(request, write_config, make_app, slapd, terminal, cups_clean, tmp_path):
    marker = request.node.get_closest_marker("station")
    options = dict(marker.kwargs) if marker else {}
    path = write_config(
        directory=ldap_section(slapd, tmp_path),
        readers=reader_section(terminal),
        station_extra=options.get("station_extra", ""),
        debounce=options.get("debounce", 0),
    )
    run = start(make_app(path), terminal, cups_clean)
    yield run
    run.station.stop()


def held_owners(run: Running) -> list[str]:
    return sorted(j.owner for j in run.app.printq.held_jobs(("Secure", "Secure2")))


def audit_rows(run: Running, where: str = "1=1") -> list[tuple]:
    with run.app.store.read() as s:
        sql = f"SELECT event, outcome, username, job_id FROM audit WHERE {where} ORDER BY id"
        return [tuple(r) for r in s.execute(text(sql))]


def test_swipe_prints_exactly_that_users_jobs(running):
    cups = running.cups
    alice_jobs = {cups.submit(owner, f"doc of {owner}", queue="Secure") for owner in ALICE_OWNERS}
    alice_jobs.add(cups.submit("alice", "second queue", queue="Secure2"))
    for other in ("bob", "OTHER\\alice", "alice@evil.example.org", "alicex"):
        cups.submit(other, f"doc of {other}", queue="Secure")
    started = time.monotonic()
    assert running.swipe(ALICE_CARD) == "released"
    printed = cups.wait_printed(len(alice_jobs), timeout=5)
    assert time.monotonic() - started < 1.5, "alice's jobs print within about a second"
    assert {p.job_id for p in printed} == alice_jobs
    assert held_owners(running) == sorted(
        ["bob", "OTHER\\alice", "alice@evil.example.org", "alicex"]
    )
    released = audit_rows(running, "event = 'release' AND outcome = 'ok'")
    assert {r[3] for r in released} == alice_jobs and {r[2] for r in released} == {"alice"}


def test_lp_jobs_of_non_local_owners_survive_and_print_on_a_swipe(running, tmp_path):
    """Debian's cupsd 2.4.2-3+deb12u10 crashed on both: Send-Document of a user NSS does not
    know under an @OWNER limit, and starting a job whose document name has white space."""
    cups = running.cups
    pid = cups.pid
    document = tmp_path / "Quarterly report.ps"
    document.write_bytes(b"%!PS-Adobe-3.0\nshowpage\n")
    for owner in ALICE_OWNERS:
        subprocess.run(
            ["lp", "-h", cups.socket, "-U", owner, "-d", "Secure", str(document)],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
    assert cups.pid == pid
    assert running.swipe(ALICE_CARD) == "released"
    printed = cups.wait_printed(len(ALICE_OWNERS), timeout=10)
    assert sorted(p.user for p in printed) == sorted(ALICE_OWNERS)
    assert {p.title for p in printed} == {"Quarterly report.ps"}
    assert cups.pid == pid and cups.running


def test_the_swipe_is_answered_from_the_held_job_index(running):
    """The daemon keeps a held-job index; once built, a swipe finds its jobs there, jobs
    sent a moment before the swipe included, and still prints nobody else's."""
    [index] = [s for s in running.station.services if isinstance(s, HeldIndex)]
    wait_for(lambda: index.trusted, timeout=10, step=0.02)
    assert index.trusted, index.stale_reason
    cups = running.cups
    bob = cups.submit("bob", "stays")
    before = index.answered
    mine = {cups.submit(owner, f"doc of {owner}") for owner in ALICE_OWNERS}
    time.sleep(3 * index.poll_seconds)  # the index's helper takes these in
    mine.add(cups.submit("alice", "a moment before the swipe", queue="Secure2"))
    assert running.swipe(ALICE_CARD) == "released"
    assert {p.job_id for p in cups.wait_printed(len(mine), timeout=5)} == mine
    assert index.answered == before + 1
    assert [j.id for j in running.app.printq.held_jobs(("Secure", "Secure2"))] == [bob]


def test_the_release_is_timed_from_the_swipe_to_cupsd_s_last_answer(running):
    """Outcome.released_at ends the swipe-to-release measurement (the bench's, the debug
    log's): after the swipe, once cupsd released every job, before the worker is done."""
    jobs = {running.cups.submit("alice", f"doc {n}") for n in range(3)}
    seen: queue.Queue = queue.Queue()
    running.station.listeners.append(lambda swipe, outcome: seen.put((swipe, time.time())))
    before = time.time()
    assert running.swipe(ALICE_CARD) == "released"
    swipe, handled = seen.get(timeout=5)
    result = running.station.last_release
    assert result is not None and {j.id for j in result.released} == jobs
    assert result.released_at is not None
    assert before <= swipe.at <= result.released_at <= handled
    assert running.swipe(BOB_CARD) == "no-jobs"
    assert running.station.last_release is not None
    assert running.station.last_release.released_at is None, "nothing released, no time"
    assert running.swipe("0099999999") == "denied"
    assert running.station.last_release is None, "a denial leaves no release behind"


@pytest.mark.parametrize(
    "junk",
    [b"0099999999\n", b"*\n", b"*)(uid=*\n", b"8" * 10_240 + b"\n", b"\x00\xff\x1b[2J\x80\xfe\n"],
    ids=["unknown", "star", "injection", "10KB", "binary"],
)
def test_bad_input_releases_nothing_and_the_daemon_goes_on(running, junk, caplog):
    cups = running.cups
    cups.submit("alice", "must stay held")
    bob_job = cups.submit("bob", "bob's")
    running.terminal.swipe(junk)
    if junk == b"0099999999\n":
        assert running.outcomes.get(timeout=5) == "denied"
        assert audit_rows(running, "event = 'deny'")[0][:2] == ("deny", "unknown")
    assert running.swipe(BOB_CARD) == "released"
    assert running.outcomes.empty(), "junk that is no card number never reaches the core"
    assert [p.job_id for p in cups.wait_printed(1)] == [bob_job]
    time.sleep(0.2)
    assert [p.job_id for p in cups.printed()] == [bob_job]
    assert held_owners(running) == ["alice"]
    assert "0099999999" not in caplog.text and "8888888888" not in caplog.text


def test_terminal_dropping_twenty_times_is_reconnected(running):
    for n in range(2, 22):
        running.terminal.drop()
        running.terminal.wait_connections(n)
    job = running.cups.submit("alice", "after the drops")
    assert running.swipe(ALICE_CARD) == "released"
    assert [p.job_id for p in running.cups.wait_printed(1)] == [job]


def test_cupsd_restart_is_recovered_without_restarting_the_daemon(running):
    """Proves a station keeps working across a restart of cupsd: a job sent after it is
    released by a swipe and printed. The restart waits until cupsd has finished the job
    printed before it: a job whose backend still runs when cupsd stops is printed again
    when it starts (cupsd's way, not the station's), which would count here."""
    cups = running.cups
    before = cups.submit("alice", "before")
    assert running.swipe(ALICE_CARD) == "released"
    cups.wait_printed(1)
    assert wait_for(lambda: (j := running.app.printq.job(before)) is not None and j.state == 9, 10)
    cups.restart()
    job = cups.submit("bob", "after the restart")
    assert running.swipe(BOB_CARD) == "released"
    assert wait_for(lambda: job in {p.job_id for p in cups.printed()}, 10)
    assert sorted(p.job_id for p in cups.printed()) == [before, job], "each printed once"


@pytest.mark.station(debounce=30)
def test_same_card_on_same_reader_is_debounced(running):
    running.cups.submit("alice", "one")
    assert running.swipe(ALICE_CARD) == "released"
    assert running.swipe(ALICE_CARD) == "debounced"
    assert running.swipe(BOB_CARD) == "no-jobs", "a different card is not debounced"


@pytest.mark.station(station_extra="printer = Lobby")
def test_follow_me_moves_jobs_to_the_station_printer(running):
    cups = running.cups
    jobs = {
        cups.submit("alice", "a", queue="Secure"),
        cups.submit("CORP\\alice", "b", queue="Secure2"),
    }
    assert running.swipe(ALICE_CARD) == "released"
    printed = cups.wait_printed(2)
    assert {p.job_id for p in printed} == jobs
    assert {p.queue for p in printed} == {"Lobby"}


@pytest.mark.station(station_extra="printer = Lobby")
def test_stopped_printer_releases_nothing(running):
    cups = running.cups
    cups.submit("alice", "a")
    cups.stop_printer("Lobby", "paper jam")
    try:
        assert running.swipe(ALICE_CARD) == "refused"
    finally:
        cups.start_printer("Lobby")
    assert held_owners(running) == ["alice"]
    assert cups.printed() == []
    deny = audit_rows(running, "event = 'deny'")
    assert deny and deny[0][1] == "printer-error"


def test_directory_outage_denies_and_recovers(
    write_config, make_app, make_slapd, terminal, cups_clean, tmp_path
):
    own = make_slapd()
    path = write_config(directory=ldap_section(own, tmp_path), readers=reader_section(terminal))
    run = start(make_app(path), terminal, cups_clean)
    try:
        job = cups_clean.submit("alice", "wait for ldap")
        own.stop()
        assert run.swipe(ALICE_CARD) == "lookup-failed"
        assert held_owners(run) == ["alice"]
        own.start()
        assert run.swipe(ALICE_CARD) == "released"
        assert [p.job_id for p in cups_clean.wait_printed(1)] == [job]
    finally:
        run.station.stop()
