# SPDX-License-Identifier: GPL-3.0-or-later
"""A year of a busy site — a million audit rows — is reported on in seconds on SQLite, and
the figures agree with a plain count. (bench/report_bench.py prints the same figures for a
hash-chained trail.)"""

from __future__ import annotations

import sqlite3
import time

import pytest

from releasestation import reports
from releasestation.store import Store

ROWS = 1_000_000
LIMIT = 10.0  # seconds per report; about 1.5 s on a small machine

# 1,000,000 rows 31 s apart (a year): 85 % releases, 10 % denials, 5 % expiries; 2,000
# users in 60 cost centers, 40 printers, 40 stations. Stored as SQLAlchemy stores times.
GENERATE = f"""
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {ROWS - 1})
INSERT INTO audit (at, station, event, outcome, method, username, reader, queue, printer,
                   job_id, title, pages, detail, cost_center, prev_hash, row_hash)
SELECT strftime('%Y-%m-%d %H:%M:%S', '2025-01-01', '+' || (i * 31) || ' seconds') || '.000000',
       'st' || (i % 40),
       CASE WHEN i % 20 = 0 THEN 'expire' WHEN i % 10 = 5 THEN 'deny' ELSE 'release' END,
       CASE WHEN i % 10 = 5 THEN 'unknown' ELSE 'ok' END,
       'card', 'user' || (i % 2000), 'door', 'Secure', 'P' || (i % 40),
       i, 'document', i % 7 + 1, NULL, 'CC-' || (i % 2000 % 60), '', ''
FROM n
"""


@pytest.fixture(scope="module")
def big_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("report-speed") / "audit.db"
    store = Store(f"sqlite:///{path}")
    store.upgrade()
    with sqlite3.connect(path) as db:  # indexes made after the rows: a faster bulk load
        indexes = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'"
                             " AND tbl_name = 'audit' AND sql IS NOT NULL").fetchall()  # fmt: skip
        for name, _ in indexes:
            db.execute(f"DROP INDEX {name}")
        db.execute(GENERATE)
        for _, sql in indexes:
            db.execute(sql)
    yield store
    store.close()


def timed(call):
    began = time.perf_counter()
    result = call()
    return result, time.perf_counter() - began


@pytest.mark.parametrize("by", ["user", "printer"])  # cost-center below; station as these
def test_a_million_rows_by_month(big_store, by):
    rows, seconds = timed(lambda: reports.report(big_store, by, "month"))
    assert seconds < LIMIT, f"report --by {by}: {seconds:.1f} s"
    assert sum(r.jobs for r in rows) == 850_000
    assert sum(r.expired for r in rows) == 50_000
    assert sum(r.denials for r in rows) == 100_000
    assert len({r.period for r in rows}) == 12


def test_cost_centers_agree_with_a_plain_count(big_store):
    rows, seconds = timed(lambda: reports.report(big_store, "cost-center", "week"))
    assert seconds < LIMIT
    per_center: dict[str, list[int]] = {}
    for row in rows:
        jobs_pages = per_center.setdefault(row.key, [0, 0])
        jobs_pages[0] += row.jobs
        jobs_pages[1] += row.pages
    with big_store.engine.connect() as conn:
        plain = conn.exec_driver_sql(
            "SELECT cost_center, count(*), sum(pages) FROM audit"
            " WHERE event = 'release' AND outcome = 'ok' GROUP BY cost_center"
        ).all()
    assert {c: [n, p] for c, n, p in plain} == {c: v for c, v in per_center.items() if v[0]}
    assert len(per_center) == 60 and len(plain) == 51  # 9 centers only expire or are denied


def test_one_day_of_a_year_is_quick(big_store):
    import datetime as dt

    day = dt.date(2025, 6, 2)
    rows, seconds = timed(lambda: reports.report(big_store, "user", "day", day, day))
    assert seconds < 1.0
    assert {r.period for r in rows} == {"2025-06-02"}
    assert sum(r.jobs + r.expired + r.denials for r in rows) in range(2780, 2790)
