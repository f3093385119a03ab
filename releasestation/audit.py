# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit trail: one row per job released, per denial, per expiry, per credential issued.

Rows are hash-chained: each carries the hash of the row before it, and its own hash covers
its fields and that link, so altering or deleting a row breaks the chain at that point
(`verify`). Writers take the chain's lock, so stations sharing a PostgreSQL database append
one after another. Values typed at a reader (PINs, codes, card numbers) never go in.

Privacy (`[audit]`, applied by releasestation.lifecycle.retention) keeps the chain
verifiable. Old rows are anonymised by blanking their names, titles and details and
re-chaining them (each anonymised row again carries a correct hash, so an altered one is
still found), or purged (a prefix of the trail is deleted). Either way a "checkpoint" row is
appended to the chain: it records where the trail now starts (`start_prev`, the link the
first kept row must carry) and where the re-chained part ends (`anonymised_through`, with its
new last hash and the original one the next row still links to). `verify` trusts only the
latest checkpoint, which is itself chained, so forging or removing it is found too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields

import sqlalchemy as sa
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from releasestation.store import Store
from releasestation.store.models import UTCDateTime, utcnow

log = logging.getLogger(__name__)

GENESIS = "0" * 64
CHECKPOINT = "checkpoint"  # event of the rows retention appends
PRINTED = "printed"  # event of the rows giving the pages cupsd printed (lifecycle.pages)
FIELDS = (
    "at", "station", "event", "outcome", "method", "username", "reader",
    "queue", "printer", "job_id", "title", "pages", "detail",
)  # fmt: skip
# Hashed only when set, so rows written before the column existed still verify.
OPTIONAL_FIELDS = ("cost_center",)

# The audit table as written and read here (it has cost_center since 0003_lifecycle).
AUDIT = sa.table(
    "audit",
    sa.column("id", sa.Integer),
    sa.column("at", UTCDateTime),
    *(sa.column(name, sa.String) for name in FIELDS[1:9]),
    sa.column("job_id", sa.Integer),
    sa.column("title", sa.Text),
    sa.column("pages", sa.Integer),
    sa.column("detail", sa.Text),
    sa.column("cost_center", sa.String),
    sa.column("prev_hash", sa.String),
    sa.column("row_hash", sa.String),
)


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
    cost_center: str | None = None  # the user's, when the job was released or expired


EVENT_FIELDS = tuple(f.name for f in fields(Event))


def row_hash(prev_hash: str, values: Mapping) -> str:
    data = {name: values.get(name) for name in FIELDS}
    data.update({n: values[n] for n in OPTIONAL_FIELDS if values.get(n) is not None})
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
        prev = last_hash(session)
        rows = []
        for event in events:
            values = {name: getattr(event, name) for name in EVENT_FIELDS}  # asdict deep-copies
            values["station"] = self.station
            if not self.keep_titles:
                values["title"] = None
            digest = row_hash(prev, values)
            rows.append({**values, "prev_hash": prev, "row_hash": digest})
            prev = digest
        if rows:
            session.execute(insert(AUDIT), rows)


def last_hash(session: Session) -> str:
    """The hash the next row links to: the newest row's (GENESIS for an empty trail)."""
    query = select(AUDIT.c.row_hash).order_by(AUDIT.c.id.desc()).limit(1)
    return session.execute(query).scalar() or GENESIS


@dataclass(frozen=True)
class Checkpoint:
    """What the latest retention run left: see the module docstring."""

    id: int
    start_prev: str = GENESIS
    anonymised_through: int = 0
    rechained_tail: str | None = None
    original_tail: str | None = None

    def detail(self) -> str:
        data = asdict(self)
        del data["id"]
        return json.dumps(data, sort_keys=True)


class BrokenCheckpoint(Exception):
    """The latest checkpoint row cannot be read; the row id is in args[0]."""


def latest_checkpoint(session: Session) -> Checkpoint | None:
    query = (
        select(AUDIT.c.id, AUDIT.c.detail)
        .where(AUDIT.c.event == CHECKPOINT)
        .order_by(AUDIT.c.id.desc())
        .limit(1)
    )
    row = session.execute(query).first()
    if row is None:
        return None
    try:
        return Checkpoint(id=row.id, **json.loads(row.detail))
    except (TypeError, ValueError):
        raise BrokenCheckpoint(row.id) from None


def verify(store: Store, batch: int = 10_000) -> tuple[int, int | None, str]:
    """Walk the chain: (rows checked, id of the first bad row or None, what is wrong)."""
    with store.read() as session:
        if not store.is_sqlite:  # one snapshot for the whole walk
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        try:
            checkpoint = latest_checkpoint(session)
        except BrokenCheckpoint as exc:
            return 0, exc.args[0], "the latest checkpoint row was altered"
        return _Walk(checkpoint).run(session, batch)


class _Walk:
    """One pass over the chain in id order, from where the latest checkpoint says it starts."""

    def __init__(self, checkpoint: Checkpoint | None):
        self.checkpoint = checkpoint
        self.prev = checkpoint.start_prev if checkpoint else GENESIS
        self.boundary = checkpoint.anonymised_through if checkpoint else 0
        self.rechained_tail = checkpoint.rechained_tail if checkpoint else None
        self.original_tail = checkpoint.original_tail if checkpoint else None
        self.checked = 0

    def run(self, session: Session, batch: int) -> tuple[int, int | None, str]:
        last_id = 0
        while True:
            query = select(AUDIT).where(AUDIT.c.id > last_id).order_by(AUDIT.c.id).limit(batch)
            rows = session.execute(query).all()
            if not rows:
                if self.checked == 0 and self.checkpoint is not None:
                    return 0, None, "the trail is empty, but a checkpoint says it was not"
                return self.checked, None, "chain intact"
            for row in rows:
                problem = self.check(row._mapping)
                if problem:
                    return self.checked, row.id, problem
            last_id = rows[-1].id

    def check(self, row: Mapping) -> str | None:
        if self.boundary and row["id"] > self.boundary:
            # Leaving the re-chained (anonymised) part: the next row links to the old hash.
            if self.prev != self.rechained_tail:
                return "an anonymised row before it was removed or altered"
            self.prev, self.boundary = self.original_tail or "", 0
        if row["prev_hash"] != self.prev:
            if self.checked == 0:
                return "rows at the start of the trail were removed, or this row was altered"
            return "a row before it was removed or altered"
        if row_hash(self.prev, row) != row["row_hash"]:
            return "row was altered"
        self.prev = row["row_hash"]
        self.checked += 1
        return None


def trail_size(session: Session) -> tuple[int, int | None, int | None]:
    """(rows, first id, last id) of the trail."""
    count, first, last = session.execute(
        select(func.count(), func.min(AUDIT.c.id), func.max(AUDIT.c.id))
    ).one()
    return int(count), first, last


def verify_newest(store: Store, rows: int = 10_000) -> tuple[int, int | None, str]:
    """Check the newest `rows` rows only (their hashes and links to each other), trusting
    the link of the first: cheap enough to run often, beside a full `verify` now and then.
    (rows checked, id of the first bad row or None, what is wrong)."""
    with store.read() as session:
        try:
            checkpoint = latest_checkpoint(session)
        except BrokenCheckpoint as exc:
            return 0, exc.args[0], "the latest checkpoint row was altered"
        query = select(AUDIT).order_by(AUDIT.c.id.desc()).limit(rows)
        found = list(reversed(session.execute(query).all()))
    boundary = checkpoint.anonymised_through if checkpoint else 0
    original_tail = checkpoint.original_tail if checkpoint else None
    prev: str | None = None
    prev_id = 0
    for row in found:
        values = row._mapping
        if prev is not None and values["prev_hash"] != prev:
            across = prev_id <= boundary < values["id"]  # out of the re-chained part
            if not (across and values["prev_hash"] == original_tail):
                return found.index(row), row.id, "a row before it was removed or altered"
        if row_hash(values["prev_hash"], values) != values["row_hash"]:
            return found.index(row), row.id, "row was altered"
        prev, prev_id = values["row_hash"], values["id"]
    return len(found), None, "chain intact"
