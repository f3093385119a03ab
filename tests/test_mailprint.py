# SPDX-License-Identifier: GPL-3.0-or-later
"""Print by e-mail, end to end on real servers: a private dovecot holds the print mailbox,
the SMTP fixture takes the station's PIN mails and replies, the private cupsd holds and
prints the jobs. A mail arrives by IMAP APPEND, as a delivery agent puts it there."""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage

import pytest

from releasestation.mailprint import message as mail_module
from releasestation.mailprint.ledger import Ledger
from releasestation.mailprint.service import MailPrint
from tests.fixtures.imap import PASSWORD
from tests.fixtures.station import add_user, audit_rows, swipe
from tests.fixtures.web import pdf
from tests.waiting import wait_for

VISITORS = r"[^@\s]+@example\.com"
STATION_FROM = "print@station.example.org"


def mail(
    sender: str,
    *attachments: tuple[str, bytes, str],
    subject: str = "please print",
    body: str = "Thanks!",
    **headers: str,
) -> EmailMessage:
    """A mail from `sender` with `attachments` (file name, bytes, MIME type)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "print@example.org"
    message["Subject"] = subject
    message["Message-ID"] = f"<{time.monotonic_ns()}.{len(attachments)}@mail.example.com>"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    for filename, data, mime in attachments:
        maintype, subtype = mime.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message


def as_pdf(name: str, pages: int = 1) -> tuple[str, bytes, str]:
    return (name, pdf(pages), "application/pdf")


def pin_in(message) -> str:
    found = re.search(r"PIN: (\d+)", message.text())
    assert found, message.text()
    return found.group(1)


@pytest.fixture
def mail_app(make_app, smtp, dovecot):
    """make(mailbox=dovecot, mailprint="", credgen="", **sections) -> an App taking mail."""

    def make(mailbox=None, mailprint: str = "", credgen: str = "", **sections: str):
        box = mailbox or dovecot
        lines = (
            f"allowed_usernames = {VISITORS}\n{smtp.ini()}min_seconds_between_runs = 300\n"
            f"email_from = {STATION_FROM}\n{credgen}"
        )
        return make_app(credgen=lines, mailprint=box.ini() + mailprint, **sections)

    return make


@pytest.fixture
def running() -> Iterator:
    """start(app) -> the app's MailPrint service, running in a thread until the test ends."""
    started: list[tuple[MailPrint, threading.Thread]] = []

    def start(app) -> MailPrint:
        service = app.mailprint()
        thread = threading.Thread(target=service.run, daemon=True)
        thread.start()
        started.append((service, thread))
        return service

    yield start
    for service, thread in started:
        service.stop()
        thread.join(10)


def held(app) -> list:
    return app.printq.held_jobs(["Secure"])


# -- the whole flow ---------------------------------------------------------------------------
def test_a_visitors_two_pdfs_are_two_held_jobs_one_pin_mail_and_the_pin_prints_both(
    mail_app, running, dovecot, smtp, cups_clean, caplog
):
    caplog.set_level(logging.DEBUG)
    app = mail_app()
    running(app)
    began = time.monotonic()
    dovecot.deliver(mail("Guest@Example.com", as_pdf("boarding pass.pdf"), as_pdf("map.pdf", 2)))
    assert wait_for(lambda: smtp.to("guest@example.com"), timeout=10.0), "no PIN within 10 s"
    assert time.monotonic() - began < 10.0
    assert wait_for(lambda: dovecot.count("processed") == 1, timeout=5.0)
    jobs = sorted(held(app), key=lambda j: j.id)
    assert [(j.owner, j.title) for j in jobs] == [
        ("guest@example.com", "boarding pass.pdf"),
        ("guest@example.com", "map.pdf"),
    ]
    time.sleep(1.0)  # no second PIN mail comes
    [pin_mail] = smtp.to("guest@example.com")
    pin = pin_in(pin_mail)
    assert dovecot.count("INBOX") == 0
    assert swipe(app, pin, kind="pin") == "released"
    printed = cups_clean.wait_printed(2)
    assert sorted(p.job_id for p in printed) == [j.id for j in jobs]
    submits = audit_rows(app, "submit")
    assert [(r["method"], r["username"], r["title"]) for r in submits] == [
        ("mail", "guest@example.com", "boarding pass.pdf"),
        ("mail", "guest@example.com", "map.pdf"),
    ]
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("releasestation")]
    assert pin not in repr(ours) and pin not in repr(audit_rows(app))
    assert dovecot.password not in repr(ours)


def test_a_directory_users_mail_is_their_own_jobs_and_brings_no_pin(
    mail_app, running, dovecot, smtp, cups_clean
):
    app = mail_app()
    add_user(app, "alice")  # alice@example.org
    running(app)
    dovecot.deliver(mail("Alice <alice@example.org>", as_pdf("minutes.pdf")))
    assert wait_for(lambda: dovecot.count("processed") == 1, timeout=10.0)
    [job] = held(app)
    assert (job.owner, job.title) == ("alice", "minutes.pdf")
    time.sleep(0.5)
    assert smtp.messages == []


def test_refused_attachments_are_named_in_the_reply_and_nothing_is_held(
    mail_app, running, dovecot, smtp, cups_clean
):
    app = mail_app(mailprint="max_mb = 0.05\n")
    running(app)
    big = ("poster.pdf", b"%PDF-1.4\n" + b"0" * 60_000, "application/pdf")
    exe = ("setup.pdf.exe", b"MZ\x90\x00" + b"\x00" * 200, "application/octet-stream")
    locked = ("salary.pdf", pdf(password="secret"), "application/pdf")
    dovecot.deliver(mail("visitor@example.com", as_pdf("fine.pdf"), exe, locked, big))
    assert wait_for(lambda: smtp.to("visitor@example.com"), timeout=10.0)
    [reply] = smtp.to("visitor@example.com")
    text = reply.text()
    assert "setup.pdf.exe: not a PDF, PNG, JPEG or PostScript document" in text
    assert "salary.pdf: the PDF is encrypted" in text
    assert "poster.pdf: larger than" in text
    assert "fine.pdf" not in text and "PIN" not in text
    assert reply.message["Auto-Submitted"] == "auto-replied"
    assert reply.message["In-Reply-To"]
    assert wait_for(lambda: dovecot.count("failed") == 1, timeout=5.0)
    assert held(app) == []
    assert [r["outcome"] for r in audit_rows(app, "submit")] == ["refused"]


def test_a_sender_not_allowed_is_told_and_an_auto_reply_is_never_answered(
    mail_app, running, dovecot, smtp, cups_clean
):
    app = mail_app()
    running(app)
    dovecot.deliver(mail("stranger@elsewhere.org", as_pdf("x.pdf")))
    dovecot.deliver(mail("away@example.com", as_pdf("y.pdf"), Auto_Submitted="auto-replied"))
    dovecot.deliver(mail("list@example.com", as_pdf("z.pdf"), List_Id="<news.example.com>"))
    dovecot.deliver(mail("bulk@example.com", as_pdf("z.pdf"), Precedence="bulk"))
    assert wait_for(lambda: dovecot.count("failed") == 4, timeout=10.0)
    time.sleep(0.5)
    assert [m.rcpt_tos for m in smtp.messages] == [["stranger@elsewhere.org"]]
    assert "may not print here" in smtp.messages[0].text()
    assert held(app) == []


def test_a_spoofed_sender_is_refused_under_require_authentication_results(
    mail_app, running, dovecot, smtp, cups_clean
):
    app = mail_app(mailprint="require_authentication_results = yes\nauthserv_id = mx.example.org\n")
    running(app)
    forged = "mx.example.org; spf=fail smtp.mailfrom=attacker.net; dkim=none"
    elsewhere = "mx.attacker.net; spf=pass smtp.mailfrom=visitor@example.com; dkim=pass header.d=example.com"  # noqa: E501
    unaligned = "mx.example.org; spf=pass smtp.mailfrom=bounce@attacker.net"
    for results in (forged, elsewhere, unaligned):
        dovecot.deliver(
            mail("visitor@example.com", as_pdf("x.pdf"), Authentication_Results=results)
        )
    assert wait_for(lambda: dovecot.count("failed") == 3, timeout=10.0)
    good = "mx.example.org; spf=pass smtp.mailfrom=visitor@example.com; dkim=none"
    dovecot.deliver(mail("visitor@example.com", as_pdf("ok.pdf"), Authentication_Results=good))
    assert wait_for(lambda: dovecot.count("processed") == 1, timeout=10.0)
    assert [j.title for j in held(app)] == ["ok.pdf"]
    assert [m.rcpt_tos for m in smtp.messages] == [["visitor@example.com"]]  # the PIN only
    assert "PIN" in smtp.messages[0].text()


def test_the_per_sender_hourly_limit(mail_app, running, dovecot, smtp, cups_clean):
    app = mail_app(mailprint="max_messages_per_hour = 2\n")
    add_user(app, "bob")
    running(app)
    for i in range(4):
        dovecot.deliver(mail("bob@example.org", as_pdf(f"{i}.pdf")))
    assert wait_for(lambda: dovecot.count("INBOX") == 0, timeout=10.0)
    assert dovecot.count("processed") == 2 and dovecot.count("failed") == 2
    assert len(held(app)) == 2
    [told] = smtp.to("bob@example.org")  # told once, not for every mail over the limit
    assert "more than 2 mails" in told.text()


def test_polling_when_the_server_offers_no_idle(
    mail_app, running, dovecot_no_idle, smtp, cups_clean
):
    app = mail_app(mailbox=dovecot_no_idle)
    service = running(app)
    assert wait_for(lambda: service.rounds == 1, timeout=5.0)
    dovecot_no_idle.deliver(mail("late@example.com", as_pdf("a.pdf")))
    assert wait_for(lambda: dovecot_no_idle.count("processed") == 1, timeout=10.0)
    assert service.rounds >= 2  # polled (every 0.5 s): no IDLE to wake it
    assert [j.title for j in held(app)] == ["a.pdf"] and smtp.to("late@example.com")


def test_idle_wakes_the_service_at_once(mail_app, running, dovecot, smtp, cups_clean):
    app = mail_app(mailprint="poll_seconds = 300\n")
    service = running(app)
    assert wait_for(lambda: service.rounds == 1, timeout=5.0)
    time.sleep(0.5)  # in IDLE now
    dovecot.deliver(mail("early@example.com", as_pdf("a.pdf")))
    assert wait_for(lambda: smtp.to("early@example.com"), timeout=5.0)
    assert service.rounds == 2


def test_without_move_a_mail_is_copied_flagged_and_expunged(
    mail_app, dovecot_no_move, smtp, cups_clean
):
    """A server without MOVE or UIDPLUS (dovecot told to offer neither): each mail is
    copied to its folder, flagged deleted and expunged, and none is lost or left behind."""
    app = mail_app(mailbox=dovecot_no_move)
    service = app.mailprint()
    with service.open_mailbox() as box:
        assert "MOVE" not in box.capabilities and "UIDPLUS" not in box.capabilities
    dovecot_no_move.deliver(mail("one@example.com", as_pdf("a.pdf")))
    dovecot_no_move.deliver(mail("stranger@elsewhere.org", as_pdf("x.pdf")))
    dovecot_no_move.deliver(mail("two@example.com", as_pdf("b.pdf")))
    assert service.run(once=True) == 0
    assert sorted(j.title for j in held(app)) == ["a.pdf", "b.pdf"]
    assert [m["From"] for m in dovecot_no_move.messages("processed")] == [
        "one@example.com", "two@example.com",
    ]  # fmt: skip
    assert [m["From"] for m in dovecot_no_move.messages("failed")] == ["stranger@elsewhere.org"]
    assert dovecot_no_move.count() == 0


def test_a_dropped_idle_connection_is_opened_again(
    mail_app, running, dovecot, smtp, cups_clean, caplog
):
    """dovecot restarted while the service waits in IDLE: the wait ends with the
    connection, the service logs it once, logs in again on its own (first try after a
    second) and takes the mail that came meanwhile."""
    caplog.set_level(logging.INFO, logger="releasestation.mailprint")
    app = mail_app(mailprint="poll_seconds = 300\n")
    service = running(app)
    assert wait_for(lambda: service.rounds == 1, timeout=5.0)
    time.sleep(0.5)  # in IDLE now
    dovecot.restart()
    dovecot.deliver(mail("after@example.com", as_pdf("a.pdf")))
    assert wait_for(lambda: dovecot.count("processed") == 1, timeout=20.0)
    assert [j.title for j in held(app)] == ["a.pdf"] and smtp.to("after@example.com")
    assert dovecot.count() == 0
    dropped = [r.getMessage() for r in caplog.records if "trying again" in r.getMessage()]
    assert len(dropped) == 1 and "IMAP server" in dropped[0], dropped
    assert "the mailbox answers again" in caplog.text
    assert PASSWORD not in caplog.text


def test_the_body_is_printed_when_asked(mail_app, dovecot, smtp, cups_clean):
    app = mail_app(mailprint="print_body = yes\n")
    add_user(app, "dora")
    dovecot.deliver(mail("dora@example.org", subject="Directions", body="Turn left.\n"))
    assert app.mailprint().run(once=True) == 0
    [job] = held(app)
    assert (job.owner, job.title) == ("dora", "Directions")


def test_a_mail_without_attachments_is_refused_when_the_body_is_not_printed(
    mail_app, dovecot, smtp, cups_clean
):
    app = mail_app()
    dovecot.deliver(mail("erin@example.com"))
    assert app.mailprint().run(once=True) == 0
    [reply] = smtp.to("erin@example.com")
    assert "no attachment to print" in reply.text()
    assert dovecot.count("failed") == 1 and held(app) == []


def test_the_imap_servers_certificate_is_checked(mail_app, dovecot, cups_clean, caplog):
    app = mail_app(mailprint=f"ca_file = {dovecot.wrong_ca_file}\n")
    dovecot.deliver(mail("fay@example.com", as_pdf("a.pdf")))
    assert app.mailprint().run(once=True) == 3
    assert "certificate not trusted" in caplog.text
    assert dovecot.count("INBOX") == 1 and held(app) == []


def test_the_mailboxs_password_is_never_logged(mail_app, dovecot, cups_clean, caplog, tmp_path):
    wrong = tmp_path / "wrong.pw"
    wrong.write_text("not-the-password-42\n")
    wrong.chmod(0o600)
    app = mail_app(mailprint=f"password_file = {wrong}\n")
    caplog.set_level(logging.DEBUG)
    assert app.mailprint().run(once=True) == 3
    assert "not-the-password-42" not in caplog.text


def test_reports_show_the_jobs_that_came_by_mail(mail_app, dovecot, smtp, cups_clean):
    from releasestation.reports import report

    app = mail_app()
    add_user(app, "gus", card="0012345678")
    dovecot.deliver(mail("gus@example.org", as_pdf("a.pdf"), as_pdf("b.pdf", 3)))
    assert app.mailprint().run(once=True) == 0
    cups_clean.submit("gus", "from a driver")
    assert swipe(app, "0012345678") == "released"
    cups_clean.wait_printed(3)
    rows = {r.key: (r.jobs, r.pages) for r in report(app.store, by="via")}
    assert rows["mail"] == (2, 4)
    assert rows["(none)"][0] == 1


def test_a_mail_too_large_to_read_is_refused_from_its_header(mail_app, dovecot, smtp, cups_clean):
    app = mail_app(mailprint="max_mb = 0.1\nmax_attachments = 1\n")  # mails up to ~1.1 MB
    blob = ("huge.pdf", b"%PDF-1.4\n" + bytes(range(256)) * 6000, "application/pdf")
    dovecot.deliver(mail("hal@example.com", blob))
    assert app.mailprint().run(once=True) == 0
    [reply] = smtp.to("hal@example.com")
    assert "the mail is larger than 1 MB" in reply.text()
    assert dovecot.count("failed") == 1 and held(app) == []


def test_starttls_on_the_plain_imap_port(mail_app, dovecot, smtp, cups_clean):
    app = mail_app(mailprint=f"starttls = yes\nport = {dovecot.starttls_port}\n")
    dovecot.deliver(mail("ida@example.com", as_pdf("a.pdf")))
    assert app.mailprint().run(once=True) == 0
    assert [j.title for j in held(app)] == ["a.pdf"]


def test_a_mail_is_left_in_the_inbox_while_cupsd_is_away(
    mail_app, dovecot, smtp, cups_clean, tmp_path
):
    away = mail_app(cups=f"server = {tmp_path}/no-cupsd.sock\ntimeout_seconds = 1\n")
    add_user(away, "jo")
    dovecot.deliver(mail("jo@example.org", as_pdf("a.pdf")))
    assert away.mailprint().run(once=True) == 1
    assert dovecot.count("INBOX") == 1 and dovecot.count("processed") == 0
    back = mail_app()
    assert back.mailprint().run(once=True) == 0
    assert [j.title for j in held(back)] == ["a.pdf"] and dovecot.count("processed") == 1


def test_the_command_checks_the_mailbox_and_takes_mail_once(
    mail_app, dovecot, smtp, cups_clean, tmp_path, capsys
):
    from releasestation.cli import main

    app = mail_app()
    path = tmp_path / "mailprint.ini"
    path.write_text(app.config.show().replace("********", ""))  # no secret is inline here
    dovecot.deliver(mail("kim@example.com", as_pdf("a.pdf")))
    assert main(["-c", str(path), "mailprint", "--check"]) == 0
    assert "1 mail(s) in INBOX; IDLE" in capsys.readouterr().out
    assert main(["-c", str(path), "mailprint", "--once"]) == 0
    assert [j.title for j in held(app)] == ["a.pdf"] and smtp.to("kim@example.com")
    bad = tmp_path / "bad.ini"
    bad.write_text(path.read_text().replace(f"port = {dovecot.port}", "port = 1"))
    assert main(["-c", str(bad), "mailprint", "--check"]) == 3


def test_the_ledger_counts_a_senders_hour_and_forgets_old_mails(make_app):
    import datetime as dt

    from releasestation.mailprint.ledger import HOLDING, Ledger

    app = make_app()
    now = [dt.datetime(2026, 1, 1, tzinfo=dt.UTC)]
    ledger = Ledger(app.store, clock=lambda: now[0])
    ledger.begin("k1", "a@example.com", "a@example.com")
    ledger.add_job("k1", 7)
    ledger.add_job("k1", 9)
    ledger.refused("k2", "a@example.com", "no")
    taken = ledger.find("k1")
    assert taken is not None and (taken.state, taken.jobs) == (HOLDING, (7, 9))
    assert ledger.sent_this_hour("a@example.com") == 2
    now[0] += dt.timedelta(hours=2)
    assert ledger.sent_this_hour("a@example.com") == 0
    assert ledger.forget_old() == 0
    now[0] += dt.timedelta(days=31)
    assert ledger.forget_old() == 2 and ledger.find("k1") is None


def test_a_mail_that_trips_a_bug_is_put_aside_and_the_next_is_taken(
    mail_app, dovecot, smtp, cups_clean, monkeypatch, caplog
):
    from releasestation.mailprint import message as mail_module

    real = mail_module.attachments_of

    def tripping(message):
        if "poison" in str(message["Subject"]):
            raise RuntimeError("a bug")
        return real(message)

    monkeypatch.setattr(mail_module, "attachments_of", tripping)
    app = mail_app()
    add_user(app, "lu")
    dovecot.deliver(mail("lu@example.org", as_pdf("p.pdf"), subject="poison"))
    dovecot.deliver(mail("lu@example.org", as_pdf("fine.pdf")))
    assert app.mailprint().run(once=True) == 0
    assert [j.title for j in held(app)] == ["fine.pdf"]
    assert dovecot.count("failed") == 1 and dovecot.count("processed") == 1
    assert "RuntimeError: a bug" in caplog.text and smtp.messages == []


def test_two_stations_on_one_mailbox_take_each_mail_once(
    mail_app, running, dovecot, smtp, cups_clean
):
    north, south = mail_app(station="name = north\n"), mail_app(station="name = south\n")
    add_user(north, "max")
    for i in range(6):
        dovecot.deliver(mail("max@example.org", as_pdf(f"{i}.pdf")))
    running(north), running(south)
    assert wait_for(lambda: dovecot.count("processed") == 6, timeout=20.0)
    assert sorted(j.title for j in held(north)) == [f"{i}.pdf" for i in range(6)]
    assert dovecot.count("INBOX") == 0 and dovecot.count("failed") == 0


def taken_by_north(app, dovecot, title: str, at: dt.datetime, and_held: bool = False) -> None:
    """Deliver nia's mail of one PDF `title` that station north began taking at `at` (and,
    with `and_held`, held then, not yet moved)."""
    message = mail("nia@example.org", as_pdf(title))
    key = mail_module.key_of(message, "nia@example.org", b"")
    north = Ledger(app.store, holder="north", clock=lambda: at)
    north.begin(key, "nia@example.org", "nia")
    if and_held:
        north.held(key)
    dovecot.deliver(message)


def test_a_mail_another_station_is_taking_is_left_to_it_unless_it_died(
    mail_app, dovecot, smtp, cups_clean
):
    app = mail_app(station="name = south\n")
    add_user(app, "nia")
    now = dt.datetime.now(dt.UTC)
    for title, began in (("busy.pdf", now), ("orphan.pdf", now - dt.timedelta(minutes=10))):
        taken_by_north(app, dovecot, title, began)
    assert app.mailprint().run(once=True) == 0
    assert [j.title for j in held(app)] == ["orphan.pdf"], "north died holding it: taken over"
    assert dovecot.count("INBOX") == 1, "north is still at the other one"
    assert dovecot.count("processed") == 1


def test_a_mail_another_station_held_a_moment_ago_is_left_to_it_to_move(
    mail_app, dovecot, smtp, cups_clean
):
    """Proves a station leaves the moving of a mail another station has just held to that
    station (two IMAP sessions moving one message at once can both copy it: the mail twice
    in the processed folder), and moves one held a while ago (that station died between
    holding it and moving it) without holding anything again. Fails on a mail moved by
    both, or a dead station's mail left in the inbox."""
    app = mail_app(station="name = south\n")
    add_user(app, "nia")
    now = dt.datetime.now(dt.UTC)
    for title, at in (("fresh.pdf", now), ("stranded.pdf", now - dt.timedelta(minutes=2))):
        taken_by_north(app, dovecot, title, at, and_held=True)
    assert app.mailprint().run(once=True) == 0
    assert held(app) == [], "held by north: never held again"
    assert dovecot.count("INBOX") == 1, "north is moving the fresh one"
    assert dovecot.count("processed") == 1, "the stranded one, moved by south"
