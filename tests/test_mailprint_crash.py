# SPDX-License-Identifier: GPL-3.0-or-later
"""Mail-to-print killed (SIGKILL, a real process) at its worst moments, then started again:
nothing printed twice, nothing lost, one PIN mail.

- after every job of a mail is held and remembered, before the mail is moved;
- after cupsd took the first job of a mail, before its id was remembered.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.station import station_ini, swipe
from tests.test_mailprint import STATION_FROM, VISITORS, as_pdf, mail, pin_in
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[1]
# The service, run as `releasestation mailprint --once` runs it, with SIGKILL at one step.
KILLED_AT = """
import os, signal, sys
from releasestation import config
from releasestation.app import App
from releasestation.mailprint import ledger, mailbox

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

if sys.argv[2] == "move":
    mailbox.Mailbox.move = die
else:
    ledger.Ledger.add_job = die
app = App(config.load(sys.argv[1]))
sys.exit(app.mailprint().run(once=True))
"""


@pytest.fixture
def config_file(tmp_path, db_url, cupsd, smtp, dovecot, make_app) -> Path:
    credgen = (
        f"allowed_usernames = {VISITORS}\n{smtp.ini()}min_seconds_between_runs = 300\n"
        f"email_from = {STATION_FROM}\n"
    )
    path = tmp_path / "releasestation.ini"
    path.write_text(station_ini(db_url, tmp_path, cupsd, credgen=credgen, mailprint=dovecot.ini()))
    make_app(path)  # migrated, the secret made
    return path


def killed_at(step: str, config: Path) -> int:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", KILLED_AT, str(config), step],
        cwd=ROOT, env=env, capture_output=True, timeout=60,
    )  # fmt: skip
    return done.returncode


@pytest.mark.parametrize("step", ["move", "add_job"])
def test_killed_while_taking_a_mail_then_started_again(
    step, config_file, make_app, dovecot, smtp, cups_clean
):
    dovecot.deliver(mail("crash@example.com", as_pdf("one.pdf"), as_pdf("two.pdf")))
    assert killed_at(step, config_file) == -signal.SIGKILL
    app = make_app(config_file)
    before = {j.id for j in app.printq.held_jobs(["Secure"])}
    assert len(before) == (2 if step == "move" else 1)
    assert dovecot.count("INBOX") == 1, "nothing lost: the mail is still there"

    assert app.mailprint().run(once=True) == 0
    jobs = sorted(app.printq.held_jobs(["Secure"]), key=lambda j: j.id)
    assert [j.title for j in jobs] == ["one.pdf", "two.pdf"], "nothing held twice"
    assert before <= {j.id for j in jobs}
    assert dovecot.count("INBOX") == 0 and dovecot.count("processed") == 1
    assert wait_for(lambda: smtp.to("crash@example.com"), timeout=5.0)
    assert app.mailprint().run(once=True) == 0  # a third look changes nothing
    [pin_mail] = smtp.to("crash@example.com")
    assert swipe(app, pin_in(pin_mail), kind="pin") == "released"
    printed = cups_clean.wait_printed(2)
    assert sorted(p.job_id for p in printed) == [j.id for j in jobs]


def test_a_mail_copied_back_into_the_inbox_is_not_printed_again(
    config_file, make_app, dovecot, smtp, cups_clean
):
    message = mail("again@example.com", as_pdf("once.pdf"))
    dovecot.deliver(message)
    app = make_app(config_file)
    assert app.mailprint().run(once=True) == 0
    dovecot.deliver(message)  # the same Message-ID from the same sender
    assert app.mailprint().run(once=True) == 0
    assert [j.title for j in app.printq.held_jobs(["Secure"])] == ["once.pdf"]
    assert dovecot.count("processed") == 2 and len(smtp.to("again@example.com")) == 1
