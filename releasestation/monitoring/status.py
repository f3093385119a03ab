# SPDX-License-Identifier: GPL-3.0-or-later
"""`releasestation status`: one screen for a person, and an exit code for scripts.

The readers live in the running daemon, not in this process: status reads them from the
daemon's own /metrics and /readyz?verbose on `[monitoring] listen` (what a monitoring
system sees, so the two never disagree). The rest it checks itself: cupsd and its
printers, held jobs (one whole-queue listing per hold queue), the store, the directory,
the audit chain (a full verification), the last backup and the last `credgen batch` (a
row of the store). The last expiry run is the daemon's housekeeping's (its /metrics);
without a daemon to ask, the last expired job.
Exit code: 0 all good, 1 something is wrong, 3 the daemon or a peer cannot be reached.
"""

from __future__ import annotations

import datetime as dt
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from releasestation.errors import ReleaseStationError

if TYPE_CHECKING:
    from releasestation.app import App
    from releasestation.monitoring.probe import Snapshot

OK, WRONG, UNREACHABLE = 0, 1, 3


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    wrong: bool = False
    unreachable: bool = False

    def add(self, line: str, wrong: bool = False, unreachable: bool = False) -> None:
        mark = "FAIL" if (wrong or unreachable) else "ok  "
        self.lines.append(f"{mark}  {line}")
        self.wrong = self.wrong or wrong
        self.unreachable = self.unreachable or unreachable

    def section(self, title: str) -> None:
        self.lines.append(f"\n{title}")

    @property
    def code(self) -> int:
        return UNREACHABLE if self.unreachable else WRONG if self.wrong else OK


def daemon_url(listen: str) -> str:
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}"


def _get(url: str, timeout: float) -> str:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 - our own
            return str(answer.read().decode())
    except urllib.error.HTTPError as exc:  # /readyz answers 503 with its reasons
        return str(exc.read().decode())


def when(epoch: float | None) -> str:
    if not epoch:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def gather(app: App, timeout: float = 5.0, daemon: str | None = None) -> Report:
    """The report; `daemon`: the daemon's monitoring URL (default: from `listen`)."""
    report = Report()
    config = app.config
    report.lines.append(f"station {config.station.name}")
    kept = _readers(report, daemon or config.monitoring.listen, timeout)
    snap = app.probe.snapshot(fresh=True)
    report.section("peers")
    for part in snap.parts:
        detail = "answers" if part.ok else part.detail
        report.add(f"{part.name}: {detail}", unreachable=not part.ok)
    report.section("printers")
    if not snap.cupsd.ok:
        report.add("not known: cupsd cannot be reached (above)", unreachable=True)
    for p in snap.printers:
        extra = f" - {p.message}" if p.message else ""
        report.add(f"{p.name}: {p.state_name}, {p.problem or 'ok'}{extra}", wrong=bool(p.problem))
    for job in snap.stuck:
        minutes = (snap.at - job.started) / 60
        report.add(f"job {job.id} on {job.queue}: processing for {minutes:.0f} min", wrong=True)
    if snap.cupsd.ok:
        report.section("held jobs")
        try:
            jobs = app.printq.held_jobs(config.station.hold_queues)
            for queue in config.station.hold_queues:
                mine = [j for j in jobs if j.queue.casefold() == queue.casefold()]
                oldest = min((j.created for j in mine), default=None)
                report.add(f"{queue}: {len(mine)} held, oldest {when(oldest)}")
        except ReleaseStationError as exc:
            report.add(f"held jobs: {exc}", unreachable=True)
    if snap.store.ok:
        _store(report, app, kept.get("releasestation_expiry_last_run_timestamp_seconds"))
        _mailprint(report, app, snap)
    return report


def _mailprint(report: Report, app: App, snap: Snapshot) -> None:
    """What mailprint last recorded for this station, when `[mailprint]` is set up."""
    if app.probe.mailprint is None:
        return
    report.section("mail to print")
    beat = snap.mailprint
    if beat is None:
        report.add("mailprint: nothing recorded for this station (it runs elsewhere, or not yet)")
        return
    problem = snap.mailprint_problem
    answered = f"; the mailbox last answered {when(beat.answered)}"
    report.add(f"mailprint ({beat.mode}): {problem or 'ok'}{answered}", wrong=bool(problem))


def _readers(report: Report, listen: str, timeout: float) -> dict[str, float]:
    """Report the daemon's readers; its unlabelled samples ({} when it cannot be asked)."""
    report.section("readers (from the running daemon)")
    if not listen:
        report.add("[monitoring] listen is empty: the daemon's readers cannot be asked", True)
        return {}
    base = listen.rstrip("/") if listen.startswith("http") else daemon_url(listen)
    try:
        metrics = _get(base + "/metrics", timeout)
        verbose = _get(base + "/readyz?verbose", timeout)
    except (OSError, ValueError) as exc:
        report.add(f"daemon at {base} not reachable: {exc}", unreachable=True)
        return {}
    connected: dict[str, float] = {}
    last: dict[str, float] = {}
    plain: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if not sample.labels:
                plain[sample.name] = sample.value
            if sample.name == "releasestation_reader_connected":
                connected[sample.labels["reader"]] = sample.value
            elif sample.name == "releasestation_reader_last_event_timestamp_seconds":
                last[sample.labels["reader"]] = sample.value
    states = {}
    for line in verbose.splitlines():
        if line.startswith("reader "):
            name, _, state = line[len("reader ") :].partition(": ")
            states[name] = state
    if not connected:
        report.add("the daemon has no readers", wrong=True)
    for name, up in sorted(connected.items()):
        state = states.get(name, "")
        shown = "connected" if up else f"NOT connected, {state}"
        report.add(f"{name}: {shown}; last card read {when(last.get(name))}", wrong=not up)
    return plain


def _store(report: Report, app: App, expiry_run: float | None) -> None:
    from releasestation.audit import verify

    report.section("records")
    if expiry_run is not None:
        report.add(f"last expiry run: {when(expiry_run)}")
    try:
        with app.store.read() as session:
            sql = "SELECT max(at) FROM audit WHERE event = 'expire' AND outcome = 'ok'"
            expired = session.execute(text(sql)).scalar()
        report.add(f"last job expired: {expired or 'none yet'}")
        checked, bad, why = verify(app.store)
        if bad is None:
            report.add(f"audit chain: intact ({checked} rows checked)")
        else:
            report.add(f"audit chain: BROKEN at row {bad}: {why}", wrong=True)
    except ReleaseStationError as exc:
        report.add(f"store: {exc}", unreachable=True)
    backup = _last_backup(app)
    if backup is not None:
        report.add(f"last backup: {backup}")
    _batch_run(report, app)


def _batch_run(report: Report, app: App) -> None:
    from releasestation.credentials.batch_runs import last_batch_run

    run = last_batch_run(app.store)
    if run is None:
        report.add("last credgen batch: none recorded")
        return
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(run.issued.items()) if n)
    line = f"last credgen batch: {when(run.at)}, issued {kinds or 'nothing'}"
    line += f", {run.failed} users failed" if run.failed else ""
    line += ", stopped early" if run.aborted else ""
    report.add(line, wrong=not run.ok)


def _last_backup(app: App) -> str | None:
    """The last successful backup as `releasestation backup` records it, if it does."""
    settings = getattr(app.config, "backup", None)
    if settings is None:
        return None
    try:
        from releasestation.backup.rotation import last_success
    except ImportError:
        return None
    try:
        at: dt.datetime | None = last_success(settings.state_file)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return at.isoformat(timespec="seconds") if at else "none recorded"
