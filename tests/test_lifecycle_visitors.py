# SPDX-License-Identifier: GPL-3.0-or-later
"""Visitors on arrival: a job printed with `lp` as an unknown e-mail address brings its owner
a PIN by mail (a real SMTP server) within seconds, and that PIN prints the job."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator

import pytest

from releasestation.lifecycle.watcher import MAX_BACKOFF, JobWatcher
from releasestation.printq.watch import NewJobs
from tests.fixtures.cupsd import lp, pjl_document
from tests.fixtures.station import add_user, audit_rows, swipe
from tests.waiting import wait_for

VISITORS = r"[^@\s]+@example\.com"
STATION_LOGGERS = ("releasestation", "credgen", "readers")  # not the test SMTP server's


@pytest.fixture
def visitor_app(make_app, smtp):
    def make(station: str = "", **credgen: str):
        lines = f"allowed_usernames = {VISITORS}\n{smtp.ini()}min_seconds_between_runs = 300\n"
        lines += "".join(f"{k} = {v}\n" for k, v in credgen.items())
        return make_app(credgen=lines, station=station)

    return make


@pytest.fixture
def watching() -> Iterator:
    watchers: list[JobWatcher] = []

    def start(app) -> JobWatcher:
        watcher = app.job_watcher(interval=0.2)
        watchers.append(watcher)
        watcher.start()
        return watcher

    yield start
    for watcher in watchers:
        watcher.stop()


def pin_in(message) -> str:
    found = re.search(r"PIN: (\d+)", message.text())
    assert found, message.text()
    return found.group(1)


def test_a_visitors_job_brings_a_pin_within_five_seconds_and_the_pin_prints_it(
    visitor_app, watching, cups_clean, smtp, tmp_path, caplog
):
    caplog.set_level(logging.DEBUG)
    app = visitor_app()
    watching(app)
    began = time.monotonic()
    job = lp(cups_clean, "visitor@example.com", "boarding pass", b"%!PS\nshowpage\n", tmp_path)
    assert wait_for(lambda: smtp.to("visitor@example.com"), timeout=5.0), "no PIN within 5 s"
    elapsed = time.monotonic() - began
    [mail] = smtp.to("visitor@example.com")
    assert elapsed < 5.0
    pin = pin_in(mail)
    assert swipe(app, pin, kind="pin") == "released"
    [printed] = cups_clean.wait_printed(1)
    assert (printed.job_id, printed.user) == (job, "visitor@example.com")
    ours = [r.getMessage() for r in caplog.records if r.name.split(".")[0] in STATION_LOGGERS]
    assert ours and pin not in repr(ours) and pin not in repr(audit_rows(app))


def test_many_attachments_one_pin(visitor_app, watching, cups_clean, smtp):
    app = visitor_app(pin_rewrite="Always")
    watching(app)
    jobs = cups_clean.submit_many([("guest2@example.com", f"attachment {i}") for i in range(4)])
    assert wait_for(lambda: smtp.to("guest2@example.com"), timeout=5.0)
    more = cups_clean.submit("guest2@example.com", "one more")  # a later poll, still one mail
    time.sleep(1.0)
    assert len(smtp.to("guest2@example.com")) == 1
    pin = pin_in(smtp.to("guest2@example.com")[0])
    assert swipe(app, pin, kind="pin") == "released"
    assert sorted(p.job_id for p in cups_clean.wait_printed(5)) == [*jobs, more]


def test_an_anonymous_job_naming_a_visitor_in_pjl(visitor_app, watching, cups_clean, smtp):
    app = visitor_app()
    watching(app)
    cups_clean.submit("anonymous", "ticket", pjl_document("Guest3@Example.com"))
    assert wait_for(lambda: smtp.to("guest3@example.com"), timeout=5.0)


def test_only_unknown_allowed_names_become_visitors(visitor_app, watching, cups_clean, smtp):
    app = visitor_app()
    add_user(app, "staff@example.com")  # a known local user: credgen batch serves them
    watching(app)
    for owner in ("stranger@example.org", "staff@example.com", "anonymous", "bob"):
        cups_clean.submit(owner, "x")
    seen = wait_for(lambda: len(app.printq.held_jobs(["Secure"])) == 4, 5)
    time.sleep(1.0)  # several polls
    assert seen and smtp.messages == []


def test_visitors_on_arrival_can_be_turned_off(visitor_app, watching, cups_clean, smtp):
    app = visitor_app(station="visitors_on_arrival = no\n")
    watching(app)
    cups_clean.submit("late@example.com", "x")
    time.sleep(1.0)
    assert smtp.messages == []


def test_an_empty_allowed_usernames_makes_nobody_a_visitor(make_app, watching, cups_clean, smtp):
    app = make_app(credgen=smtp.ini())
    watching(app)
    cups_clean.submit("walkin@example.com", "x")
    time.sleep(1.0)
    assert smtp.messages == []


def test_the_stations_metrics_count_what_visitors_were_issued(visitor_app, make_app, refusing_smtp):
    from releasestation.daemon import build_station

    app = visitor_app()
    registry = build_station(app, readers=[], services=[]).metrics.registry
    result = app.visitors.arrived("carol@example.com")
    assert result is not None and result.status == "issued"
    issued = registry.get_sample_value("releasestation_credentials_issued_total", {"kind": "pin"})
    assert issued == 1
    assert registry.get_sample_value("releasestation_credential_issuing_failed_total") == 0
    # A mail server that refuses the recipient: no credentials, counted as a failure.
    lines = f"allowed_usernames = {VISITORS}\n{refusing_smtp.ini()}"
    refused = make_app(credgen=lines)
    registry = build_station(refused, readers=[], services=[]).metrics.registry
    failed = refused.visitors.arrived("dave@example.com")
    assert failed is not None and failed.status == "failed"
    assert registry.get_sample_value("releasestation_credential_issuing_failed_total") == 1
    assert registry.get_sample_value(
        "releasestation_credentials_issued_total", {"kind": "pin"}
    ) in (
        None,
        0,
    )


def test_the_watcher_backs_off_while_cupsd_fails_its_polls(make_app, tmp_path):
    """Each failed poll would list every held job again: with cupsd away the watcher asks
    less and less often, up to a minute apart (its steps driven here one by one)."""
    app = make_app(cups=f"server = {tmp_path}/no-cupsd.sock\ntimeout_seconds = 1\n")
    watcher = app.job_watcher(interval=1.0)
    watcher._jobs = NewJobs(app.printq, app.config.station.hold_queues)
    delays = [watcher.run_once() for _ in range(12)]
    assert watcher.failures == 12 and watcher.problem
    assert delays[0] >= 1.0 and max(delays) > 10 * delays[0], delays
    assert max(delays) <= MAX_BACKOFF * 1.25, "capped (with jitter)"
