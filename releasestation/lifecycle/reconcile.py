# SPDX-License-Identifier: GPL-3.0-or-later
"""Settling claims left by a station that died mid-release or mid-expiry.

At start the daemon settles its own claims before any reader runs; the periodic
housekeeping settles claims any station left more than STALE ago (a station that never
came back). What cupsd says now decides the outcome, which is audited once:

release
  - held where it was claimed: never released; audited "interrupted", it stays held and is
    released by the next swipe;
  - held on the follow-me printer: moved but not yet released; the release is finished now
    (it was asked for, and had not happened, so this is not a second release);
  - pending, processing, stopped or completed (or gone from cupsd): released; audited ok;
  - cancelled or aborted: audited with that outcome.
expire
  - cancelled or gone: expired; audited ok;
  - still held: the claim is dropped; the next expiry run decides again.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from releasestation.audit import Event
from releasestation.errors import PrintServerError
from releasestation.printq import HELD
from releasestation.release import Claim, event_of

if TYPE_CHECKING:
    from releasestation.printq import HeldJob, PrintServer
    from releasestation.release import Claims

log = logging.getLogger(__name__)

STALE = dt.timedelta(minutes=15)
STATE_NAMES = {3: "pending", 5: "processing", 6: "stopped", 7: "cancelled", 8: "aborted",
               9: "completed"}  # fmt: skip
AFTER = "after a restart"


@dataclass(frozen=True)
class Settled:
    claim: Claim
    outcome: str  # the audited outcome, or "dropped"


def reconcile(
    claims: Claims, printq: PrintServer, older_than: dt.datetime | None = None
) -> list[Settled]:
    """Settle this station's claims (or, with `older_than`, every station's older ones),
    asking `printq` what became of each job. PrintServerError when cupsd cannot say what
    happened; the claims then stay."""
    settled = []
    for claim in claims.unsettled(older_than):
        job = printq.job(claim.job_id)
        if job is not None and claim.job_created and int(job.created) != claim.job_created:
            job = None  # cupsd reused the id: the claimed job is gone
        event = _release(printq, claim, job) if claim.action == "release" else _expire(claim, job)
        claims.finish([(claim, event)])
        outcome = event.outcome if event else "dropped"
        log.warning(
            "%s of job %d claimed by station %s at %s settled: %s",
            claim.action,
            claim.job_id,
            claim.station,
            claim.claimed_at.isoformat(timespec="seconds"),
            outcome,
        )
        settled.append(Settled(claim, outcome))
    return settled


def reconcile_stale(claims: Claims, printq: PrintServer, now: dt.datetime) -> list[Settled]:
    return reconcile(claims, printq, older_than=now - STALE)


def _release(printq: PrintServer, claim: Claim, job: HeldJob | None) -> Event:
    detail = f"in flight when station {claim.station} stopped; settled {AFTER}"
    if job is None:
        return event_of(claim, "release", "ok", f"{detail}: cupsd no longer has it")
    if job.state == HELD and job.queue.casefold() == claim.queue.casefold():
        return event_of(claim, "release", "interrupted", f"{detail}: still held, not released")
    if job.state == HELD and job.queue.casefold() == (claim.target or "").casefold():
        return _finish_release(printq, claim, job, detail)  # moved to its printer, not released
    if job.state == HELD:  # moved somewhere else meanwhile (by an admin): not ours to print
        return event_of(claim, "release", "interrupted", f"{detail}: held on {job.queue}")
    state = STATE_NAMES.get(job.state, str(job.state))
    outcome = "ok" if job.state not in (7, 8) else state
    return event_of(claim, "release", outcome, f"{detail}: job is {state}")


def _finish_release(printq: PrintServer, claim: Claim, job: HeldJob, detail: str) -> Event:
    try:
        printq.release(job)
    except PrintServerError as exc:
        return event_of(claim, "release", "failed", f"{detail}: moved, release failed: {exc}")
    return event_of(claim, "release", "ok", f"{detail}: moved to {job.queue}, released now")


def _expire(claim: Claim, job: HeldJob | None) -> Event | None:
    if job is not None and job.state == HELD:
        return None
    state = "gone" if job is None else STATE_NAMES.get(job.state, str(job.state))
    detail = f"in flight when station {claim.station} stopped; job {state} {AFTER}"
    return event_of(claim, "expire", "ok", detail)
