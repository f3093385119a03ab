# SPDX-License-Identifier: GPL-3.0-or-later
"""Settling a release claim from what cupsd says of its job now.

A claim is settled this way whenever the station cannot know whether cupsd carried out the
release it claimed a job for: after the station died in the middle
(releasestation.lifecycle.reconcile, at start, and for any station's claims left 15 minutes)
and after a release whose answer never came (the Releaser, before its next release). The
rule is the same either way:

- held where it was claimed: never released; audited "interrupted", it stays held and is
  released by the next swipe;
- held on the printer it was released to: moved but not yet released; the release is
  finished now (it was asked for, and had not happened, so this is not a second release);
- held anywhere else (moved by an administrator): not ours to print; "interrupted";
- pending, processing, stopped or completed (or gone from cupsd): released; audited ok;
- cancelled or aborted: audited with that outcome.

PrintServerError (from `job_now`, or ReleaseInDoubt from finishing a release) when cupsd
cannot say: the claim then stays, to be settled later.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from releasestation.errors import PrintServerError
from releasestation.printq import HELD
from releasestation.printq.releases import ABORTED, CANCELLED, STATE_NAMES, ReleaseInDoubt
from releasestation.release.claims import event_of

if TYPE_CHECKING:
    from releasestation.audit import Event
    from releasestation.printq import HeldJob, PrintServer
    from releasestation.release.claims import Claim


def job_now(printq: PrintServer, claim: Claim) -> HeldJob | None:
    """The claimed job as cupsd shows it now; None once cupsd has forgotten it (or has
    given its id to another job). PrintServerError when cupsd cannot be asked."""
    job = printq.job(claim.job_id)
    if job is not None and claim.job_created and int(job.created) != claim.job_created:
        return None  # cupsd reused the id: the claimed job is gone
    return job


def settle_release(printq: PrintServer, claim: Claim, job: HeldJob | None, why: str) -> Event:
    """The audit event for release claim `claim`, its job now being `job` (job_now); `why`
    opens the detail (how the claim came to be left)."""
    if job is None:
        return event_of(claim, "release", "ok", f"{why}: cupsd no longer has it")
    if job.state == HELD and job.queue.casefold() == claim.queue.casefold():
        return event_of(claim, "release", "interrupted", f"{why}: still held, not released")
    if job.state == HELD and job.queue.casefold() == (claim.target or "").casefold():
        return _finish_release(printq, claim, job, why)  # moved to its printer, not released
    if job.state == HELD:  # moved somewhere else meanwhile (by an admin): not ours to print
        return event_of(claim, "release", "interrupted", f"{why}: held on {job.queue}")
    state = STATE_NAMES.get(job.state, str(job.state))
    outcome = state if job.state in (CANCELLED, ABORTED) else "ok"
    return event_of(claim, "release", outcome, f"{why}: job is {state}")


def _finish_release(printq: PrintServer, claim: Claim, job: HeldJob, why: str) -> Event:
    try:
        printq.release(job)
    except ReleaseInDoubt:
        raise  # cupsd did not answer this one either: the claim stays
    except PrintServerError as exc:
        return event_of(claim, "release", "failed", f"{why}: moved, release failed: {exc}")
    return event_of(claim, "release", "ok", f"{why}: moved to {job.queue}, released now")
