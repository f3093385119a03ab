# SPDX-License-Identifier: GPL-3.0-or-later
"""The held-job lifecycle as the daemon runs it.

Every test here talks to the real private cupsd (`cups_clean`) and a real store (SQLite and
PostgreSQL through `db_url`).
"""

from __future__ import annotations

from releasestation.daemon import build_services
from releasestation.lifecycle.housekeeping import Housekeeping
from releasestation.lifecycle.watcher import JobWatcher
from releasestation.printq.index import HeldIndex
from tests.fixtures.cupsd import lp, pjl_document
from tests.fixtures.station import add_user, audit_rows, swipe
from tests.waiting import wait_for

# -- the daemon's hook ------------------------------------------------------------------------


def test_the_daemon_runs_the_index_housekeeping_and_the_watcher(make_app):
    built = build_services(make_app())
    assert [type(s) for s in built] == [HeldIndex, Housekeeping, JobWatcher]


def test_a_lp_job_arrives_resolved_and_released_by_card(make_app, cups_clean, tmp_path):
    app = make_app()
    add_user(app, "alice", card="10203040", cost_center="CC-7")
    watcher = app.job_watcher(interval=0.1)
    seen: list[tuple[int, str | None]] = []
    watcher.listeners.append(lambda job, owner: seen.append((job.id, owner)))
    watcher.start()
    try:
        job = lp(cups_clean, "anonymous", "scan", pjl_document("CORP\\Alice"), tmp_path)
        # CORP is not a known domain: the name is kept whole, and is not alice's
        assert wait_for(lambda: seen, 5) == [(job, "corp\\alice")]
        job2 = lp(cups_clean, "guest", "memo", pjl_document("alice"), tmp_path)
        assert wait_for(lambda: len(seen) == 2, 5)
    finally:
        watcher.stop()
    assert seen[1] == (job2, "alice")
    assert swipe(app, "10203040") == "released"
    printed = cups_clean.wait_printed(1)
    assert [p.job_id for p in printed] == [job2]
    [row] = audit_rows(app, "release")
    assert (row["username"], row["job_id"], row["cost_center"]) == ("alice", job2, "CC-7")
    assert [j.id for j in app.printq.held_jobs(["Secure"])] == [job]


def test_settings_reach_the_services(make_app):
    app = make_app(station="hold_hours = 2\nexpire_every_seconds = 60\n")
    _, housekeeping, watcher = build_services(app)
    assert housekeeping.interval == 60 and housekeeping.expirer.hours == 2  # type: ignore[attr-defined]
    assert watcher.interval == 0.2  # type: ignore[attr-defined]
