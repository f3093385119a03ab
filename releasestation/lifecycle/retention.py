# SPDX-License-Identifier: GPL-3.0-or-later
"""Privacy of the audit trail: anonymise or purge rows older than `[audit] retain_days`.

Only a prefix of the trail is touched: every row up to the last one before the first row
that is still young enough, so the chain stays one piece (a row written by a station whose
clock ran slow is kept a little longer). How the chain stays verifiable is explained in
releasestation.audit. Nothing is done to a trail that does not verify: that would launder
a tampered row.

Anonymising blanks user name, title and detail, and keeps what billing needs (time,
station, event, outcome, method, reader, queue, printer, job id, pages, cost center). It
runs in chunks, each its own transaction ending with its checkpoint, so a large first run
never holds the chain's lock for long and an interrupted one leaves a valid trail.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from releasestation.audit import (
    AUDIT,
    CHECKPOINT,
    GENESIS,
    Audit,
    Checkpoint,
    Event,
    last_hash,
    latest_checkpoint,
    row_hash,
    verify,
)
from releasestation.config import AuditSettings
from releasestation.errors import StoreError
from releasestation.store import Store

log = logging.getLogger(__name__)

CHUNK = 20_000
BLANKED = ("username", "title", "detail")


@dataclass(frozen=True)
class RetentionResult:
    mode: str  # anonymise | purge | off
    cutoff: dt.datetime | None
    rows: int  # rows anonymised or deleted (in a dry run: that would be)
    dry_run: bool = False

    def summary(self) -> str:
        if self.mode == "off":
            return "audit retention is off ([audit] retain_days = 0)"
        verb = {"anonymise": "anonymised", "purge": "purged"}[self.mode]
        verb = f"would be {verb}" if self.dry_run else verb
        when = self.cutoff.isoformat(timespec="seconds") if self.cutoff else "-"
        return f"{self.rows} audit row(s) from before {when} {verb}"


def apply(
    store: Store,
    audit: Audit,
    settings: AuditSettings,
    now: dt.datetime,
    dry_run: bool = False,
) -> RetentionResult:
    """Anonymise or purge what `settings` says is too old; StoreError if the trail is broken."""
    if not settings.retain_days:
        return RetentionResult("off", None, 0, dry_run)
    cutoff = now - dt.timedelta(days=settings.retain_days)
    mode = settings.retention
    if dry_run:
        with store.read() as session:
            return RetentionResult(mode, cutoff, _pending(session, cutoff, mode), True)
    with store.read() as session:
        if _pending(session, cutoff, mode) == 0:
            return RetentionResult(mode, cutoff, 0)
    checked, bad, why = verify(store)
    if bad is not None:
        raise StoreError(
            f"audit trail broken at row {bad} ({why}): not {mode}ing it;"
            " run `releasestation audit verify`"
        )
    work = _anonymise if mode == "anonymise" else _purge
    rows = work(store, audit, cutoff, now)
    log.info("audit retention: %d row(s) %sd (of %d), older than %s", rows, mode, checked, cutoff)
    return RetentionResult(mode, cutoff, rows)


def _old_end(session: Session, cutoff: dt.datetime) -> int | None:
    """The last id of the prefix of rows older than `cutoff`, None if there is none."""
    c = AUDIT.c
    young = session.execute(select(func.min(c.id)).where(c.at >= cutoff)).scalar()
    if young is None:
        return session.execute(select(func.max(c.id))).scalar()
    return young - 1


def _pending(session: Session, cutoff: dt.datetime, mode: str) -> int:
    end = _old_end(session, cutoff)
    if end is None:
        return 0
    done = 0
    if mode == "anonymise":
        checkpoint = latest_checkpoint(session)
        done = checkpoint.anonymised_through if checkpoint else 0
    query = select(func.count()).where(AUDIT.c.id > done, AUDIT.c.id <= end)
    return int(session.execute(query).scalar() or 0)


def _anonymise(store: Store, audit: Audit, cutoff: dt.datetime, now: dt.datetime) -> int:
    total = 0
    while True:
        with store.write() as session:
            store.lock(session, "audit-chain")
            count = _anonymise_chunk(session, audit, cutoff, now)
        if not count:
            return total
        total += count


def _anonymise_chunk(session: Session, audit: Audit, cutoff: dt.datetime, now) -> int:
    checkpoint = latest_checkpoint(session)
    done = checkpoint.anonymised_through if checkpoint else 0
    end = _old_end(session, cutoff)
    if end is None or end <= done:
        return 0
    c = AUDIT.c
    query = select(AUDIT).where(c.id > done, c.id <= end).order_by(c.id).limit(CHUNK)
    rows = [dict(r._mapping) for r in session.execute(query)]
    if not rows:
        return 0
    prev: str = rows[0]["prev_hash"]
    if checkpoint and done:
        prev = checkpoint.rechained_tail or ""
    changes = []
    for row in rows:
        values = {**row, **dict.fromkeys(BLANKED)}
        digest = row_hash(prev, values)
        changes.append({"rid": row["id"], "new_prev": prev, "new_hash": digest})
        prev = digest
    _rewrite(session, changes)
    mark = Checkpoint(
        id=0,
        start_prev=_first_prev(session),
        anonymised_through=rows[-1]["id"],
        rechained_tail=prev,
        original_tail=rows[-1]["row_hash"],
    )
    audit.record_in(session, [Event(CHECKPOINT, "anonymised", detail=mark.detail(), at=now)])
    return len(rows)


def _rewrite(session: Session, changes: list[dict]) -> None:
    statement = (
        update(AUDIT)
        .where(AUDIT.c.id == bindparam("rid"))
        .values(
            username=None,
            title=None,
            detail=None,
            prev_hash=bindparam("new_prev"),
            row_hash=bindparam("new_hash"),
        )
    )
    session.connection().execute(statement, changes)


def _first_prev(session: Session) -> str:
    query = select(AUDIT.c.prev_hash).order_by(AUDIT.c.id).limit(1)
    return session.execute(query).scalar() or GENESIS


def _purge(store: Store, audit: Audit, cutoff: dt.datetime, now: dt.datetime) -> int:
    with store.write() as session:
        store.lock(session, "audit-chain")
        end = _old_end(session, cutoff)
        c = AUDIT.c
        if end is None or not session.execute(select(func.count()).where(c.id <= end)).scalar():
            return 0
        checkpoint = latest_checkpoint(session)
        kept = session.execute(
            select(c.prev_hash).where(c.id > end).order_by(c.id).limit(1)
        ).scalar()
        mark = Checkpoint(id=0, start_prev=kept or last_hash(session))
        if checkpoint and checkpoint.anonymised_through > end:  # part of it stays
            mark = Checkpoint(
                id=0,
                start_prev=mark.start_prev,
                anonymised_through=checkpoint.anonymised_through,
                rechained_tail=checkpoint.rechained_tail,
                original_tail=checkpoint.original_tail,
            )
        audit.record_in(session, [Event(CHECKPOINT, "purged", detail=mark.detail(), at=now)])
        result = session.execute(delete(AUDIT).where(c.id <= end))
        return int(getattr(result, "rowcount", 0) or 0)
