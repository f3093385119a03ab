# SPDX-License-Identifier: GPL-3.0-or-later
"""Noticing newly held jobs: a light poll of cupsd, one small Get-Jobs per interval.

Why a poll and not an IPP subscription: the poll asks only for jobs above the highest id
already seen (`first-job-id`), so cupsd answers with an empty list almost always. Measured
on the private cupsd: 0.25-0.3 ms per poll (0.06-0.14 ms of cupsd CPU) with 0, 500 or 2,000
jobs held, i.e. about 0.01 % of a core at one poll a second. A pull subscription
(`notify-pull-method ippget`) would still need a Get-Notifications request per interval,
adds a lease to renew, and keeps its events in cupsd's memory only (gone when cupsd
restarts, capped by MaxEvents), so a full listing would be needed anyway to be sure. The
poll needs nothing from cupsd's policy beyond the station seeing job owners.

A full listing every `resync_seconds` (130 ms with 500 jobs held, 480 ms with 2,000)
catches what the incremental poll cannot see: job ids restarting after cupsd lost its job
cache.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import cups

from releasestation.config import CupsSettings
from releasestation.errors import PrintServerError
from releasestation.printq import ipp
from releasestation.printq.jobs import HELD, JOB_ATTRIBUTES, HeldJob, from_attributes

log = logging.getLogger(__name__)

ALL_PRINTERS = "ipp://localhost/printers/"


class NewJobs:
    """Held jobs on `queues` not returned before; one instance per thread."""

    def __init__(
        self,
        settings: CupsSettings,
        account: str,
        queues: Sequence[str],
        resync_seconds: float = 60.0,
    ):
        self.settings = settings
        self.account = account
        self.queues = {q.casefold() for q in queues}
        self.resync_seconds = resync_seconds
        self.next_id = 0
        self.seen: set[int] = set()
        self._last_full = 0.0
        self._client: ipp.IppClient | None = None

    def poll(self) -> list[HeldJob]:
        """The held jobs that arrived since the last call (every held job on the first)."""
        full = time.monotonic() - self._last_full >= self.resync_seconds
        jobs = self._held(0 if full else self.next_id)
        if full:
            self._last_full = time.monotonic()
            self.seen &= {job.id for job in jobs}  # forget finished jobs
        new = [job for job in jobs if job.id not in self.seen]
        self.seen.update(job.id for job in new)
        if jobs:
            self.next_id = max(self.next_id, max(job.id for job in jobs) + 1)
        return sorted(new, key=lambda job: job.id)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _held(self, first_id: int) -> list[HeldJob]:
        attributes: list[tuple[int, str, ipp.Value]] = [
            (cups.IPP_TAG_URI, "printer-uri", ALL_PRINTERS),
            (cups.IPP_TAG_NAME, "requesting-user-name", self.account),
            (cups.IPP_TAG_KEYWORD, "which-jobs", "pending-held"),
            (cups.IPP_TAG_KEYWORD, "requested-attributes", list(JOB_ATTRIBUTES)),
        ]
        if first_id:
            attributes.append((cups.IPP_TAG_INTEGER, "first-job-id", first_id))
        groups = self._request(attributes)
        found = (from_attributes(a) for a in ipp.groups_of(groups, cups.IPP_TAG_JOB))
        return [
            job
            for job in found
            if job is not None and job.state == HELD and job.queue.casefold() in self.queues
        ]

    def _request(self, attributes: list[tuple[int, str, ipp.Value]]) -> list:
        server = self.settings.server
        if self._client is None:
            s = self.settings
            self._client = ipp.IppClient(server, s.encryption, s.timeout_seconds)
        try:
            return self._client.request(cups.IPP_OP_GET_JOBS, attributes)
        except ipp.IppError as exc:
            if exc.status == ipp.NOT_FOUND:  # no jobs at all
                return []
            raise PrintServerError(f"cupsd at {server}: new jobs: {exc}") from None
        except Exception as exc:  # OSError, http.client errors, malformed IPP
            self.close()
            raise PrintServerError(f"cupsd at {server} unreachable (new jobs): {exc}") from None
