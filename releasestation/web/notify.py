# SPDX-License-Identifier: GPL-3.0-or-later
"""`[web] notify_by_mail`: a mail to the user when a job they sent from the portal printed
or failed.

Completion is what the station already records: once cupsd has finished a released job,
the daemon's housekeeping appends a "printed" audit row with how the job ended
(releasestation.lifecycle.pages). Every `interval` seconds the portal looks for such rows
of this station whose job was submitted from the web ("submit", way "web") and that have no
"notify" row yet; for each it mails the user (the `[credgen]` mail settings, the address
the directory has, else the one `[credgen]` makes from the name) and appends a "notify"
row (outcome sent, failed or no-address) in the same transaction, under a lock, so each
job gets at most one mail, from one station, even when several portals share a database.

No mail storm: a job gets one mail whatever happens (a mail that fails is not retried),
at most `BATCH` mails go out a round over one SMTP connection, and only jobs that finished
after the portal started (less a grace of `GRACE`) and within the last `WINDOW` are
mailed, so turning the setting on does not mail about last week.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import TYPE_CHECKING

from sqlalchemy import and_, select

from releasestation.audit import AUDIT, PRINTED, Event
from releasestation.credentials import plan
from releasestation.credentials.mail import Mailer, MailError, MailServerError, message
from releasestation.errors import ReleaseStationError
from releasestation.store.models import utcnow

if TYPE_CHECKING:
    from sqlalchemy.engine import Row

    from releasestation.audit import Audit
    from releasestation.credentials.settings import CredgenSettings
    from releasestation.directory import Directory
    from releasestation.store import Store

log = logging.getLogger(__name__)

NOTIFY = "notify"  # the audit event of a mail sent (or not) about a job
LOCK = "web-notify"
WEB = "web"
BATCH = 20
WINDOW = dt.timedelta(hours=6)
GRACE = dt.timedelta(minutes=15)
ENDINGS = {
    "completed": "has printed",
    "canceled": "was cancelled before it printed completely",
    "aborted": "failed: the printer could not print it",
}


def due(store: Store, station: str, since: dt.datetime, limit: int = BATCH) -> list[Row]:
    """ "printed" rows of `station` since `since` for jobs submitted from the web, with no
    "notify" row yet, oldest first: (job_id, username, queue, printer, outcome, pages)."""
    c = AUDIT.c
    submitted = select(c.job_id).where(
        c.event == "submit", c.method == WEB, c.station == station, c.at >= since - WINDOW
    )
    notified = select(c.job_id).where(c.event == NOTIFY, c.station == station, c.at >= since)
    query = (
        select(c.job_id, c.username, c.queue, c.printer, c.outcome, c.pages)
        .where(and_(c.event == PRINTED, c.station == station, c.at >= since))
        .where(c.job_id.in_(submitted), c.job_id.not_in(notified))
        .order_by(c.id)
        .limit(limit)
    )
    with store.read() as session:
        return list(session.execute(query).all())


class JobMails:
    """Mails users about their web jobs' endings (see the module docstring); `start()` runs
    it every `interval` seconds in a thread of the portal's process, `stop()` ends it."""

    def __init__(
        self,
        store: Store,
        audit: Audit,
        directory: Directory,
        credgen: CredgenSettings,
        interval: float = 10.0,
    ):
        self.store = store
        self.audit = audit
        self.directory = directory
        self.credgen = credgen
        self.interval = interval
        self.started = utcnow()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.started = utcnow()
        self._thread = threading.Thread(target=self._run, name="web-job-mails", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.step()
            except ReleaseStationError as exc:  # the database or the mail server: next round
                log.warning("web: job mails not sent this round: %s", exc)
            except Exception:
                log.exception("web: job mails failed this round")

    def step(self, now: dt.datetime | None = None) -> int:
        """Mail the users of the jobs due now; how many mails went out."""
        now = now or utcnow()
        since = max(now - WINDOW, self.started - GRACE)
        rows = due(self.store, self.audit.station, since)
        if not rows:
            return 0
        sent = 0
        with Mailer(self.credgen) as mailer:
            for row in rows:
                sent += self._one(row, since, mailer)
        return sent

    def _one(self, row: Row, since: dt.datetime, mailer: Mailer) -> int:
        """Mail about one job and record it, once (checked again under the lock)."""
        with self.store.write() as session:
            self.store.lock(session, LOCK)
            c = AUDIT.c
            again = select(c.id).where(
                c.event == NOTIFY, c.station == self.audit.station, c.job_id == row.job_id,
                c.at >= since,
            )  # fmt: skip
            if session.execute(again.limit(1)).first() is not None:
                return 0
            outcome, detail = self._send(row, mailer)
            event = Event(NOTIFY, outcome, WEB, row.username, queue=row.queue,
                          printer=row.printer, job_id=row.job_id, detail=detail)  # fmt: skip
            self.audit.record_in(session, [event])
        return 1 if outcome == "sent" else 0

    def _send(self, row: Row, mailer: Mailer) -> tuple[str, str | None]:
        user = self.directory.user_by_name(row.username or "")
        address = plan.recipient(self.credgen, user) if user is not None else ""
        if not address:
            return "no-address", None
        ending = ENDINGS.get(row.outcome, f"ended ({row.outcome})")
        where = row.printer or row.queue
        pages = f" ({row.pages} page{'s' if row.pages != 1 else ''})" if row.pages else ""
        text = (
            f"Hello {user.display_name or user.username},\n\n"  # type: ignore[union-attr]
            f"The job {row.job_id} you sent from the print portal{pages} {ending} on "
            f"{where}.\n"
        )
        subject = f"Your print job {row.job_id} {ending.split(':')[0]}"
        try:
            mailer.send(message(self.credgen, address, subject, text, html_body=False))
        except MailServerError:
            raise
        except MailError as exc:
            log.warning("web: no mail to %s about job %s: %s", row.username, row.job_id, exc)
            return "failed", str(exc)[:200]
        log.info("web: mailed %s that job %s %s", row.username, row.job_id, ending)
        return "sent", None
