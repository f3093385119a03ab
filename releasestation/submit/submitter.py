# SPDX-License-Identifier: GPL-3.0-or-later
"""Submitter: a checked document becomes a held job owned by the user it is for, audited.

It checks nothing itself: it takes a CheckedDocument (releasestation.submit.documents).
The job goes to the station's first hold queue, owned by the user's name as the station
matches owners (releasestation.owner_names): the plain user name, which is one of the
names HeldJobs looks for, so the user's next swipe finds it. One audit row per submission,
event "submit", method "web" or "mail", the job id, title, pages and MIME type (detail);
a submission cupsd refused is audited as "failed" with the reason. A job whose audit row
cannot be written is cancelled again: no job enters the queue here unaudited.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from releasestation.audit import Event
from releasestation.errors import PrintServerError
from releasestation.printq.submission import COLOR_MODES, MAX_COPIES, SIDES, job_name

if TYPE_CHECKING:
    from releasestation.audit import Audit
    from releasestation.config import StationSettings
    from releasestation.directory import User
    from releasestation.printq import PrintServer
    from releasestation.submit.documents import CheckedDocument

log = logging.getLogger(__name__)

Via = Literal["web", "mail"]
WAYS = ("web", "mail")


@dataclass(frozen=True)
class PrintOptions:
    """What the sender chose: `copies`; `sides` (one-sided, two-sided-long-edge,
    two-sided-short-edge) and `color` (color, monochrome) only when chosen, else the
    printer's defaults. ValueError names a value that is not one of those."""

    copies: int = 1
    sides: str | None = None
    color: str | None = None

    def __post_init__(self) -> None:
        copies = self.copies
        if isinstance(copies, bool) or not isinstance(copies, int) or not 1 <= copies <= MAX_COPIES:
            raise ValueError(f"copies must be a whole number from 1 to {MAX_COPIES}")
        if self.sides is not None and self.sides not in SIDES:
            raise ValueError(f"sides must be one of {', '.join(SIDES)}")
        if self.color is not None and self.color not in COLOR_MODES:
            raise ValueError(f"color must be one of {', '.join(COLOR_MODES)}")


class Submitter:
    """Submits checked documents as held jobs on `station`'s first hold queue."""

    def __init__(self, printq: PrintServer, audit: Audit, station: StationSettings):
        self.printq = printq
        self.audit = audit
        self.station = station

    @property
    def queue(self) -> str:
        return self.station.hold_queues[0]

    @staticmethod
    def owner_of(user: User) -> str:
        """The owner name a job of `user` is submitted under."""
        return user.username.strip()

    def submit(
        self,
        user: User,
        document: CheckedDocument,
        via: Via = "web",
        options: PrintOptions | None = None,
    ) -> int:
        """Submit `document` for `user`, held; its job id. PrintServerError (audited) when
        cupsd refuses it; StoreError when it cannot be audited (the job is cancelled)."""
        if via not in WAYS:
            raise ValueError(f"via must be one of {', '.join(WAYS)}, not {via!r}")
        options = options or PrintOptions()
        queue, owner, title = self.queue, self.owner_of(user), job_name(document.title)
        base = Event(
            "submit", method=via, username=user.username, queue=queue, title=title,
            pages=document.pages, detail=_detail(document),
        )  # fmt: skip
        try:
            job_id = self.printq.submit_held(
                queue, owner, title, document.data, document.mime,
                copies=options.copies, sides=options.sides, color=options.color,
                pages=document.pages,
            )  # fmt: skip
        except PrintServerError as exc:
            self.audit.record(dataclasses.replace(base, outcome="failed", detail=str(exc)))
            log.warning("%s: could not submit a document of %s: %s", via, user.username, exc)
            raise
        try:
            self.audit.record(dataclasses.replace(base, job_id=job_id))
        except BaseException:
            with contextlib.suppress(PrintServerError):
                self.printq.cancel(job_id)
            raise
        log.info(
            "%s: job %d of %s held on %s (%s, %s pages, %d bytes)", via, job_id, owner, queue,
            document.mime, document.pages if document.pages is not None else "?", document.size,
        )  # fmt: skip
        return job_id


def _detail(document: CheckedDocument) -> str:
    if document.converted_from:
        return f"{document.mime}, converted from {document.converted_from}"
    return document.mime
