# SPDX-License-Identifier: GPL-3.0-or-later
"""`run`, `demo`, `check` and `config`: running the station and checking its set-up."""

from __future__ import annotations

import argparse
import itertools
import logging
import time
from pathlib import Path

from releasestation import sdnotify, secret
from releasestation.cli import FAILED, OK, set_log_levels
from releasestation.cli.common import load_app
from releasestation.errors import ReleaseStationError, StoreError
from releasestation.printq.checks import Unverified
from releasestation.store.site import recorded_fingerprint

log = logging.getLogger(__name__)


def register(sub) -> None:
    p = sub.add_parser("run", help="run the station daemon")
    p.set_defaults(handler=cmd_run)
    p = sub.add_parser("demo", help="a self-contained demo: private cupsd, two users, a swipe")
    p.add_argument("--keep", action="store_true", help="keep serving after the demo swipe")
    p.set_defaults(handler=cmd_demo)
    p = sub.add_parser("check", help="check config, cupsd, policy, directory and database")
    p.set_defaults(handler=cmd_check)
    p = sub.add_parser(
        "status",
        help="one screen: readers (from the running daemon), printers, held jobs, peers, audit",
    )
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the daemon")
    p.add_argument("--daemon", metavar="URL", help="the daemon's monitoring URL (from listen)")
    p.set_defaults(handler=cmd_status)
    p = sub.add_parser("config", help="show the config as read, secrets masked")
    p.set_defaults(handler=lambda a: print(load_app(a).config.show()) or OK)


# Waiting for the database at start-up: the first retry after this long, doubling up to
# DATABASE_RETRY_MAX. Exiting instead would let systemd's start limit (5 starts in 10 s)
# give up on the station for good during an outage longer than a few seconds.
DATABASE_RETRY_FIRST = 1.0
DATABASE_RETRY_MAX = 30.0


def cmd_run(args: argparse.Namespace) -> int:
    from releasestation.daemon import run

    app = load_app(args, daemon=True)
    try:
        problem = wait_for_database(app.store)
        if problem:
            raise ReleaseStationError(problem)
        return run(app)
    finally:
        app.close()


def wait_for_database(store, sleep=time.sleep) -> str | None:
    """The store's migration problem, once the database answers: while it cannot be
    reached, say so (and in systemd's STATUS) and try again, waiting longer each time."""
    delay = DATABASE_RETRY_FIRST
    while True:
        try:
            return store.migration_problem()
        except StoreError as exc:
            log.error("%s; the station starts once it answers (next try in %.0f s)", exc, delay)
            sdnotify.notify(f"STATUS=waiting for the database: {exc}")
        sleep(delay)
        delay = min(delay * 2, DATABASE_RETRY_MAX)


def cmd_demo(args: argparse.Namespace) -> int:
    from releasestation.demo import run_demo

    set_log_levels(args.verbose, logging.INFO)  # the demo shows the station's own log
    return run_demo(keep=args.keep)


def cmd_status(args: argparse.Namespace) -> int:
    """Exit code 0 all good, 1 something is wrong, 3 the daemon or a peer is unreachable."""
    from releasestation.monitoring.status import gather

    app = load_app(args)
    try:
        problem = app.store.migration_problem()
    except StoreError:
        problem = None  # the report says the store cannot be reached
    if problem:  # its tables are missing: the report could only fail on them
        print(f"station {app.config.station.name}\nFAIL  database: {problem}")
        return FAILED
    report = gather(app, timeout=args.timeout, daemon=args.daemon)
    print("\n".join(report.lines))
    return report.code


def checks(app) -> list[tuple[str, list[str]]]:
    """(what was checked, problems) for every part of the station."""
    station = app.config.station
    results: list[tuple[str, list[str]]] = [(f"config {app.config.path}", [])]
    results.append(("database", _try(lambda: [p for p in [app.store.migration_problem()] if p])))
    results.append(_secret_check(app, station.secret_file))
    results.append(
        (
            "cupsd, hold queues and policy",
            _try(
                lambda: app.printq.check(
                    station.hold_queues, printer=station.printer, owners=_some_owners(app)
                )
            ),
        )
    )
    if station.printer:
        results.append(
            (
                f"printer {station.printer}",
                _try(lambda: [p for p in [app.printq.printer_problem(station.printer)] if p]),
            )
        )
    directory = f"directory ({app.config.directory.type})"
    results.append((directory, _try(lambda: app.directory.check())))
    for name, settings in app.config.readers.items():
        state = "enabled" if settings.enabled else "disabled"
        results.append((f"reader {name} ({settings.type}, {state})", []))
    return results


def cmd_check(args: argparse.Namespace) -> int:
    app = load_app(args)
    failed = False
    try:
        for what, problems in checks(app):
            failing = [p for p in problems if not isinstance(p, Unverified)]
            print(f"{'FAIL' if failing else 'warn' if problems else 'ok  '}  {what}")
            for problem in problems:
                print(f"        {problem}")
            failed = failed or bool(failing)
    finally:
        app.close()
    return FAILED if failed else OK


def _secret_check(app, path: str) -> tuple[str, list[str]]:
    """("secret file …", problems): the file's mode, and that it is the site's secret, the
    one whose fingerprint (secret.fingerprint, as backups record it) the shared database
    holds; the label shows the fingerprint's start, to compare stations by eye."""
    problems = _try(lambda: _secret_problems(app, path))
    label = f"secret file {path}"
    if problems or not Path(path).exists():
        return label, problems
    try:
        recorded = recorded_fingerprint(app.store)
    except ReleaseStationError as exc:
        return label, [str(exc)]
    if recorded is None:
        return (
            f"{label} (none recorded for the site yet: the first station to run records its own)",
            [],
        )
    return f"{label} (fingerprint {recorded[:12]}…, the site's)", []


def _secret_problems(app, path: str) -> list[str]:
    where = Path(path)
    recorded = recorded_fingerprint(app.store)
    if not where.exists():
        if recorded:
            return [f"{where} is missing, and this database was set up with a secret: copy it"]
        return []  # created 0600 on first use
    problem = secret.check_mode(where)
    if problem:
        return [problem]
    app.hasher  # noqa: B018 - loading it checks it against the database's fingerprint
    return []


def _some_owners(app, count: int = 5) -> list[str]:
    """A few directory users: the CUPS check says whether this machine's NSS knows them."""
    try:
        return [user.username for user in itertools.islice(app.directory.iter_users(), count)]
    except ReleaseStationError:
        return []  # the directory's own check says why


def _try(check) -> list[str]:
    try:
        return list(check())
    except ReleaseStationError as exc:
        return [str(exc)]
