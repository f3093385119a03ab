# SPDX-License-Identifier: GPL-3.0-or-later
"""Time the billing reports (and `audit verify`) over a generated year of a busy site.

    .venv/bin/python bench/report_bench.py [--rows 1000000] [--url sqlite:///...] [--keep]

Generates a hash-chained audit trail (releases, expiries, denials, credentials) spread over
365 days, 2,000 users in 60 cost centers, 40 printers and stations, then prints the seconds
each report takes. Without --url it uses a fresh SQLite file in a temporary directory.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from releasestation import reports
from releasestation.audit import AUDIT, GENESIS, row_hash, verify
from releasestation.store import Store

BATCH = 20_000
START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def generate(store: Store, rows: int, seed: int = 5) -> float:
    """Append `rows` chained audit rows; returns the seconds it took."""
    rnd = random.Random(seed)
    users = [(f"user{i:04d}", f"CC-{i % 60:02d}") for i in range(2000)]
    step = 365 * 86400 / rows
    prev, began, batch = GENESIS, time.perf_counter(), []
    for n in range(rows):
        values = _row(rnd, users, START + dt.timedelta(seconds=n * step), n)
        digest = row_hash(prev, values)
        batch.append({**values, "prev_hash": prev, "row_hash": digest})
        prev = digest
        if len(batch) == BATCH:
            _flush(store, batch)
    _flush(store, batch)
    return time.perf_counter() - began


def _row(rnd: random.Random, users, at: dt.datetime, n: int) -> dict:
    username, cost_center = rnd.choice(users)
    printer, roll = f"printer{rnd.randrange(40):02d}", rnd.random()
    row = {
        "at": at, "station": f"station{rnd.randrange(40):02d}", "event": "release",
        "outcome": "ok", "method": rnd.choice(("card", "card", "pin")), "username": username,
        "reader": "door", "queue": "Secure", "printer": printer, "job_id": n,
        "title": f"document {n}.pdf", "pages": rnd.randint(1, 30), "detail": None,
        "cost_center": cost_center,
    }  # fmt: skip
    if roll < 0.05:
        row.update(event="expire", printer=None, method=None, reader=None, detail="held 8.1 h")
    elif roll < 0.15:
        row.update(event="deny", outcome="unknown", job_id=None, title=None, pages=None)
        row.update(username=None, printer=None, cost_center=None, detail="unknown card")
    elif roll < 0.17:
        row.update(event="credential", outcome="issued", job_id=None, title=None, pages=None)
    return row


def _flush(store: Store, batch: list[dict]) -> None:
    if batch:
        with store.write() as session:
            session.execute(insert(AUDIT), batch)
        batch.clear()


def timed(what: str, call) -> object:
    began = time.perf_counter()
    result = call()
    print(f"  {what:<44} {time.perf_counter() - began:7.2f} s")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--url", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary database")
    args = parser.parse_args(argv)
    workdir = tempfile.mkdtemp(prefix="rs-report-bench-")
    url = args.url or f"sqlite:///{workdir}/bench.db"
    store = Store(url)
    store.upgrade()
    print(f"generating {args.rows:,} audit rows in {url} ...")
    print(f"  {'generate + hash-chain':<44} {generate(store, args.rows):7.2f} s")
    for by in reports.BY:
        rows = timed(f"report --by {by} --period month", lambda b=by: reports.report(store, b))
        print(f"    {len(rows)} rows")  # type: ignore[arg-type]
    timed(
        "report --by cost-center --period day", lambda: reports.report(store, "cost-center", "day")
    )
    timed("report --by user --period week", lambda: reports.report(store, "user", "week"))
    march = (dt.date(2025, 3, 1), dt.date(2025, 3, 31))
    timed(
        "report --by user --from/--to one month",
        lambda: reports.report(store, "user", "month", *march),
    )
    checked = timed("audit verify", lambda: verify(store))
    print(f"    {checked}")
    store.close()
    if not args.keep and not args.url:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
