# SPDX-License-Identifier: GPL-3.0-or-later
"""`[web] notify_by_mail`: a job sent from the portal and printed gets its user one mail,
on the real cupsd, store and SMTP server; other jobs and old endings get none."""

from __future__ import annotations

import datetime as dt
import io
import time

from releasestation.audit import PRINTED, Event
from releasestation.lifecycle import pages
from releasestation.store.models import utcnow
from releasestation.web.notify import GRACE, JobMails
from tests.fixtures.station import audit_rows
from tests.fixtures.web import pdf, token_of


def mails_of(station) -> JobMails:
    app = station.app
    return JobMails(app.store, app.audit, app.directory, app.config.credgen)


def test_a_job_sent_from_the_web_and_printed_is_mailed_once(portal, cups_clean, smtp):
    station = portal(web="notify_by_mail = yes\n", credgen=smtp.ini())
    mails = mails_of(station)
    client = station.login("alice")
    token = token_of(client)
    sent = client.post(
        "/upload", data={"document": (io.BytesIO(pdf(3)), "Minutes.pdf"), "csrf_token": token},
        headers={"Accept": "application/json"},
    ).get_json()  # fmt: skip
    other = cups_clean.submit("alice", "From-a-driver")
    for job in (sent["id"], other):
        answer = client.post(f"/api/v1/jobs/{job}/release", headers={"X-CSRFToken": token})
        assert answer.status_code == 200
    cups_clean.wait_printed(2)
    app = station.app
    deadline = time.monotonic() + 15
    while len(audit_rows(app, PRINTED)) < 2 and time.monotonic() < deadline:
        pages.record(app.printq, app.store, app.audit, utcnow())  # as housekeeping does
        time.sleep(0.2)
    assert mails.step() == 1
    [mail] = smtp.to("alice@example.org")
    assert f"job {sent['id']}" in mail.text() and "has printed" in mail.text()
    assert mails.step() == 0, "one mail per job"
    [row] = audit_rows(app, "notify")
    assert (row["job_id"], row["outcome"], row["method"]) == (sent["id"], "sent", "web")
    assert len(smtp.messages) == 1, "the driver's job gets no mail"


def test_endings_from_before_the_portal_started_are_not_mailed(portal, smtp):
    station = portal(web="notify_by_mail = yes\n", credgen=smtp.ini())
    mails = mails_of(station)
    audit = station.app.audit
    old = utcnow() - GRACE - dt.timedelta(minutes=5)
    for job, at, ending in ((901, old, "completed"), (902, utcnow(), "aborted")):
        audit.record(Event("submit", method="web", username="bob", job_id=job, at=at))
        audit.record(Event(PRINTED, ending, username="bob", job_id=job, queue="Secure", at=at))
    assert mails.step() == 1
    [mail] = smtp.to("bob@example.org")
    assert "job 902" in mail.text() and "failed" in mail.message["Subject"]


def test_a_user_without_an_address_is_recorded_not_mailed(portal, smtp):
    station = portal(web="notify_by_mail = yes\n", credgen=smtp.ini())
    with station.app.store.write() as session:
        from releasestation.store import users as store_users

        store_users.find_user(session, "carol").email = ""
    audit = station.app.audit
    audit.record(Event("submit", method="web", username="carol", job_id=903))
    audit.record(Event(PRINTED, "completed", username="carol", job_id=903, queue="Secure"))
    assert mails_of(station).step() == 0
    assert [r["outcome"] for r in audit_rows(station.app, "notify")] == ["no-address"]
    assert smtp.messages == []
