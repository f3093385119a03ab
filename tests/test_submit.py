# SPDX-License-Identifier: GPL-3.0-or-later
"""Submitting checked documents as held jobs, against the real private cupsd: the owner,
the title, the options, the bytes that come out on release, the audit row."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest

from releasestation.directory import User
from releasestation.errors import PrintServerError
from releasestation.printq import HELD
from releasestation.printq.submission import document_name, job_name
from releasestation.submit import PrintOptions, Submitter, check_document
from tests.fixtures.station import audit_rows
from tests.fixtures.web import pdf


def options_of(cups, job_id: int) -> str:
    """The options the capture backend was given for `job_id` (argv[5])."""
    meta = json.loads((cups.captures / f"{job_id}.json").read_text("utf-8"))
    return str(meta["options"])


# -- names ----------------------------------------------------------------------------------


def test_a_job_name_has_no_control_characters_and_fits_ipp():
    assert job_name("Report\r\n<script>alert(1)</script>\x00\x1b[2J\x7f") == (
        "Report <script>alert(1)</script>[2J"
    )
    assert job_name("a\u202egnp.exe\u2028b\u0085c\ue000") == "agnp.exe b c"
    assert job_name("  \t\n ") == "document"
    long = job_name("ü" * 200)  # 400 bytes of UTF-8
    assert long == "ü" * 127 and len(long.encode()) == 254
    assert document_name("My  Report\t2024.pdf") == "My_Report_2024.pdf"
    assert document_name("a\u00a0b\u3000c") == "a_b_c"


# -- PrintServer.submit_held ----------------------------------------------------------------


def test_a_submitted_job_is_held_owned_by_the_user_and_prints_the_same_bytes(
    cups_clean, print_server
):
    data = pdf(pages=2)
    job_id = print_server.submit_held("Secure", "alice", "Q3 report.pdf", data, "application/pdf")
    job = print_server.job(job_id)
    assert job is not None
    assert (job.owner, job.title, job.queue, job.state) == (
        "alice",
        "Q3 report.pdf",
        "Secure",
        HELD,
    )
    assert print_server.document_names([job_id]) == {job_id: "Q3_report.pdf"}
    print_server.release(job)
    (printed,) = cups_clean.wait_printed(1)
    assert (printed.job_id, printed.user, printed.data) == (job_id, "alice", data)


def test_the_owner_is_the_user_even_after_the_station_has_authenticated(cups_clean, print_server):
    """The station's own writes authenticate (PeerCred); a submission never does."""
    first = print_server.submit_held(
        "Secure", "bob", "one", b"%!PS\nshowpage\n", "application/postscript"
    )
    print_server.release(print_server.job(first))
    cups_clean.wait_printed(1)
    second = print_server.submit_held("Secure", "carol", "two", b"%!PS\n", "application/postscript")
    assert print_server.job(second).owner == "carol"
    assert print_server.held_jobs_for(["Secure"], ["carol"])[0].id == second


def test_a_document_is_streamed_from_a_file(cups_clean, print_server, tmp_path):
    data = b"%!PS\n" + os.urandom(6 * 1024 * 1024)
    path = tmp_path / "big.ps"
    path.write_bytes(data)
    with path.open("rb") as document:
        job_id = print_server.submit_held(
            "Secure", "dave", "big", document, "application/postscript"
        )
    job = print_server.job(job_id)
    assert job.size_kb == (len(data) + 1023) // 1024
    print_server.release(job)
    (printed,) = cups_clean.wait_printed(1)
    assert printed.data == data


def test_options_are_sent_only_when_given(cups_clean, print_server):
    plain = print_server.submit_held("Secure", "erin", "plain", b"%!PS\n", "application/postscript")
    chosen = print_server.submit_held(
        "Secure", "erin", "chosen", b"%!PS\n", "application/postscript",
        copies=3, sides="two-sided-long-edge", color="monochrome",
    )  # fmt: skip
    for job in print_server.held_jobs_for(["Secure"], ["erin"]):
        print_server.release(job)
    done = {c.job_id: c for c in cups_clean.wait_printed(2)}
    assert (done[plain].copies, done[chosen].copies) == (1, 3)
    assert "sides" not in options_of(cups_clean, plain)
    assert "print-color-mode" not in options_of(cups_clean, plain)
    assert "sides=two-sided-long-edge" in options_of(cups_clean, chosen)
    assert "print-color-mode=monochrome" in options_of(cups_clean, chosen)


def test_a_submission_cupsd_refuses_names_the_queue(cups_clean, print_server):
    with pytest.raises(PrintServerError, match="to NoSuchQueue"):
        print_server.submit_held("NoSuchQueue", "alice", "t", b"%!PS\n", "application/postscript")
    with pytest.raises(PrintServerError, match=r"to Secure: .*sides"):
        print_server.submit_held(
            "Secure", "alice", "t", b"%!PS\n", "application/postscript", sides="both"
        )
    with pytest.raises(PrintServerError, match="owner name"):
        print_server.submit_held("Secure", "al\nice", "t", b"%!PS\n", "application/postscript")
    assert print_server.held_jobs(["Secure"]) == []


# -- Submitter ------------------------------------------------------------------------------


def test_the_submitter_holds_the_job_for_the_user_and_audits_it(make_app, cups_clean):
    app = make_app()
    alice = User("alice", email="alice@example.org")
    document = check_document(pdf(pages=3), "C:\\Users\\alice\\Minutes.pdf")
    job_id = app.submitter.submit(alice, document, via="web")
    (job,) = app.releaser.held_jobs_for("alice")  # what alice's next swipe finds
    assert (job.id, job.owner, job.title, job.queue) == (job_id, "alice", "Minutes.pdf", "Secure")
    (row,) = audit_rows(app, "submit")
    assert (row["method"], row["outcome"], row["username"], row["job_id"]) == (
        "web",
        "ok",
        "alice",
        job_id,
    )
    assert (row["queue"], row["title"], row["pages"], row["detail"]) == (
        "Secure",
        "Minutes.pdf",
        3,
        "application/pdf",
    )
    outcome = app.releaser.release_user_jobs(alice, "web")
    assert [j.id for j in outcome.released] == [job_id]
    (printed,) = cups_clean.wait_printed(1)
    assert printed.data == document.data


def test_a_title_with_markup_and_line_breaks_is_stored_without_control_characters(
    make_app, cups_clean
):
    """Whoever set the title (the file name's folders are cut off by check_document; a
    mail's subject may become one): the submission cleans it."""
    app = make_app()
    checked = check_document(pdf(), "/tmp/upload/report.pdf")
    assert checked.title == "report.pdf"
    title = "<script>alert('x')</script>\r\nInjected: yes\x1b.pdf"
    document = dataclasses.replace(checked, title=title)
    job_id = app.submitter.submit(User("frank"), document, via="mail", options=PrintOptions(2))
    job = app.printq.job(job_id)
    assert job.title == "<script>alert('x')</script> Injected: yes.pdf"
    assert not any(ord(c) < 32 or ord(c) == 127 for c in job.title)
    assert (
        app.printq.document_names([job_id])[job_id]
        == "<script>alert('x')</script>_Injected:_yes.pdf"
    )
    (row,) = audit_rows(app, "submit")
    assert (row["method"], row["title"]) == ("mail", job.title)


def test_a_refused_submission_is_audited_and_raised(make_app, cups_clean):
    app = make_app(station="hold_queues = Gone, Secure\n")
    with pytest.raises(PrintServerError, match="Gone"):
        app.submitter.submit(User("gina"), check_document(pdf(), "a.pdf"), via="web")
    (row,) = audit_rows(app, "submit")
    assert (row["outcome"], row["queue"], row["job_id"]) == ("failed", "Gone", None)
    assert "Gone" in row["detail"]


def test_print_options_are_checked():
    for bad in ({"copies": 0}, {"copies": 1000}, {"copies": True}, {"sides": "both"},
                {"color": "sepia"}):  # fmt: skip
        with pytest.raises(ValueError):
            PrintOptions(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="via"):
        Submitter(None, None, None).submit(User("x"), None, via="fax")  # type: ignore[arg-type]
