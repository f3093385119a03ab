# SPDX-License-Identifier: GPL-3.0-or-later
"""The station's Prometheus metrics, on a registry of its own (several stations can run in
one process, as in the tests).

A swipe costs a few counter increments (`observe`, called by the worker after each swipe;
no I/O). The state of the peers (cupsd, printers, the store, the directory, held jobs) is
read at scrape time from the Probe, whose checks are cached; the readers' state is read
from their in-memory health. Labels are bounded: reader and printer/queue names come from
the config, outcomes and denial reasons from the fixed sets below; never a user, a card or
a title. docs/monitoring.md lists every name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from releasestation import __version__
from releasestation.monitoring.records import Records

if TYPE_CHECKING:
    from prometheus_client.core import Metric

    from readers import Reader, Swipe
    from releasestation.credentials.results import UserResult
    from releasestation.monitoring.probe import Probe

PREFIX = "releasestation_"
OUTCOMES = (
    "released",
    "no-jobs",
    "denied",
    "refused",
    "lookup-failed",
    "release-failed",
    "debounced",
    "error",
)
# Why a swipe released nothing: the identity did not know the value (`unknown`), a lockout
# refused it (`locked`), the directory or store could not be asked (`lookup-failed`), the
# release failed in the store or at cupsd (`store`, `print-server`), the releaser refused.
DENIAL_REASONS = ("unknown", "locked", "lookup-failed", "store", "print-server", "refused")
RELEASE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
DIRECTORY_OPERATIONS = ("user_by_card", "user_by_name")
CREDENTIAL_KINDS = ("pin", "pin-extended", "cac")
DIRECTORY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class StationMetrics:
    """The metrics of one station. `observe(swipe, outcome, denial, lockout, released,
    seconds)` after each swipe; `watch(readers, alive)` and the probe feed the gauges read
    at scrape time."""

    def __init__(self, probe: Probe | None = None):
        self.registry = CollectorRegistry(auto_describe=True)
        self.probe = probe
        self.readers: Sequence[Reader] = ()
        self.alive: Callable[[], bool] = lambda: True
        r = self.registry
        self.swipes = Counter(
            PREFIX + "swipes", "Swipes taken by the worker", ("reader", "outcome"), registry=r
        )
        self.released = Counter(PREFIX + "jobs_released", "Jobs released to print", registry=r)
        self.denials = Counter(
            PREFIX + "denials", "Swipes that released nothing, by reason", ("reason",), registry=r
        )
        self.lockouts = Counter(PREFIX + "lockouts", "Lockouts a failed entry started", registry=r)
        self.release_seconds = Histogram(
            PREFIX + "release_duration_seconds",
            "From the swipe to cupsd's answer to the last release",
            buckets=RELEASE_BUCKETS,
            registry=r,
        )
        self.directory_seconds = Histogram(
            PREFIX + "directory_request_duration_seconds",
            "Directory requests on a swipe's path, failed ones too",
            ("operation",),
            buckets=DIRECTORY_BUCKETS,
            registry=r,
        )
        self.last_event = Gauge(
            PREFIX + "reader_last_event_timestamp_seconds",
            "When the reader last delivered a swipe (Unix time)",
            ("reader",),
            registry=r,
        )
        self.credentials_issued = Counter(
            PREFIX + "credentials_issued",
            "Credentials the station issued to visitors on arrival, by kind",
            ("kind",),
            registry=r,
        )
        self.credential_failures = Counter(
            PREFIX + "credential_issuing_failed",
            "Visitors on arrival who got no credentials: the mail or the store failed",
            registry=r,
        )
        self.alerts_sent = Counter(PREFIX + "alert_mails", "Alert mails sent", registry=r)
        self.alert_failures = Counter(
            PREFIX + "alert_mails_failed", "Alert mails that could not be sent", registry=r
        )
        Info(PREFIX + "build", "The station's version", registry=r).info({"version": __version__})
        for reason in DENIAL_REASONS:
            self.denials.labels(reason)
        r.register(_Live(self))
        self.records = Records()  # housekeeping, backup, certificate: set by the App
        r.register(self.records)

    def watch(self, readers: Sequence[Reader], alive: Callable[[], bool]) -> None:
        self.readers = readers
        self.alive = alive
        for reader in readers:  # the series exist before the first swipe
            for outcome in ("released", "denied"):
                self.swipes.labels(reader.name, outcome)

    def credentials(self, result: UserResult) -> None:
        """Count what a visitor on arrival was issued, or that issuing failed."""
        if result.status == "failed":
            self.credential_failures.inc()
        for kind in result.issued:
            self.credentials_issued.labels(kind if kind in CREDENTIAL_KINDS else "other").inc()

    def directory_request(self, operation: str, seconds: float) -> None:
        """Time one directory request (the worker's thread; no I/O)."""
        if operation in DIRECTORY_OPERATIONS:
            self.directory_seconds.labels(operation).observe(max(0.0, seconds))

    def observe(
        self,
        swipe: Swipe,
        outcome: str,
        denial: str | None = None,
        lockout: bool = False,
        released: int = 0,
        seconds: float | None = None,
    ) -> None:
        """Count one swipe (the worker's thread; a few increments, no I/O)."""
        self.swipes.labels(swipe.reader, outcome if outcome in OUTCOMES else "error").inc()
        self.last_event.labels(swipe.reader).set(swipe.at)
        if denial is not None:
            self.denials.labels(denial if denial in DENIAL_REASONS else "unknown").inc()
        if lockout:
            self.lockouts.inc()
        if released:
            self.released.inc(released)
        if seconds is not None:
            self.release_seconds.observe(max(0.0, seconds))


class _Live(Collector):
    """Gauges read at scrape time: the readers, the worker, and the probe's cached checks."""

    def __init__(self, metrics: StationMetrics):
        self.metrics = metrics

    def describe(self) -> Iterable[Metric]:
        return []  # names vary with the probe; nothing to check at registration

    def collect(self) -> Iterable[Metric]:
        m = self.metrics
        connected = GaugeMetricFamily(
            PREFIX + "reader_connected",
            "1 when the reader is connected and serving",
            labels=["reader"],
        )
        for reader in m.readers:
            connected.add_metric([reader.name], 1.0 if reader.health.state == "ok" else 0.0)
        yield connected
        yield GaugeMetricFamily(
            PREFIX + "worker_up", "1 while the release worker lives", value=float(m.alive())
        )
        if m.probe is None:
            return
        snap = m.probe.snapshot()
        for part in snap.parts:
            yield GaugeMetricFamily(
                f"{PREFIX}{part.name}_up", f"1 when {part.name} answers", value=float(part.ok)
            )
        state = GaugeMetricFamily(
            PREFIX + "printer_state",
            "IPP printer-state: 3 idle, 4 processing, 5 stopped",
            labels=["printer"],
        )
        accepting = GaugeMetricFamily(
            PREFIX + "printer_accepting_jobs", "1 when the queue accepts jobs", labels=["printer"]
        )
        for printer in snap.printers:
            state.add_metric([printer.name], float(printer.state))
            accepting.add_metric([printer.name], float(printer.accepting))
        yield state
        yield accepting
        if snap.held is not None:
            held = GaugeMetricFamily(
                PREFIX + "held_jobs", "Jobs held on the queue", labels=["queue"]
            )
            oldest = GaugeMetricFamily(
                PREFIX + "held_job_oldest_age_seconds",
                "Age of the oldest held job on the queue (0 when none)",
                labels=["queue"],
            )
            for queue, (count, created) in snap.held.items():
                held.add_metric([queue], float(count))
                oldest.add_metric([queue], max(0.0, snap.at - created) if created else 0.0)
            yield held
            yield oldest
        yield GaugeMetricFamily(
            PREFIX + "stuck_jobs",
            "Jobs processing longer than [monitoring] stuck_after_seconds",
            value=float(len(snap.stuck)),
        )
        if snap.mailprint is not None:
            yield GaugeMetricFamily(
                PREFIX + "mailprint_up",
                "1 when mailprint's mailbox answered its last try and mailprint is heard from",
                value=float(snap.mailprint_problem is None),
            )
            if snap.mailprint.answered is not None:
                yield GaugeMetricFamily(
                    PREFIX + "mailprint_last_answer_timestamp_seconds",
                    "When mailprint's mailbox last answered (Unix time)",
                    value=snap.mailprint.answered,
                )
        yield GaugeMetricFamily(
            PREFIX + "checks_timestamp_seconds",
            "When the peers were last checked (Unix time)",
            value=snap.at,
        )
