# SPDX-License-Identifier: GPL-3.0-or-later
"""Alert mails: a condition that lasts `alert_after_seconds` is mailed once to `alert_to`,
and once more when it is over; never a storm.

Conditions: a reader not connected, a printer stopped, in error or not accepting jobs,
cupsd, the store or the directory not answering, a job processing longer than
`stuck_after_seconds`, mailprint's mailbox not answering or mailprint not heard from.
Each is tracked by its own key (`reader lobby`, `cupsd`, `job 42`, `mailprint`).
A condition that comes back within `alert_every_seconds` of its last mail is not mailed
again (nor its recovery): a flapping part sends one mail an hour, not one a minute. The
conditions that changed in one round go in one mail. The mail goes through the `[credgen]`
SMTP settings (releasestation.credentials.mail); one that cannot be sent is tried again on
the next round. Off unless `[monitoring] alert_to` is set.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from releasestation.credentials.mail import Mailer, MailError, message
from releasestation.service import BackgroundService

if TYPE_CHECKING:
    from readers import Reader
    from releasestation.credentials.settings import CredgenSettings
    from releasestation.monitoring.metrics import StationMetrics
    from releasestation.monitoring.probe import Probe
    from releasestation.monitoring.settings import MonitoringSettings


@dataclass
class _Condition:
    since: float  # monotonic time it was first seen
    what: str
    mailed: bool = False


def conditions(probe: Probe, readers: Sequence[Reader]) -> dict[str, str]:
    """What is wrong now: {key: one line}."""
    snap = probe.snapshot()
    found = {}
    for part in snap.parts:
        if not part.ok:
            found[part.name] = f"{part.name} does not answer: {part.detail}"
    for printer in snap.printers:
        if printer.problem:
            found[f"printer {printer.name}"] = f"printer {printer.name}: {printer.problem}"
    for job in snap.stuck:
        minutes = (snap.at - job.started) / 60
        found[f"job {job.id}"] = f"job {job.id} on {job.queue} processing for {minutes:.0f} min"
    for reader in readers:
        if reader.health.state != "ok":
            detail = reader.health.detail or reader.health.state
            found[f"reader {reader.name}"] = f"reader {reader.name} not connected: {detail}"
    if snap.mailprint_problem:
        found["mailprint"] = f"mail to print: {snap.mailprint_problem}"
    return found


class Alerter(BackgroundService):
    """Looks every `check_every_seconds`; mails what started or ended (see the module)."""

    def __init__(
        self,
        station: str,
        probe: Probe,
        readers: Sequence[Reader],
        settings: MonitoringSettings,
        mail: CredgenSettings,
        metrics: StationMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        super().__init__("alerts", "alerts", settings.check_every_seconds)
        self.station = station
        self.probe = probe
        self.readers = readers
        self.settings = settings
        self.mail = mail
        self.metrics = metrics
        self.clock = clock
        self.open: dict[str, _Condition] = {}
        self.last_mail: dict[str, float] = {}  # key: monotonic time of its last mail
        self.sent = 0

    def step(self) -> None:
        now = self.clock()
        found = conditions(self.probe, self.readers)
        started, ended = [], []
        for key, what in found.items():
            cond = self.open.setdefault(key, _Condition(now, what))
            cond.what = what
            due = not cond.mailed and now - cond.since >= self.settings.alert_after_seconds
            if due and self._may_mail(key, now):
                started.append(key)
        for key in [k for k in self.open if k not in found]:
            cond = self.open.pop(key)
            if cond.mailed:
                ended.append((key, cond))
        if started or ended:
            self._send(started, ended, now)

    def _may_mail(self, key: str, now: float) -> bool:
        last = self.last_mail.get(key)
        return last is None or now - last >= self.settings.alert_every_seconds

    def _send(self, started: list[str], ended: list[tuple[str, _Condition]], now: float) -> None:
        lines = [f"PROBLEM  {self.open[k].what}" for k in started]
        for _key, cond in ended:
            lines.append(f"RECOVERED  {cond.what} (after {(now - cond.since) / 60:.0f} min)")
        if started:
            first = self.open[started[0]].what
            subject = f"[releasestation {self.station}] PROBLEM: {first}"
            if len(lines) > 1:
                subject += f" (+{len(lines) - 1} more)"
        else:
            subject = f"[releasestation {self.station}] RECOVERED: {ended[0][1].what}"
            if len(ended) > 1:
                subject += f" (+{len(ended) - 1} more)"
        text = (
            f"Station {self.station}:\n\n" + "\n".join(lines) + "\n\n"
            "`releasestation status` on the station shows the rest.\n"
        )
        try:
            with Mailer(self.mail) as mailer:
                to = ", ".join(self.settings.recipients)
                mailer.send(message(self.mail, to, subject[:200], text, False))
        except MailError:
            if self.metrics is not None:
                self.metrics.alert_failures.inc()
            for _key, cond in ended:  # their recovery is mailed next round
                self.open.setdefault(_key, cond)
            raise
        self.sent += 1
        if self.metrics is not None:
            self.metrics.alerts_sent.inc()
        for key in started:
            self.open[key].mailed = True
            self.last_mail[key] = now
