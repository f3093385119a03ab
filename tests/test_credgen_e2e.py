# SPDX-License-Identifier: GPL-3.0-or-later
"""From `credgen batch` to paper: real slapd, SMTP server, cupsd, TCP terminal and daemon.

A directory user without a PIN gets one by mail, types it on a network terminal and their
held jobs print; an unknown card followed by the mailed card-assignment code binds the card
and prints; ten wrong PINs on one reader lock it out, and the lockout outlives a restart.
"""

from __future__ import annotations

import itertools
import queue
import re
from dataclasses import dataclass

import pytest
from sqlalchemy import text

from credgen import run_batch
from releasestation.daemon import Station, build_station
from releasestation.store.models import utcnow
from tests.fixtures.clock import Clock
from tests.fixtures.station import ldap_section

_runs = itertools.count()


@dataclass
class Site:
    app: object
    path: object
    station: Station
    outcomes: queue.Queue

    def enter(self, terminal, value: str) -> str:
        terminal.swipe(value)
        return self.outcomes.get(timeout=5)


def start_station(app, terminal, clock: Clock) -> Site:
    app.identity = app.identity_with(clock=clock)  # the lockout's time is the test's
    outcomes: queue.Queue = queue.Queue()
    station = build_station(app)
    station.listeners.append(lambda swipe, outcome: outcomes.put(outcome))
    connections = terminal.accepted
    station.start()
    terminal.wait_connections(connections + 1)
    return Site(app, None, station, outcomes)


@pytest.fixture
def tag() -> str:
    return f"e2e{next(_runs)}x"


@pytest.fixture
def site_config(write_config, slapd, terminal, smtp, tmp_path, tag):
    reader = (
        f"\n[reader:desk]\ntype = papercut\nhost = 127.0.0.1\nport = {terminal.port}\n"
        "min_backoff_seconds = 0.02\nmax_backoff_seconds = 0.2\n"
    )
    credgen = f"\n[credgen]\n{smtp.ini()}allowed_usernames = {tag}-.*\ngenerate_puk = yes\n"
    return write_config(
        directory=ldap_section(slapd, tmp_path),
        readers=reader + credgen,
        station_extra="pin_max_digits = 6",
    )


@pytest.fixture
def site(site_config, make_app, terminal):
    running = start_station(make_app(site_config), terminal, Clock(utcnow()))
    yield running
    running.station.stop()


def mailed(smtp, address: str) -> tuple[str, str]:
    [message] = smtp.to(address)
    body = message.text()
    return re.search(r"PIN: (\d+)", body).group(1), re.search(r"code: (\d+)", body).group(1)


def test_a_mailed_pin_typed_at_the_terminal_prints_the_jobs(
    site, slapd, smtp, terminal, cups_clean, tag
):
    user = f"{tag}-ann"
    slapd.add_user(user, mail=f"{user}@example.org")
    result = run_batch(site.app)
    assert result.ok and result.issued == 1, result.summary()
    pin, _code = mailed(smtp, f"{user}@example.org")
    jobs = {cups_clean.submit(user, "report"), cups_clean.submit(user, "slides")}
    other = cups_clean.submit("bob", "not ann's")
    assert site.enter(terminal, pin) == "released"
    assert {p.job_id for p in cups_clean.wait_printed(2)} == jobs
    assert [j.id for j in site.app.printq.held_jobs(("Secure",))] == [other]


def test_an_unknown_card_then_the_mailed_code_binds_the_card_and_prints(
    site, slapd, smtp, terminal, cups_clean, tag
):
    user = f"{tag}-ben"
    slapd.add_user(user, mail=f"{user}@example.org")
    assert run_batch(site.app).ok
    _pin, code = mailed(smtp, f"{user}@example.org")
    first = cups_clean.submit(user, "first")
    card = "5544332211"
    assert site.enter(terminal, card) == "denied"
    assert site.enter(terminal, code) == "released"
    assert [p.job_id for p in cups_clean.wait_printed(1)] == [first]
    second = cups_clean.submit(user, "second")
    assert site.enter(terminal, card) == "released", "the card is now ben's"
    assert [p.job_id for p in cups_clean.wait_printed(2)][-1] == second
    with site.app.store.read() as s:
        sql = (
            "SELECT event, outcome, method FROM audit WHERE username = :u AND event != 'credential'"
        )
        rows = s.execute(text(sql + " ORDER BY id"), {"u": user}).all()
    assert [tuple(r) for r in rows] == [
        ("card", "bound", "cac"), ("release", "ok", "cac"), ("release", "ok", "card"),
    ]  # fmt: skip


def test_ten_wrong_pins_lock_the_reader_and_the_lockout_survives_a_restart(
    site_config, make_app, slapd, smtp, terminal, cups_clean, tag
):
    user = f"{tag}-cy"
    slapd.add_user(user, mail=f"{user}@example.org")
    clock = Clock(utcnow())
    site = start_station(make_app(site_config), terminal, clock)
    try:
        assert run_batch(site.app).ok
        pin, _code = mailed(smtp, f"{user}@example.org")
        wrong = [f"{(int(pin) + 7919 * i) % 1_000_000:06d}" for i in range(1, 11)]
        assert [site.enter(terminal, w) for w in wrong[:5]] == ["denied"] * 5
        assert site.enter(terminal, pin) == "denied", "locked: even the right PIN"
        clock.advance(301)
        assert [site.enter(terminal, w) for w in wrong[5:]] == ["denied"] * 5
        clock.advance(301)
        assert site.enter(terminal, pin) == "denied", "the second lockout lasts 600 s"
    finally:
        site.station.stop()

    restarted = start_station(make_app(site_config), terminal, clock)
    try:
        job = cups_clean.submit(user, "after the restart")
        assert restarted.enter(terminal, pin) == "denied", "still locked after a restart"
        clock.advance(300)
        assert restarted.enter(terminal, pin) == "released"
        assert [p.job_id for p in cups_clean.wait_printed(1)] == [job]
    finally:
        restarted.station.stop()
    with restarted.app.store.read() as s:
        locks = s.scalars(
            text("SELECT detail FROM audit WHERE event = 'lockout' ORDER BY id")
        ).all()
        denials = s.scalar(text("SELECT count(*) FROM audit WHERE event = 'deny'"))
        dump = str(s.execute(text("SELECT * FROM audit")).all())
    assert ["locked for 300 s" in locks[0], "locked for 600 s" in locks[1]] == [True, True]
    assert denials == 13
    assert not any(value in dump for value in [pin, *wrong])
