# SPDX-License-Identifier: GPL-3.0-or-later
"""Billing and audit reports: what was released through the real cupsd is what the report
counts, under the cost center of the moment; periods, ranges, keys and formats."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest

from releasestation import reports
from releasestation.app import App
from releasestation.audit import Audit, Event
from releasestation.cli import main
from releasestation.store import users as store_users
from releasestation.store.models import utcnow
from tests.fixtures.station import add_user, audit_rows, station_ini, swipe


def set_cost_center(app: App, username: str, center: str) -> None:
    with app.store.write() as session:
        store_users.find_user(session, username).cost_center = center


def test_report_by_cost_center_matches_the_jobs_released(
    make_app, cups_clean, db_url, tmp_path, capsys
):
    app = make_app()
    add_user(app, "alice", card="1001", cost_center="CC-A")
    add_user(app, "bob", card="1002", cost_center="CC-B")
    add_user(app, "carol", card="1003")  # no cost center
    cups_clean.submit_many([("alice", "a1"), ("alice", "a2"), ("bob", "b1"), ("carol", "c1")])
    for card in ("1001", "1002", "1003", "9999"):  # 9999: an unknown card, a denial
        swipe(app, card)
    set_cost_center(app, "alice", "CC-B")  # she moved: later jobs are billed to CC-B
    cups_clean.submit("alice", "a3")
    swipe(app, "1001")
    cups_clean.submit("bob", "forgotten")
    app.expirer(lambda: utcnow() + dt.timedelta(hours=9)).run()
    assert len(cups_clean.wait_printed(5)) == 5

    rows = reports.report(app.store, "cost-center", "month")
    got = {r.key: (r.jobs, r.expired, r.denials) for r in rows}
    assert got == {"(none)": (1, 0, 1), "CC-A": (2, 0, 0), "CC-B": (2, 1, 0)}
    released = [r for r in audit_rows(app, "release") if r["outcome"] == "ok" and r["job_id"]]
    assert sum(r.jobs for r in rows) == len(released) == 5

    ini = tmp_path / "station.ini"
    ini.write_text(station_ini(db_url, tmp_path, cups_clean))
    args = ["-c", str(ini), "report", "--by", "cost-center", "--format", "csv"]
    assert main(args) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {r["cost-center"]: int(r["jobs"]) for r in table} == {"(none)": 1, "CC-A": 2, "CC-B": 2}
    assert main(["-c", str(ini), "report", "--by", "user", "--period", "day"]) == 0
    out = capsys.readouterr().out
    assert "alice" in out and out.splitlines()[-1].split()[:3] == ["total", "5", "0"]


def seed(store) -> None:
    """Rows at known times: releases with pages, an expiry, denials, a credential."""
    audit = Audit(store, "north")
    at = dt.datetime(2026, 3, 30, 23, 59, tzinfo=dt.UTC)  # Monday of ISO week 14
    audit.record(
        Event("release", method="card", username="ann", printer="P1", job_id=1, pages=3,
              at=at, cost_center="CC-1"),
        Event("release", method="pin", username="ann", printer="P2", job_id=2, pages=4,
              at=at + dt.timedelta(minutes=2), cost_center="CC-1"),  # 31 March
        Event("release", outcome="failed", username="ann", printer="P1", job_id=3, pages=9,
              at=at + dt.timedelta(minutes=3), cost_center="CC-1"),
        Event("release", outcome="no-jobs", username="ann", at=at + dt.timedelta(minutes=4)),
        Event("expire", username="ben", queue="Secure", job_id=4, pages=2,
              at=at + dt.timedelta(days=7), cost_center="CC-2"),
        Event("deny", outcome="unknown", detail="unknown card", at=at + dt.timedelta(days=8)),
        Event("deny", outcome="printer-error", username="ben", at=at + dt.timedelta(days=8)),
        Event("credential", outcome="issued", username="ben", at=at + dt.timedelta(days=8)),
    )  # fmt: skip
    Audit(store, "south").record(
        Event("release", username="cy", printer="P1", job_id=5, pages=None,
              at=at + dt.timedelta(days=40)),
    )  # fmt: skip


def test_periods_keys_and_ranges(store):
    seed(store)
    rows = reports.report(store, "user", "day")
    assert [(r.period, r.key, r.jobs, r.pages, r.expired, r.denials) for r in rows] == [
        ("2026-03-30", "ann", 1, 3, 0, 0),
        ("2026-03-31", "ann", 1, 4, 0, 0),
        ("2026-04-06", "ben", 0, 0, 1, 0),
        ("2026-04-07", "(none)", 0, 0, 0, 1),
        ("2026-04-07", "ben", 0, 0, 0, 1),
        ("2026-05-09", "cy", 1, 0, 0, 0),
    ]
    weeks = reports.report(store, "user", "week")
    assert [(r.period, r.key) for r in weeks][:3] == [
        ("2026-W14", "ann"),
        ("2026-W15", "(none)"),
        ("2026-W15", "ben"),
    ]
    printers = reports.report(store, "printer", "month")
    assert [(r.period, r.key, r.jobs, r.expired) for r in printers] == [
        ("2026-03", "P1", 1, 0),
        ("2026-03", "P2", 1, 0),
        ("2026-04", "(none)", 0, 0),  # the denials
        ("2026-04", "Secure", 0, 1),  # an expired job counts under its hold queue
        ("2026-05", "P1", 1, 0),
    ]
    stations = reports.report(store, "station", "month")
    assert {(r.period, r.key): r.jobs for r in stations} == {
        ("2026-03", "north"): 2,
        ("2026-04", "north"): 0,  # the expiry and the denials
        ("2026-05", "south"): 1,
    }
    april = reports.report(store, "cost-center", "month", dt.date(2026, 3, 31), dt.date(2026, 4, 6))
    assert [(r.key, r.jobs, r.expired) for r in april] == [("CC-1", 1, 0), ("CC-2", 0, 1)]


def test_formats(store):
    seed(store)
    rows = reports.report(store, "cost-center", "month")
    data = json.loads(reports.render(rows, "json", "cost-center"))
    assert data[0] == {"period": "2026-03", "key": "CC-1", "jobs": 2, "pages": 7, "printed": 0,
                       "expired": 0, "denials": 0}  # fmt: skip
    text = reports.render(rows, "table", "cost-center")
    lines = text.splitlines()
    assert lines[0].split() == [
        "period",
        "cost-center",
        "jobs",
        "pages",
        "printed",
        "expired",
        "denials",
    ]
    assert lines[-1].split() == ["total", "3", "7", "0", "1", "2"]
    with pytest.raises(ValueError):
        reports.report(store, "colour", "month")


def test_report_command_checks_its_dates(tmp_path, capsys):
    ini = tmp_path / "s.ini"
    ini.write_text(f"[station]\nhold_queues = S\n[database]\nurl = sqlite:///{tmp_path}/x.db\n")
    assert main(["-c", str(ini), "report", "--from", "2026-02-01", "--to", "2026-01-01"]) == 2
    assert "--from is after --to" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["-c", str(ini), "report", "--from", "yesterday"])
