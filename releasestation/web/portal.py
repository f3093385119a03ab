# SPDX-License-Identifier: GPL-3.0-or-later
"""What a logged-in user does in the portal, on the station's parts: list their held jobs,
release one, cancel one, send a document. The HTML pages and the JSON API both call this.

A job id is looked up among the user's own held jobs (every owner-name form the station
matches, and generic-owner jobs resolved to them): another user's job is "not found",
exactly as a job that does not exist. Releasing goes through the Releaser, so a web
release is claimed and audited as a swipe is (method "web") and refused, with the reason,
when the printer is stopped or in error. A cancel is audited too.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from releasestation.audit import Event
from releasestation.errors import DocumentRefused
from releasestation.submit import DocumentLimits

if TYPE_CHECKING:
    from releasestation.config import WebSettings
    from releasestation.directory import User
    from releasestation.printq import HeldJob
    from releasestation.submit import PrintOptions
    from releasestation.web.parts import WebParts

log = logging.getLogger(__name__)

WEB: Final = "web"  # the way, in the audit trail
SIDES = {
    "one-sided": "One-sided",
    "two-sided-long-edge": "Two-sided (long edge, like a book)",
    "two-sided-short-edge": "Two-sided (short edge, like a notepad)",
}
COLORS = {"color": "Colour", "monochrome": "Black and white"}


class Refused(Exception):
    """What the user asked cannot be done; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class JobView:
    """One held job as the portal shows it (times in UTC; `title` None when the privacy
    settings hide titles)."""

    id: int
    title: str | None
    pages: int | None
    queue: str
    submitted: dt.datetime
    expires: dt.datetime | None
    owner: str = ""

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "title": self.title,
            "pages": self.pages,
            "queue": self.queue,
            "submitted": _iso(self.submitted),
            "expires": _iso(self.expires) if self.expires else None,
        }


@dataclass(frozen=True)
class Sent:
    """A document the portal submitted: held as job `id` on `queue` (`title` None when
    titles are hidden)."""

    id: int
    title: str | None
    pages: int | None
    queue: str

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "title": self.title, "pages": self.pages, "queue": self.queue}


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


class Portal:
    """The portal's actions for one station's `parts` and `[web]` `settings`."""

    def __init__(self, parts: WebParts, settings: WebSettings):
        self.parts = parts
        self.settings = settings

    def view(self, job: HeldJob, admin: bool = False) -> JobView:
        """`job` as the portal shows it: to its owner, or with `admin` to an admin (who
        sees no titles when the audit keeps none either, `[audit] keep_titles = no`)."""
        submitted = dt.datetime.fromtimestamp(job.created, dt.UTC)
        hours = self.parts.station.hold_hours
        expires = submitted + dt.timedelta(hours=hours) if hours else None
        title = job.title if self.shows_titles(admin) else None
        return JobView(job.id, title, job.pages, job.queue, submitted, expires, job.owner)

    def shows_titles(self, admin: bool = False) -> bool:
        """Whether job titles are shown (`[web] show_titles`; to admins, also only when
        `[audit] keep_titles`)."""
        shown = self.settings.show_titles
        return shown and (self.parts.audit.keep_titles or not admin)

    def jobs(self, username: str) -> list[JobView]:
        """`username`'s held jobs on the station's hold queues, oldest first."""
        return [self.view(job) for job in self.parts.releaser.held_jobs_for(username)]

    def job(self, username: str, job_id: int) -> HeldJob:
        """`username`'s held job `job_id`; Refused 404 when it is not theirs or not held."""
        for job in self.parts.releaser.held_jobs_for(username):
            if job.id == job_id:
                return job
        raise Refused(404, f"You have no held job {job_id}.")

    def release(self, username: str, job_id: int, printer: str | None = None) -> JobView:
        """Release `username`'s held job `job_id` to the station's printer (or its own
        queue), or to `printer`, one of `[web] release_printers`, as a swipe would;
        Refused with the reason when it cannot be."""
        if not self.settings.web_release:
            raise Refused(403, "This station releases jobs only at the printer, not here.")
        target = self.release_printer(printer)
        job = self.job(username, job_id)
        user = self._user(username)
        outcome = self.parts.releaser.release_user_jobs(user, WEB, only={job.id}, printer=target)
        if outcome.refused:
            raise Refused(409, f"Not released: {outcome.refused}.")
        if outcome.failed:
            _, error = outcome.failed[0]
            raise Refused(502, f"Not released: the print server refused ({error}).")
        if outcome.in_doubt:
            raise Refused(
                502,
                "Sent to the print server, whose answer never came: it may print. The station "
                "settles it once the print server answers; look at My jobs in a minute.",
            )
        if not outcome.released:
            raise Refused(409, "Not released: it was printed, cancelled or expired meanwhile.")
        return self.view(job)

    def release_printer(self, printer: str | None) -> str | None:
        """`printer` as `[web] release_printers` spells it; None (the station's printer)
        when not given; Refused 400 when it is not one of the list."""
        if not printer:
            return None
        for name in self.settings.release_printers:
            if name.casefold() == printer.strip().casefold():
                return name
        raise Refused(400, f"{printer[:64]} is not a printer this station releases to.")

    def cancel(self, username: str, job_id: int) -> JobView:
        """Cancel and purge `username`'s held job `job_id`; audited."""
        job = self.job(username, job_id)
        self.parts.printq.cancel(job.id)
        self.parts.audit.record(
            Event(
                "cancel",
                method=WEB,
                username=username,
                queue=job.queue,
                job_id=job.id,
                title=job.title,
                pages=job.pages,
            )
        )
        log.info("web: %s cancelled job %d on %s", username, job.id, job.queue)
        return self.view(job)

    def upload(self, username: str, data: bytes, filename: str, options: PrintOptions) -> Sent:
        """Check `data` (releasestation.submit: type by content, pages, `max_upload_mb`)
        and submit it held on the station's first hold queue as `username`'s job, audited;
        Refused 422 with the checker's reason when it is not a document the station prints
        (nothing is submitted then)."""
        limits = DocumentLimits(
            max_bytes=self.settings.max_upload_bytes, convert_office=self.settings.convert_office
        )
        try:
            checked = self.parts.check_document(data, filename, limits)
        except DocumentRefused as exc:
            log.info("web: a document of %s refused: %s", username, exc.reason)
            raise Refused(422, f"This document cannot be printed: {exc.reason}.") from None
        user = self._user(username)
        submitter = self.parts.submitter
        job_id = submitter.submit(user, checked, WEB, options)
        title = checked.title if self.shows_titles() else None
        return Sent(job_id, title, checked.pages, submitter.queue)

    def _user(self, username: str) -> User:
        """The user as the directory has them now (cost center, still enabled)."""
        user = self.parts.directory.user_by_name(username)
        if user is None:
            raise Refused(403, "Your account is not (or no longer) enabled on this station.")
        return user
