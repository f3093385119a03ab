# SPDX-License-Identifier: GPL-3.0-or-later
"""Expiry of old held jobs on the real cupsd, with the clock moved instead of waiting."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time

from releasestation.audit import Audit
from releasestation.cli import main
from releasestation.store.models import utcnow
from tests.fixtures.cupsd import pjl_document
from tests.fixtures.station import add_user, audit_rows, station_ini


def hours_ahead(hours: float):
    return lambda: utcnow() + dt.timedelta(hours=hours)


def test_a_job_nine_hours_old_is_gone_with_an_audit_row(make_app, cups_clean):
    app = make_app()
    add_user(app, "alice", cost_center="CC-3")
    mine = cups_clean.submit("alice", "old report")
    anon = cups_clean.submit("anonymous", "scan", pjl_document("bob"), queue="Secure2")
    assert app.expirer(hours_ahead(7.9)).run() == []
    would = app.expirer(hours_ahead(9)).run(dry_run=True)
    assert [(e.job.id, e.owner, e.outcome) for e in would] == [
        (mine, "alice", "would expire"),
        (anon, "bob", "would expire"),
    ]
    assert len(app.printq.held_jobs(["Secure", "Secure2"])) == 2
    done = app.expirer(hours_ahead(9)).run()
    assert [(e.job.id, e.outcome) for e in done] == [(mine, "expired"), (anon, "expired")]
    assert app.printq.held_jobs(["Secure", "Secure2"]) == []
    assert app.printq.job(mine) is None, "cancelled and purged"
    assert cups_clean.printed() == []
    rows = audit_rows(app, "expire")
    got = [(r["job_id"], r["username"], r["queue"], r["title"], r["cost_center"]) for r in rows]
    assert got == [(mine, "alice", "Secure", "old report", "CC-3"),
                   (anon, "bob", "Secure2", "scan", None)]  # fmt: skip
    assert rows[0]["detail"].startswith("held 9.0 h (limit 8 h)")
    assert rows[1]["detail"].endswith("; cupsd owner anonymous")
    assert app.expirer(hours_ahead(9)).run() == []


def test_titles_stay_out_when_privacy_says_so(make_app, cups_clean):
    app = make_app(audit="keep_titles = no\n")
    app.__dict__["audit"] = Audit(app.store, "lobby", keep_titles=app.config.audit.keep_titles)
    cups_clean.submit("alice", "divorce papers")
    app.expirer(hours_ahead(9)).run()
    [row] = audit_rows(app, "expire")
    assert row["title"] is None and row["username"] == "alice"


def test_hold_hours_zero_keeps_jobs(make_app, cups_clean):
    app = make_app(station="hold_hours = 0\n")
    cups_clean.submit("alice", "keep me")
    assert app.expirer(hours_ahead(1000)).run() == []


def test_several_stations_on_one_queue_expire_each_job_once(make_app, cups_clean):
    north, south = make_app(station="name = north\n"), make_app(station="name = south\n")
    jobs = cups_clean.submit_many([(f"user{i}", f"doc {i}") for i in range(8)])
    start = threading.Barrier(2)
    results: dict[str, list] = {}

    def expire(app):
        start.wait()
        results[app.config.station.name] = app.expirer(hours_ahead(9)).run()

    threads = [threading.Thread(target=expire, args=(a,)) for a in (north, south)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    expired = [e.job.id for r in results.values() for e in r if e.outcome == "expired"]
    assert sorted(expired) == jobs
    rows = audit_rows(north, "expire")
    assert sorted(r["job_id"] for r in rows) == jobs, "one audit row per job"
    assert {r["station"] for r in rows} <= {"north", "south"}


def test_housekeeping_expires_on_its_round(make_app, cups_clean):
    app = make_app()
    job = cups_clean.submit("alice", "forgotten")
    chores = app.housekeeping(clock=hours_ahead(10), interval=3600)
    chores.start()  # settles claims, then its first round at once
    try:
        deadline = time.monotonic() + 10
        while app.printq.held_jobs(["Secure"]) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        chores.stop()
    assert [r["job_id"] for r in audit_rows(app, "expire")] == [job]


def test_expire_command(make_app, cups_clean, db_url, tmp_path, capsys):
    ini = tmp_path / "station.ini"
    ini.write_text(station_ini(db_url, tmp_path, cups_clean, station="hold_hours = 0.0001\n"))
    make_app()  # migrates the database
    job = cups_clean.submit("alice", "brief")
    time.sleep(1.1)  # older than 0.36 s by cupsd's whole-second clock
    assert main(["-c", str(ini), "expire", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert re.search(rf"^{job} +alice +Secure .*would expire +brief$", out, re.M)
    assert [j.id for j in make_app().printq.held_jobs(["Secure"])] == [job]
    assert main(["-c", str(ini), "expire"]) == 0
    assert "expired" in capsys.readouterr().out
    assert make_app().printq.held_jobs(["Secure"]) == []
