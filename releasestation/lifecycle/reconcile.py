# SPDX-License-Identifier: GPL-3.0-or-later
"""Settling claims left by a station that died mid-release or mid-expiry.

At start the daemon settles its own claims before any reader runs; the periodic
housekeeping settles claims any station left more than STALE ago (a station that never
came back, or one that left a claim when cupsd did not answer a release and has not
settled it since: the Releaser settles those itself before its next release). What cupsd
says now decides the outcome, which is audited once:

release (releasestation.release.settling)
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
from releasestation.printq import HELD
from releasestation.printq.releases import STATE_NAMES
from releasestation.release import Claim, event_of
from releasestation.release.settling import job_now, settle_release

if TYPE_CHECKING:
    from releasestation.printq import HeldJob, PrintServer
    from releasestation.release import Claims

log = logging.getLogger(__name__)

STALE = dt.timedelta(minutes=15)
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
        job = job_now(printq, claim)
        if claim.action == "release":
            why = f"in flight when station {claim.station} stopped; settled {AFTER}"
            event: Event | None = settle_release(printq, claim, job, why)
        else:
            event = _expire(claim, job)
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


def _expire(claim: Claim, job: HeldJob | None) -> Event | None:
    if job is not None and job.state == HELD:
        return None
    state = "gone" if job is None else STATE_NAMES.get(job.state, str(job.state))
    detail = f"in flight when station {claim.station} stopped; job {state} {AFTER}"
    return event_of(claim, "expire", "ok", detail)
