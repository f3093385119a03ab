# SPDX-License-Identifier: GPL-3.0-or-later
"""Billing and audit reports from the audit trail: jobs and pages released, jobs expired and
denials, per user, cost center, printer or station, per day, ISO week or month (UTC).

One grouped query does the work in the database, so a year of a busy site (a million rows)
is answered in seconds on SQLite (bench/report_bench.py). Billing uses the cost center
recorded on each row, i.e. the one the user had when the job was released or expired.
A released job is a "release" row with outcome ok and a job id; `pages` are the pages sent
(those counted when the job was released; unknown pages count as 0). `printed` are the pages
that came out, from the "printed" rows housekeeping appends once cupsd has finished a job
(releasestation.lifecycle.pages): bill these. The two differ when a job was canceled or
jammed, printed more copies than counted, or has not finished yet. Expired jobs count under
their owner and their hold queue; denials under the user when one was identified. By "via",
jobs count under the way they came to the station: "web" or "mail" (the method of the
job's "submit" row), "(none)" for jobs printed from a driver.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import sqlalchemy as sa
from sqlalchemy import and_, case, func, select

from releasestation.audit import AUDIT, PRINTED
from releasestation.store import Store

BY = ("user", "cost-center", "printer", "station", "via")
PERIODS = ("day", "week", "month")
FORMATS = ("table", "csv", "json")
NONE = "(none)"
HEADERS = ("period", "key", "jobs", "pages", "printed", "expired", "denials")


@dataclass(frozen=True)
class ReportRow:
    period: str  # 2026-11-21 | 2026-W47 | 2026-11
    key: str
    jobs: int
    pages: int  # sent
    printed: int  # came out, as cupsd counted them
    expired: int
    denials: int


def _key(by: str) -> sa.ColumnElement:
    c = AUDIT.c
    if by == "via":
        return _via(c.job_id)
    return {
        "user": c.username,
        "cost-center": c.cost_center,
        "printer": func.coalesce(c.printer, c.queue),  # an expired job has only its queue
        "station": c.station,
    }[by]


def _via(job_id: sa.ColumnElement) -> sa.ColumnElement:
    """How a job came: the method of its "submit" row ("web", "mail"), NULL (shown as
    "(none)") for a job printed from a driver. One look-up by job id (indexed) per row."""
    submitted = AUDIT.alias("submitted")
    s = submitted.c
    found = select(s.method).where(s.event == "submit", s.outcome == "ok", s.job_id == job_id)
    return found.order_by(s.id.desc()).limit(1).scalar_subquery()


def _period(period: str, sqlite: bool) -> sa.ColumnElement:
    """The first day of the row's period as text YYYY-MM-DD (UTC)."""
    at = AUDIT.c.at
    if sqlite:  # stored as "YYYY-MM-DD HH:MM:SS.ffffff" in UTC
        day = func.substr(at, 1, 10)
        if period == "day":
            return day
        if period == "week":
            return func.date(day, "weekday 0", "-6 days")
        return func.substr(at, 1, 7) + "-01"
    trunc = func.date_trunc(period, func.timezone("UTC", at))
    return func.to_char(trunc, "YYYY-MM-DD")


def _label(first_day: str, period: str) -> str:
    day = dt.date.fromisoformat(first_day)
    if period == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return first_day[:7] if period == "month" else first_day


def _released() -> sa.ColumnElement[bool]:
    c = AUDIT.c
    return and_(c.event == "release", c.outcome == "ok", c.job_id.is_not(None))


def build_query(
    by: str, period: str, start: dt.datetime | None, end: dt.datetime | None, sqlite: bool
) -> sa.Select:
    c = AUDIT.c
    bucket, key = _period(period, sqlite).label("bucket"), _key(by).label("key")
    released = _released()
    query = select(
        bucket,
        key,
        func.sum(case((released, 1), else_=0)),
        func.sum(case((released, func.coalesce(c.pages, 0)), else_=0)),
        func.sum(case((c.event == PRINTED, func.coalesce(c.pages, 0)), else_=0)),
        func.sum(case((and_(c.event == "expire", c.outcome == "ok"), 1), else_=0)),
        func.sum(case((c.event == "deny", 1), else_=0)),
    ).where(c.event.in_(("release", PRINTED, "expire", "deny")))
    if start is not None:
        query = query.where(c.at >= start)
    if end is not None:
        query = query.where(c.at < end)
    return query.group_by(bucket, key).order_by(bucket, key)


def report(
    store: Store,
    by: str = "user",
    period: str = "month",
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> list[ReportRow]:
    """Rows per period and key, from `start` to `end` (whole UTC days, both included)."""
    if by not in BY or period not in PERIODS:
        raise ValueError(f"by must be one of {BY} and period one of {PERIODS}")
    since = _midnight(start) if start else None
    until = _midnight(end) + dt.timedelta(days=1) if end else None
    query = build_query(by, period, since, until, store.is_sqlite)
    with store.read() as session:
        found = session.execute(query).all()
    rows = [
        ReportRow(_label(b, period), k if k is not None else NONE, *map(int, counts))
        for b, k, *counts in found
        if any(counts)  # e.g. only swipes that found no jobs
    ]
    return sorted(rows, key=lambda r: (r.period, r.key))  # NULLs sort differently per DB


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def totals(rows: Sequence[ReportRow]) -> ReportRow:
    return ReportRow(
        "total",
        "",
        sum(r.jobs for r in rows),
        sum(r.pages for r in rows),
        sum(r.printed for r in rows),
        sum(r.expired for r in rows),
        sum(r.denials for r in rows),
    )


def render(rows: Sequence[ReportRow], fmt: str = "table", by: str = "user") -> str:
    """The rows as an aligned table (with totals), CSV or JSON."""
    headers = (HEADERS[0], by, *HEADERS[2:])
    if fmt == "json":
        return json.dumps([asdict(r) for r in rows], indent=2)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(headers)
        writer.writerows(_cells(r) for r in rows)
        return out.getvalue()
    if fmt != "table":
        raise ValueError(f"format must be one of {FORMATS}")
    cells = [headers, *(_cells(r) for r in rows), _cells(totals(rows))]
    widths = [max(len(str(row[i])) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(_align(v, w, i) for i, (v, w) in enumerate(zip(row, widths, strict=True)))
             for row in cells]  # fmt: skip
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.insert(len(lines) - 1, lines[1])
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _cells(row: ReportRow) -> tuple:
    return (row.period, row.key, row.jobs, row.pages, row.printed, row.expired, row.denials)


def _align(value: object, width: int, column: int) -> str:
    return str(value).rjust(width) if column >= 2 else str(value).ljust(width)
