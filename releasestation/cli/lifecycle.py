# SPDX-License-Identifier: GPL-3.0-or-later
"""`expire`, `audit verify`, `audit purge` and `report`: the held-job lifecycle and the trail."""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from releasestation import reports
from releasestation.cli import FAILED, OK, USAGE
from releasestation.cli.common import load_app, table


def register(sub) -> None:
    p = sub.add_parser("expire", help="cancel held jobs older than [station] hold_hours")
    p.add_argument("--dry-run", action="store_true", help="only show what would be expired")
    p.set_defaults(handler=cmd_expire)

    audit = sub.add_parser("audit", help="the audit trail").add_subparsers(
        dest="action", required=True
    )
    p = audit.add_parser("verify", help="check the hash chain; name the first bad row")
    p.set_defaults(handler=cmd_audit_verify)
    p = audit.add_parser("purge", help="anonymise or purge rows older than [audit] retain_days")
    p.add_argument("--dry-run", action="store_true", help="only count the rows")
    p.set_defaults(handler=cmd_audit_purge)

    p = sub.add_parser("report", help="jobs, pages, expiries and denials for billing and audit")
    p.add_argument("--by", choices=reports.BY, default="user")
    p.add_argument("--period", choices=reports.PERIODS, default="month")
    p.add_argument("--from", dest="start", type=_date, help="first day, YYYY-MM-DD (UTC)")
    p.add_argument("--to", dest="end", type=_date, help="last day, YYYY-MM-DD (UTC)")
    p.add_argument("--format", choices=reports.FORMATS, default="table")
    p.set_defaults(handler=cmd_report)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def cmd_expire(args: argparse.Namespace) -> int:
    app = load_app(args)
    try:
        results = app.expirer().run(dry_run=args.dry_run)
    finally:
        app.close()
    rows = [
        (r.job.id, r.owner, r.job.queue, f"{r.age_hours:.1f} h", r.outcome, r.job.title)
        for r in results
    ]
    hours = app.config.station.hold_hours
    if not rows:
        print(f"no held job is older than {hours:g} h" if hours else "hold_hours = 0: none")
        return OK
    print(table(rows, ("job", "owner", "queue", "age", "outcome", "title")))
    return FAILED if any(r.outcome == "failed" for r in results) else OK


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from releasestation.audit import verify

    app = load_app(args)
    try:
        checked, bad, why = verify(app.store)
    finally:
        app.close()
    if bad is None:
        print(f"audit trail intact: {checked} row(s) checked")
        return OK
    print(f"audit trail BROKEN at row {bad}: {why} ({checked} row(s) before it are intact)")
    return FAILED


def cmd_audit_purge(args: argparse.Namespace) -> int:
    from releasestation.lifecycle import retention
    from releasestation.store.models import utcnow

    app = load_app(args)
    try:
        result = retention.apply(
            app.store, app.audit, app.config.audit, utcnow(), dry_run=args.dry_run
        )
    finally:
        app.close()
    print(result.summary())
    return OK


def cmd_report(args: argparse.Namespace) -> int:
    if args.start and args.end and args.start > args.end:
        print("releasestation report: --from is after --to", file=sys.stderr)
        return USAGE
    app = load_app(args)
    try:
        rows = reports.report(app.store, args.by, args.period, args.start, args.end)
    finally:
        app.close()
    print(reports.render(rows, args.format, args.by), end="")
    return OK
