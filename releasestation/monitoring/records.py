# SPDX-License-Identifier: GPL-3.0-or-later
"""Metrics of what the station keeps on record, read at scrape time: what housekeeping did
(jobs expired, its last expiry run, its last verification of the audit chain), the last
`credgen batch` run (one row of the store), the last
successful backup (`[backup] state_file`, written by `releasestation backup`) and when the
web portal's TLS certificate (`[web] cert_file`) expires. Reading the two small files costs
a scrape well under a millisecond; the certificate is parsed again only when it changes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from prometheus_client.core import Metric

    from releasestation.credentials.batch_runs import BatchRun
    from releasestation.lifecycle.housekeeping import Rounds

log = logging.getLogger(__name__)

PREFIX = "releasestation_"


class Records(Collector):
    """`rounds()`: housekeeping's (None when it does not run here); `backup_state`: the
    backup's state file; `cert_file`: the portal's certificate (PEM); `batch_run()`: the
    last `credgen batch` run, read from the store (None when there is none)."""

    def __init__(
        self,
        rounds: Callable[[], Rounds | None] = lambda: None,
        backup_state: str | None = None,
        cert_file: str | None = None,
        batch_run: Callable[[], BatchRun | None] = lambda: None,
    ):
        self.rounds = rounds
        self.batch_run = batch_run
        self.backup_state = backup_state
        self.cert_file = cert_file
        self._cert: tuple[float, float | None] | None = None  # (mtime, expiry)

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        rounds = self.rounds()
        if rounds is not None:
            yield from _housekeeping(rounds)
        run = self.batch_run()
        if run is not None:
            yield from _batch_run(run)
        backup = self._last_backup()
        if backup is not None:
            yield _gauge(
                "backup_last_success_timestamp_seconds",
                "When the last backup succeeded (Unix time; 0: none recorded)",
                backup,
            )
        expiry = self._cert_expiry()
        if expiry is not None:
            yield _gauge(
                "tls_certificate_expiry_timestamp_seconds",
                "When the web portal's TLS certificate ([web] cert_file) expires (Unix time)",
                expiry,
            )

    def _last_backup(self) -> float | None:
        if not self.backup_state:
            return None
        from releasestation.backup.rotation import last_success

        try:
            at = last_success(self.backup_state)
        except (AttributeError, TypeError, ValueError):  # a state file not ours
            return 0.0
        return at.timestamp() if at else 0.0

    def _cert_expiry(self) -> float | None:
        if not self.cert_file:
            return None
        try:
            mtime = os.stat(self.cert_file).st_mtime
        except OSError:
            return None
        if self._cert is None or self._cert[0] != mtime:
            self._cert = (mtime, certificate_expiry(self.cert_file))
        return self._cert[1]


def certificate_expiry(path: str) -> float | None:
    """The notAfter of the first certificate in the PEM file `path` (Unix time), or None."""
    from cryptography import x509

    try:
        with open(path, "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
    except (OSError, ValueError) as exc:
        log.warning("metrics: cannot read the certificate %s: %s", path, exc)
        return None
    return cert.not_valid_after_utc.timestamp()


def _housekeeping(rounds: Rounds) -> Iterable[Metric]:
    yield CounterMetricFamily(
        PREFIX + "jobs_expired", "Held jobs expired by housekeeping", value=rounds.expired
    )
    if rounds.expiry_at is not None:
        yield _gauge(
            "expiry_last_run_timestamp_seconds",
            "When housekeeping last ran the expiry (Unix time)",
            rounds.expiry_at,
        )
    if rounds.verify_at is not None:
        yield _gauge(
            "audit_chain_verify_timestamp_seconds",
            "When housekeeping last verified the newest audit rows (Unix time)",
            rounds.verify_at,
        )
        yield _gauge(
            "audit_chain_intact",
            "1 when the last verification found the audit chain intact",
            float(bool(rounds.verify_ok)),
        )


def _batch_run(run: BatchRun) -> Iterable[Metric]:
    from releasestation.credentials.batch_runs import KINDS

    yield _gauge(
        "credgen_last_run_timestamp_seconds",
        "When the last credgen batch ended (Unix time)",
        run.at,
    )
    issued = GaugeMetricFamily(
        PREFIX + "credgen_last_run_issued_credentials",
        "Credentials the last credgen batch issued, by kind",
        labels=("kind",),
    )
    for kind in KINDS:
        issued.add_metric((kind,), float(run.issued.get(kind, 0)))
    yield issued
    yield _gauge(
        "credgen_last_run_failed_users", "Users the last credgen batch gave nothing", run.failed
    )
    yield _gauge(
        "credgen_last_run_ok", "1 when the last credgen batch ended with no failure", run.ok
    )


def _gauge(name: str, text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(PREFIX + name, text, value=value)
