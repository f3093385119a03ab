# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit trail: one row per job released, per denial, per expiry, per credential issued.

Rows are hash-chained: each carries the hash of the row before it, and its own hash covers
its fields and that link, so altering or deleting a row breaks the chain at that point
(`verify`). Writers take the chain's lock, so stations sharing a PostgreSQL database append
one after another. Values typed at a reader (PINs, codes, card numbers) never go in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from releasestation.store import Store
from releasestation.store.models import AuditRow, utcnow

log = logging.getLogger(__name__)

GENESIS = "0" * 64
FIELDS = (
    "at", "station", "event", "outcome", "method", "username", "reader",
    "queue", "printer", "job_id", "title", "pages", "detail",
)  # fmt: skip


@dataclass(frozen=True)
class Event:
    """What happened; `Audit.record` adds the station, the time and the chain."""

    event: str
    outcome: str = "ok"
    method: str | None = None
    username: str | None = None
    reader: str | None = None
    queue: str | None = None
    printer: str | None = None
    job_id: int | None = None
    title: str | None = None
    pages: int | None = None
    detail: str | None = None
    at: dt.datetime = field(default_factory=utcnow)


def row_hash(prev_hash: str, values: dict) -> str:
    data = {name: values.get(name) for name in FIELDS}
    data["at"] = values["at"].astimezone(dt.UTC).isoformat(timespec="microseconds")
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(f"{prev_hash}|{text}".encode()).hexdigest()


class Audit:
    def __init__(self, store: Store, station: str, keep_titles: bool = True):
        self.store = store
        self.station = station
        self.keep_titles = keep_titles

    def record(self, *events: Event) -> None:
        """Append `events` in one durable transaction."""
        with self.store.write() as session:
            self.record_in(session, events)

    def record_in(self, session: Session, events: Iterable[Event]) -> None:
        """Append `events` inside the caller's write transaction."""
        self.store.lock(session, "audit-chain")
        prev = session.scalars(select(AuditRow.row_hash).order_by(AuditRow.id.desc())).first()
        prev = prev or GENESIS
        for event in events:
            values = asdict(event)
            values["station"] = self.station
            if not self.keep_titles:
                values["title"] = None
            digest = row_hash(prev, values)
            session.add(AuditRow(**values, prev_hash=prev, row_hash=digest))
            prev = digest
        session.flush()


def verify(store: Store, batch: int = 10_000) -> tuple[int, int | None, str]:
    """Walk the chain: (rows checked, id of the first bad row or None, what is wrong)."""
    prev, checked, last_id = GENESIS, 0, 0
    with store.read() as session:
        while True:
            rows = session.scalars(
                select(AuditRow).where(AuditRow.id > last_id).order_by(AuditRow.id).limit(batch)
            ).all()
            if not rows:
                return checked, None, "chain intact"
            for row in rows:
                values = {name: getattr(row, name) for name in FIELDS}
                if row.prev_hash != prev:
                    return checked, row.id, "a row before it was removed or altered"
                if row_hash(prev, values) != row.row_hash:
                    return checked, row.id, "row was altered"
                prev, last_id, checked = row.row_hash, row.id, checked + 1
            session.expunge_all()
