# SPDX-License-Identifier: GPL-3.0-or-later
"""Pages that came out as a second source for billing: the capture backend tells the real
cupsd the pages it printed, the station reads them once the job is done and appends a
"printed" audit row, and the report counts them beside the pages sent."""

from __future__ import annotations

import datetime as dt
import time

from releasestation import reports
from releasestation.audit import PRINTED, Event, verify
from releasestation.demo.capture_backend import pages_of
from releasestation.lifecycle import pages
from releasestation.store.models import utcnow
from tests.fixtures.station import add_user, audit_rows, swipe

PDF3 = b"%PDF-1.4\n1 0 obj << /Type /Pages /Count 3 >>\n" + b"<< /Type /Page >>\n" * 3


def test_the_capture_backend_counts_pages():
    assert pages_of(PDF3) == 3
    assert pages_of(b"%!PS-Adobe-3.0\n%%Pages: 4\n") == 4
    assert pages_of(b"hello") == 1


def test_cupsd_reports_the_pages_the_backend_printed(cups_clean, print_server):
    job = cups_clean.submit("alice", "three pages", PDF3)
    print_server.release(print_server.job(job))
    cups_clean.wait_printed(1)
    finished = _wait_finished(print_server, [job])
    assert [(f.id, f.state, f.pages) for f in finished] == [(job, "completed", 3)]


def _wait_finished(server, ids, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = server.finished_jobs(ids)
        if len(found) == len(ids):
            return found
        time.sleep(0.05)
    return server.finished_jobs(ids)


def test_pages_printed_are_recorded_once_and_reported_beside_pages_sent(make_app, cups_clean):
    app = make_app()
    add_user(app, "alice", card="1001", cost_center="CC-A")
    cups_clean.submit("alice", "three pages", PDF3)
    cups_clean.submit("alice", "one page")
    swipe(app, "1001")
    assert len(cups_clean.wait_printed(2)) == 2
    released = {r["job_id"]: r for r in audit_rows(app, "release") if r["job_id"]}

    deadline = time.monotonic() + 10
    while len(audit_rows(app, PRINTED)) < 2 and time.monotonic() < deadline:
        app.housekeeping().step()  # the chore of every round
        time.sleep(0.05)
    printed = audit_rows(app, PRINTED)
    assert sorted((r["job_id"], r["pages"], r["outcome"]) for r in printed) == sorted(
        zip(released, (3, 1), ("completed", "completed"), strict=True)
    )
    assert {(r["username"], r["cost_center"], r["queue"]) for r in printed} == {
        ("alice", "CC-A", released[printed[0]["job_id"]]["queue"])
    }
    assert pages.record(app.printq, app.store, app.audit, utcnow()) == 0  # once only
    assert verify(app.store)[1] is None  # appended, the chain intact

    (row,) = reports.report(app.store, "cost-center", "month")
    sent = sum(r["pages"] or 0 for r in released.values())
    assert (row.key, row.jobs, row.pages, row.printed) == ("CC-A", 2, sent, 4)
    assert "printed" in reports.render([row]).splitlines()[0]


def test_only_jobs_released_in_the_last_day_are_asked_about(make_app, cups_clean):
    app = make_app()
    app.audit.record(Event("release", username="old", job_id=999_999, at=utcnow()))
    later = utcnow() + pages.WINDOW + dt.timedelta(minutes=1)
    assert pages.unprinted(app.store, app.audit.station, later - pages.WINDOW) == []
    assert [r.job_id for r in pages.unprinted(app.store, "lobby", utcnow() - pages.WINDOW)] == [
        999_999
    ]
    assert pages.record(app.printq, app.store, app.audit, utcnow()) == 0  # cupsd never had it
