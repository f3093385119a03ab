# SPDX-License-Identifier: GPL-3.0-or-later
"""The mails mail-to-print took up (table `mail_messages`, releasestation.mailprint.models):
what became of each, the jobs it held so far, and how many a sender sent this hour.

Every change is its own committed transaction, made before the step it records is taken
further: a job id is written as soon as cupsd gave it, so a service killed at any moment
finds, on its next look at the mail, which of its jobs are already held.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from releasestation.errors import StoreError
from releasestation.mailprint.models import MailMessage
from releasestation.store import Store
from releasestation.store.models import utcnow

HOLDING, HELD, REFUSED = "holding", "held", "refused"
KEEP = dt.timedelta(days=30)  # rows older than this are forgotten
STALE = dt.timedelta(minutes=5)  # a "holding" row unchanged this long: its holder died
# A mail another station held or refused this recently is being moved by that station: two
# IMAP sessions moving one message at once can both copy it (two in the folder).
MOVING = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class Taken:
    """A mail as the ledger remembers it."""

    key: str
    sender: str
    owner: str
    state: str
    jobs: tuple[int, ...]
    received_at: dt.datetime
    holder: str = ""
    updated_at: dt.datetime | None = None


def _taken(row: MailMessage) -> Taken:
    jobs = tuple(int(j) for j in row.jobs.split(",") if j)
    return Taken(
        row.key, row.sender, row.owner, row.state, jobs, row.received_at, row.holder,
        row.updated_at,
    )  # fmt: skip


class Ledger:
    """The `mail_messages` rows of `store`, written as `holder` (the station), on `clock`."""

    def __init__(self, store: Store, holder: str = "", clock: Callable[[], dt.datetime] = utcnow):
        self.store = store
        self.holder = holder[:128]
        self.clock = clock

    def someone_elses(self, taken: Taken) -> bool:
        """Whether another station is holding `taken`'s jobs right now (its row changed
        less than STALE ago)."""
        if taken.state != HOLDING or taken.holder == self.holder or taken.updated_at is None:
            return False
        return self.clock() - taken.updated_at < STALE

    def being_moved(self, taken: Taken) -> bool:
        """Whether another station held or refused `taken` less than MOVING ago, and so is
        moving it out of the folder now (after that, anyone moves it: that station died
        between the two)."""
        if taken.state not in (HELD, REFUSED) or taken.holder == self.holder:
            return False
        return taken.updated_at is not None and self.clock() - taken.updated_at < MOVING

    def find(self, key: str) -> Taken | None:
        with self.store.read() as session:
            row = session.scalars(select(MailMessage).where(MailMessage.key == key)).first()
            return _taken(row) if row is not None else None

    def sent_this_hour(self, sender: str) -> int:
        """How many mails `sender` sent in the last hour (refused ones too)."""
        since = self.clock() - dt.timedelta(hours=1)
        query = select(func.count()).where(
            MailMessage.sender == sender, MailMessage.received_at > since
        )
        with self.store.read() as session:
            return int(session.scalar(query) or 0)

    def begin(self, key: str, sender: str, owner: str) -> Taken | None:
        """Remember a mail whose jobs are about to be held; None when another station
        remembered it first (it takes the mail)."""
        try:
            return self._add(key, sender, owner, HOLDING, "", claim=True)
        except StoreError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                return None
            raise

    def refused(self, key: str, sender: str, reason: str) -> Taken:
        """Remember a mail refused for `reason` (the reason as the sender was told)."""
        return self._add(key, sender, "", REFUSED, reason)

    def _add(
        self, key: str, sender: str, owner: str, state: str, reason: str, claim: bool = False
    ) -> Taken:
        now = self.clock()
        with self.store.write() as session:
            row = session.scalars(select(MailMessage).where(MailMessage.key == key)).first()
            if row is not None and not claim:  # a mail taken up before, decided again
                row.state, row.reason, row.holder, row.updated_at = state, reason, self.holder, now
                return _taken(row)
            row = MailMessage(
                key=key, sender=sender[:320], owner=owner[:320], holder=self.holder,
                state=state, jobs="", reason=reason, received_at=now, updated_at=now,
            )  # fmt: skip
            session.add(row)
            session.flush()
            return _taken(row)

    def add_job(self, key: str, job_id: int) -> None:
        """Record that one more job of the mail is held."""
        with self.store.write() as session:
            row = session.scalars(select(MailMessage).where(MailMessage.key == key)).one()
            row.jobs = ",".join(filter(None, [row.jobs, str(int(job_id))]))
            row.updated_at = self.clock()

    def held(self, key: str) -> None:
        """Every job of the mail is held (and its PIN sent where one was due)."""
        with self.store.write() as session:
            row = session.scalars(select(MailMessage).where(MailMessage.key == key)).one()
            # the station that held it moves it (one that took over a dead one's mail too)
            row.state, row.holder, row.updated_at = HELD, self.holder, self.clock()

    def forget_old(self) -> int:
        """Forget mails older than KEEP (their mail has long left the inbox)."""
        with self.store.write() as session:
            gone = session.execute(
                delete(MailMessage).where(MailMessage.received_at < self.clock() - KEEP)
            )
            return int(getattr(gone, "rowcount", 0) or 0)
