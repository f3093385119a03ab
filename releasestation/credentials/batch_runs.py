# SPDX-License-Identifier: GPL-3.0-or-later
"""The last `credgen batch` run, kept in the store for the stations' metrics and status.

`credgen batch` runs from cron, often on another machine than the stations, and ends long
before anything scrapes it. Prometheus's advice for such batch jobs is to export when the
last run ended and what it did; the store is the one place every station and the batch
share, so the run is one `site_settings` row (a short JSON object), replaced by each real
run (never by a dry run). Each station's /metrics reads it at scrape time.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from releasestation.errors import ReleaseStationError
from releasestation.store import Store
from releasestation.store.site import put_setting, setting

log = logging.getLogger(__name__)

KEY = "credgen_last_batch"
KINDS = ("pin", "cac", "password")


@dataclass(frozen=True)
class BatchRun:
    """When a batch run ended (Unix time), what it issued by kind, how many users got
    nothing, and whether it stopped early."""

    at: float
    issued: Mapping[str, int] = field(default_factory=dict)
    failed: int = 0
    aborted: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed and not self.aborted

    def encode(self) -> str:
        kinds = {k: int(n) for k, n in self.issued.items() if k in KINDS}
        value = {"at": round(self.at, 3), "issued": kinds, "failed": self.failed}
        return json.dumps({**value, "aborted": self.aborted}, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str) -> BatchRun:
        value = json.loads(text)
        issued = {str(k): int(n) for k, n in dict(value.get("issued", {})).items()}
        return cls(float(value["at"]), issued, int(value["failed"]), bool(value["aborted"]))


def record_batch_run(store: Store, run: BatchRun) -> None:
    """Replace the recorded run with `run` (its own transaction)."""
    put_setting(store, KEY, run.encode())


def last_batch_run(store: Store) -> BatchRun | None:
    """The recorded run; None when there is none, or it cannot be read (logged)."""
    try:
        text = setting(store, KEY)
    except ReleaseStationError as exc:
        log.debug("the last credgen batch run cannot be read: %s", exc)
        return None
    if text is None:
        return None
    try:
        return BatchRun.decode(text)
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("site_settings %s is not a batch run (%s): ignored", KEY, exc)
        return None


def ended_now() -> float:
    return dt.datetime.now(dt.UTC).timestamp()
