# SPDX-License-Identifier: GPL-3.0-or-later
"""Print by e-mail as a site runs it: `releasestation mailprint` as a process of its own,
the station daemon (its job watcher too) with a network terminal, a real dovecot, SMTP
server, cupsd and, for staff, slapd.

Done when: a PDF mailed by an unknown visitor brings a PIN mail back within 10 seconds, and
typing that PIN on the terminal prints it; the daemon's watcher, seeing the same jobs,
sends no second PIN.
"""

from __future__ import annotations

import itertools
import os
import queue
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from releasestation.daemon import build_station
from tests.fixtures.station import ldap_section, station_ini
from tests.test_mailprint import STATION_FROM, VISITORS, as_pdf, mail, pin_in
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[1]
_people = itertools.count()


@pytest.fixture
def site_ini(tmp_path, db_url, cupsd, smtp, dovecot, terminal) -> Path:
    credgen = (
        f"allowed_usernames = {VISITORS}\n{smtp.ini()}min_seconds_between_runs = 300\n"
        f"email_from = {STATION_FROM}\n"
    )
    reader = (
        f"type = papercut\nhost = 127.0.0.1\nport = {terminal.port}\n"
        "min_backoff_seconds = 0.02\nmax_backoff_seconds = 0.2\n"
    )
    text = station_ini(
        db_url, tmp_path, cupsd, credgen=credgen, mailprint=dovecot.ini(poll_seconds=30),
        **{"reader:desk": reader},
    )  # fmt: skip
    path = tmp_path / "releasestation.ini"
    path.write_text(text)
    return path


@pytest.fixture
def mailprint_process(site_ini):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen(
        [sys.executable, "-m", "releasestation", "-c", str(site_ini), "mailprint", "-v"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    yield process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
    process.communicate()


def test_a_mailed_pdf_brings_a_pin_within_10_s_and_the_pin_typed_at_a_terminal_prints_it(
    site_ini, make_app, terminal, dovecot, smtp, cups_clean, mailprint_process
):
    app = make_app(site_ini)
    outcomes: queue.Queue = queue.Queue()
    station = build_station(app)  # with its services: the job watcher serves visitors too
    station.listeners.append(lambda swipe, outcome: outcomes.put(outcome))
    station.start()
    try:
        terminal.wait_connections(1)
        time.sleep(1.0)  # mailprint is logged in and idling
        began = time.monotonic()
        dovecot.deliver(mail("traveller@example.com", as_pdf("ticket.pdf")))
        assert wait_for(lambda: smtp.to("traveller@example.com"), timeout=10.0, step=0.05)
        assert time.monotonic() - began < 10.0
        time.sleep(2.0)  # the daemon's watcher has seen the job by now: no second PIN
        [pin_mail] = smtp.to("traveller@example.com")
        terminal.swipe(pin_in(pin_mail))
        assert outcomes.get(timeout=5) == "released"
        [printed] = cups_clean.wait_printed(1)
        assert printed.user == "traveller@example.com"
    finally:
        station.stop()
    mailprint_process.send_signal(signal.SIGTERM)
    assert mailprint_process.wait(timeout=15) == 0
    _, stderr = mailprint_process.communicate()
    assert pin_in(pin_mail) not in stderr.decode()


def test_a_directory_users_mail_is_held_as_theirs(make_app, slapd, tmp_path, dovecot, smtp,
                                                   cups_clean):  # fmt: skip
    uid = f"mp-carla{next(_people)}"
    slapd.add_user(uid, mail=f"Carla.Staff.{uid}@example.org")
    credgen = f"allowed_usernames = {VISITORS}\n{smtp.ini()}email_from = {STATION_FROM}\n"
    app = make_app(
        directory=ldap_section(slapd, tmp_path), credgen=credgen, mailprint=dovecot.ini()
    )
    dovecot.deliver(mail(f"carla.staff.{uid}@EXAMPLE.org", as_pdf("budget.pdf")))
    dovecot.deliver(mail("*@example.org", as_pdf("wild.pdf")))  # a filter value, escaped
    assert app.mailprint().run(once=True) == 0
    [job] = app.printq.held_jobs(["Secure"])
    assert (job.owner, job.title) == (uid, "budget.pdf")
    assert dovecot.count("processed") == 1 and dovecot.count("failed") == 1
    assert [m.rcpt_tos for m in smtp.messages] == [["*@example.org"]]  # told no; no PIN
