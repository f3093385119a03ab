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
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from sqlalchemy import Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from releasestation.audit import Event
from releasestation.owner_names import fold
from releasestation.release.models import JobClaim, JobOwner
from releasestation.store.models import utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session
    from sqlalchemy.sql.base import Executable

    from releasestation.audit import Audit
    from releasestation.printq import HeldJob
    from releasestation.store import Store

log = logging.getLogger(__name__)

_TABLE = cast(Table, JobClaim.__table__)


@dataclass(frozen=True, slots=True)
class Claim:
    """One row of job_claims, as plain data (built for every job a swipe releases, so not
    an ORM instance: those cost ten times as much to make)."""

    id: int
    server: str
    job_id: int
    job_created: int
    action: str
    station: str
    queue: str
    target: str
    owner: str
    username: str | None
    method: str | None
    reader: str | None
    title: str | None
    pages: int | None
    cost_center: str | None
    claimed_at: dt.datetime


def _claiming(is_sqlite: bool) -> Executable:
    """One statement for all of a swipe's claims that skips the jobs claimed elsewhere
    (the unique key) and returns (id, job_id) of each claim made: no savepoint to fall back
    to, on the swipe's hot path, and no error that would spoil the transaction."""
    dialect = sqlite if is_sqlite else postgresql
    return (
        dialect.insert(_TABLE)
        .on_conflict_do_nothing(index_elements=["server", "job_id"])
        .returning(_TABLE.c.id, _TABLE.c.job_id)
    )


class Claims:
    """The claims of station `station` on the cupsd named `server` in the store
    (releasestation.release.resolution.server_key); `generic_names`: `[owners]`'s."""

    def __init__(
        self,
        store: Store,
        audit: Audit,
        server: str,
        station: str,
        generic_names: Iterable[str] = (),
    ):
        self.store = store
        self.audit = audit
        self.server = server
        self.station = station
        self._claim = _claiming(store.is_sqlite)
        # Only jobs cupsd knows under a generic name have resolved-owner rows to drop.
        self.generic = {fold(name) for name in generic_names}

    def claim(self, jobs: Sequence[HeldJob], action: str, **fields) -> list[Claim]:
        """Claim `jobs` in one transaction; the claims won (a job another station or run
        has claimed is left out). `fields` are JobClaim columns, or callables of the job."""
        with self.store.write() as session:
            return self.claim_in(session, jobs, action, **fields)

    def claim_in(
        self, session: Session, jobs: Sequence[HeldJob], action: str, **fields
    ) -> list[Claim]:
        """`claim` inside the caller's write transaction (committed when it ends)."""
        rows, seen = [], set()
        for job in jobs:
            if job.id not in seen:  # a job named twice is claimed once
                seen.add(job.id)
                rows.append(self._values(job, action, fields))
        if not rows:
            return []
        made = {job_id: claim_id for claim_id, job_id in session.execute(self._claim, rows)}
        won = []
        for row in rows:
            if row["job_id"] in made:
                won.append(Claim(id=made[row["job_id"]], **row))
            else:
                log.info("job %d is being %sd elsewhere; leaving it", row["job_id"], action)
        return won

    def _values(self, job: HeldJob, action: str, fields: dict) -> dict:
        values = {k: (v(job) if callable(v) else v) for k, v in fields.items()}
        values.setdefault("target", job.queue)
        return {
            "server": self.server,
            "job_id": job.id,
            "job_created": int(job.created),
            "action": action,
            "station": self.station,
            "queue": job.queue,
            "owner": job.owner[:256],
            "title": job.title if self.audit.keep_titles else None,  # [audit] keep_titles
            "pages": job.pages,
            "claimed_at": utcnow(),
            "username": None,
            "method": None,
            "reader": None,
            "cost_center": None,
            **values,
        }

    def finish(self, done: Iterable[tuple[Claim, Event | None]]) -> int:
        """Audit each outcome and delete its claim, in one transaction. A claim already
        gone (settled by someone else) is not audited again. Returns the events recorded."""
        done = list(done)
        if not done:
            return 0
        with self.store.write() as session:
            ids = [claim.id for claim, _ in done]
            gone_claims = delete(_TABLE).where(_TABLE.c.id.in_(ids)).returning(_TABLE.c.id)
            present = set(session.scalars(gone_claims))
            events = [event for claim, event in done if claim.id in present and event]
            gone = [  # released or expired: its resolved owner is of no more use
                claim.job_id
                for claim, event in done
                if event is not None
                and event.outcome == "ok"
                and claim.id in present
                and fold(claim.owner.strip()) in self.generic
            ]
            if gone:
                mine = JobOwner.server == self.server
                session.execute(delete(JobOwner).where(mine, JobOwner.job_id.in_(gone)))
            if events:
                self.audit.record_in(session, events)
        return len(events)

    def drop(self, claims: Iterable[Claim]) -> None:
        self.finish((claim, None) for claim in claims)

    def unsettled(self, older_than: dt.datetime | None = None) -> list[Claim]:
        """This station's claims on this cupsd; with `older_than`, every station's claims
        made before then (a station that died for good leaves them)."""
        c = _TABLE.c
        query = select(_TABLE).where(c.server == self.server).order_by(c.id)
        if older_than is None:
            query = query.where(c.station == self.station)
        else:
            query = query.where(c.claimed_at < older_than)
        with self.store.read() as session:
            return [Claim(**row._mapping) for row in session.execute(query)]


def event_of(claim: Claim, event: str, outcome: str, detail: str | None = None) -> Event:
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
