# SPDX-License-Identifier: GPL-3.0-or-later
"""Pages that came out: cupsd's count of a released job's pages, as a second source for
billing beside the pages sent.

A release row records the job as it was sent. Once cupsd has finished with the job, its
job-impressions-completed (the pages the printer's backend reported, as in cupsd's
page_log) is recorded on a new "printed" audit row: the job id, its owner, queue, printer
and cost center copied from the release row, `pages` the pages that came out and `outcome`
how the job ended (completed, canceled, aborted). The chained release row is never
updated. Housekeeping calls `record` every round; the work is bounded: only this station's
jobs released in the last `WINDOW`, at most `BATCH` questions to cupsd a round.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from sqlalchemy import and_, select

from releasestation.audit import AUDIT, PRINTED, Event

if TYPE_CHECKING:
    from releasestation.audit import Audit
    from releasestation.printq import PrintServer
    from releasestation.store import Store

log = logging.getLogger(__name__)

WINDOW = dt.timedelta(days=1)
BATCH = 200


def unprinted(store: Store, station: str, since: dt.datetime, limit: int = BATCH) -> list:
    """Release rows of `station` since `since` without a "printed" row yet, oldest first."""
    c = AUDIT.c
    printed = select(AUDIT.c.job_id).where(
        c.event == PRINTED, c.station == station, c.at >= since, c.job_id.is_not(None)
    )
    query = (
        select(c.job_id, c.username, c.queue, c.printer, c.cost_center)
        .where(
            and_(c.event == "release", c.outcome == "ok", c.job_id.is_not(None)),
            c.station == station,
            c.at >= since,
            c.job_id.not_in(printed),
        )
        .order_by(c.id)
        .limit(limit)
    )
    with store.read() as session:
        return list(session.execute(query).all())


def record(printq: PrintServer, store: Store, audit: Audit, now: dt.datetime) -> int:
    """Append a "printed" row for each job released lately that cupsd has finished with;
    returns how many. cupsd being away raises PrintServerError (the next round retries)."""
    pending = {row.job_id: row for row in unprinted(store, audit.station, now - WINDOW)}
    if not pending:
        return 0
    finished = printq.finished_jobs(pending)
    events = [
        Event(
            PRINTED,
            outcome=job.state,
            username=pending[job.id].username,
            queue=pending[job.id].queue,
            printer=pending[job.id].printer,
            job_id=job.id,
            pages=job.pages,
            cost_center=pending[job.id].cost_center,
        )
        for job in finished
    ]
    if events:
        audit.record(*events)
        log.debug("%d released job(s) finished printing", len(events))
    return len(events)
