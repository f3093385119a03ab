# SPDX-License-Identifier: GPL-3.0-or-later
"""Claims: the crash-safe intent written before a job is released or expired.

The protocol, per job: (1) claim it — a committed row, unique per job, so no other station
(or the expiry) touches it meanwhile; (2) look at the job again in cupsd: if it is no
longer held where it was, someone else got there first and the claim is dropped; (3) ask
cupsd; (4) audit the outcome and delete the claim in one transaction. A station that dies
between (1) and (4) leaves its claim, and releasestation.lifecycle.reconcile settles it at
start from what cupsd says happened — recorded once, never released twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from releasestation.audit import Event
from releasestation.lifecycle.models import JobClaim, JobOwner
from releasestation.lifecycle.owners import server_key

if TYPE_CHECKING:
    from releasestation.app import App
    from releasestation.printq import HeldJob

log = logging.getLogger(__name__)


class Claims:
    def __init__(self, app: App):
        self.app = app
        self.server = server_key(app)
        self.station = app.config.station.name

    def claim(self, jobs: Sequence[HeldJob], action: str, **fields) -> list[JobClaim]:
        """Claim `jobs` in one transaction; the claims won (a job another station or run
        has claimed is left out). `fields` are JobClaim columns, or callables of the job."""
        won = []
        with self.app.store.write() as session:
            try:  # the usual case, on the swipe's hot path: nobody else holds any of them
                with session.begin_nested():
                    rows = [self._row(job, action, fields) for job in jobs]
                    session.add_all(rows)
                return rows
            except IntegrityError:
                pass  # some are claimed elsewhere: find out which, one by one
            for job in jobs:
                row = self._row(job, action, fields)
                try:
                    with session.begin_nested():
                        session.add(row)
                except IntegrityError:
                    log.info("job %d is being %sd elsewhere; leaving it", job.id, action)
                    continue
                won.append(row)
        return won

    def _row(self, job: HeldJob, action: str, fields: dict) -> JobClaim:
        values = {k: (v(job) if callable(v) else v) for k, v in fields.items()}
        values.setdefault("target", job.queue)
        return JobClaim(
            server=self.server,
            job_id=job.id,
            job_created=int(job.created),
            action=action,
            station=self.station,
            queue=job.queue,
            owner=job.owner[:256],
            title=job.title if self.app.audit.keep_titles else None,  # [audit] keep_titles
            pages=job.pages,
            **values,
        )

    def finish(self, done: Iterable[tuple[JobClaim, Event | None]]) -> int:
        """Audit each outcome and delete its claim, in one transaction. A claim already
        gone (settled by someone else) is not audited again. Returns the events recorded."""
        done = list(done)
        with self.app.store.write() as session:
            ids = [claim.id for claim, _ in done]
            present = set(session.scalars(select(JobClaim.id).where(JobClaim.id.in_(ids))))
            if present:
                session.execute(delete(JobClaim).where(JobClaim.id.in_(present)))
            events = [event for claim, event in done if claim.id in present and event]
            gone = [e.job_id for e in events if e.outcome == "ok" and e.job_id is not None]
            if gone:  # released or expired: its resolved owner is of no more use
                mine = JobOwner.server == self.server
                session.execute(delete(JobOwner).where(mine, JobOwner.job_id.in_(gone)))
            if events:
                self.app.audit.record_in(session, events)
        return len(events)

    def drop(self, claims: Iterable[JobClaim]) -> None:
        self.finish((claim, None) for claim in claims)

    def unsettled(self, older_than: dt.datetime | None = None) -> list[JobClaim]:
        """This station's claims on this cupsd; with `older_than`, every station's claims
        made before then (a station that died for good leaves them)."""
        query = select(JobClaim).where(JobClaim.server == self.server).order_by(JobClaim.id)
        if older_than is None:
            query = query.where(JobClaim.station == self.station)
        else:
            query = query.where(JobClaim.claimed_at < older_than)
        with self.app.store.read() as session:
            return list(session.scalars(query))


def event_of(claim: JobClaim, event: str, outcome: str, detail: str | None = None) -> Event:
    """The audit event for what happened to a claimed job."""
    return Event(
        event,
        outcome=outcome,
        method=claim.method,
        username=claim.username,
        reader=claim.reader,
        queue=claim.queue,
        printer=claim.target if event == "release" else None,
        job_id=claim.job_id,
        title=claim.title,
        pages=claim.pages,
        detail=detail,
        cost_center=claim.cost_center,
    )
