# SPDX-License-Identifier: GPL-3.0-or-later
"""Owner resolution: the real owner of a job cupsd knows under a generic name.

A job owned by one of `[owners] generic_names` (anonymous, lp, guest, nobody, root, ...)
belongs to, in this order: the user its PJL header names, the user `title_regex` finds in
its title, `fallback_user`; otherwise to nobody, and then nobody can release it (the station
never guesses). Names are put in the directory's form (releasestation.owner_names); a
generic name found in a header does not count.

The answer is stored per job (table job_owners) when the job watcher first sees it, so a
swipe reads it back instead of fetching documents. A job whose document could not be read
is not stored and is tried again next time.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, delete, select
from sqlalchemy.exc import IntegrityError

from readers import clean
from releasestation.directory.local import LOCAL_SOURCES
from releasestation.errors import PrintServerError, StoreError
from releasestation.owner_names import NameForm, fold
from releasestation.printq.spool import document_head
from releasestation.release.models import JobOwner
from releasestation.release.pjl import pjl_user
from releasestation.store import users as store_users

if TYPE_CHECKING:
    import datetime as dt

    from sqlalchemy.orm import Session

    from releasestation.config import OwnerSettings
    from releasestation.directory import User
    from releasestation.owner_names import MatcherSource, OwnerMatcher
    from releasestation.printq import HeldJob, PrintServer
    from releasestation.store import Store

log = logging.getLogger(__name__)

_owners = JobOwner.__table__.c
# The swipe's question, built once (a plain query: no ORM work, no statement built afresh)
_RESOLVED_TO = select(_owners.job_id, _owners.job_created).where(
    _owners.server == bindparam("server"), _owners.owner == bindparam("owner")
)


def server_key(server: str) -> str:
    """How jobs of the cupsd at `server` (`[cups] server`) are named in the store: its
    address, or for a local domain socket the host name too (every host has its own
    /run/cups/cups.sock)."""
    return f"{socket.gethostname()}:{server}" if server.startswith("/") else server


@dataclass(frozen=True)
class Resolution:
    owner: str | None  # in the directory's form; None: unowned
    source: str  # pjl | title | fallback | none


class OwnerResolver:
    """Resolves and stores the owners of generic-owner jobs (`server`: server_key)."""

    _lock = threading.Lock()  # the watcher and the release worker store answers

    def __init__(
        self,
        store: Store,
        printq: PrintServer,
        settings: OwnerSettings,
        matcher: MatcherSource,
        server: str,
    ):
        self.store = store
        self.printq = printq
        self.settings = settings
        self.matcher = matcher
        self._form: tuple[OwnerMatcher, NameForm] | None = None
        self.generic = {fold(n) for n in settings.generic_names}
        self.title = re.compile(settings.title_regex) if settings.title_regex else None
        self.server = server

    @property
    def form(self) -> NameForm:
        """Names in the directory's form, for the station's domains and realms as now known."""
        matcher = self.matcher()
        if self._form is None or self._form[0] is not matcher:
            self._form = (matcher, NameForm.from_settings(self.settings, matcher))
        return self._form[1]

    def is_generic(self, owner: str) -> bool:
        return fold(owner.strip()) in self.generic

    # -- resolving one job ----------------------------------------------------------------
    def resolve(self, job: HeldJob) -> Resolution:
        """Who owns `job`; PrintServerError when its document cannot be read."""
        if self.settings.pjl:
            head = document_head(
                self.printq, job, self.settings.pjl_max_bytes, self.settings.spool_dir
            )
            found = self._usable(pjl_user(head))
            if found:
                return Resolution(found, "pjl")
        found = self._usable(self._from_title(job.title))
        if found:
            return Resolution(found, "title")
        found = self._usable(self.settings.fallback_user)
        if found:
            return Resolution(found, "fallback")
        return Resolution(None, "none")

    def _from_title(self, title: str) -> str | None:
        match = self.title.search(title) if self.title and title else None
        if match is None:
            return None
        if "user" in match.re.groupindex:
            return match.group("user")
        return match.group(1) if match.re.groups else match.group(0)

    def _usable(self, name: str | None) -> str | None:
        normal = self.form.normalise(name)
        if normal is None or self.is_generic(normal) or self.is_generic(name or ""):
            return None
        return normal

    # -- stored answers -------------------------------------------------------------------
    def owners_of(self, jobs: Sequence[HeldJob]) -> dict[int, str | None]:
        """Job id -> resolved owner for the generic-owner `jobs`, resolving (and storing)
        those not resolved yet. A job whose document cannot be read now maps to None."""
        jobs = [job for job in jobs if self.is_generic(job.owner)]
        if not jobs:
            return {}
        stored = self._stored([job.id for job in jobs])
        out: dict[int, str | None] = {}
        for job in jobs:
            row = stored.get(job.id)
            if row is not None and row[0] == int(job.created):
                out[job.id] = row[1]
            else:
                out[job.id] = self.resolve_and_store(job)
        return out

    def resolve_and_store(self, job: HeldJob) -> str | None:
        try:
            found = self.resolve(job)
        except PrintServerError as exc:
            log.warning("job %d of %s: owner not resolved now: %s", job.id, clean(job.owner), exc)
            return None
        self._store(job, found)
        log.info(
            "job %d of %s on %s: owner %s (%s)",
            job.id,
            clean(job.owner),
            job.queue,
            clean(found.owner or "not found, left unowned"),
            found.source,
        )
        return found.owner

    def _stored(self, ids: list[int]) -> dict[int, tuple[int, str | None]]:
        query = select(JobOwner.job_id, JobOwner.job_created, JobOwner.owner).where(
            JobOwner.server == self.server, JobOwner.job_id.in_(ids)
        )
        with self.store.read() as session:
            return {job_id: (created, owner) for job_id, created, owner in session.execute(query)}

    def _store(self, job: HeldJob, found: Resolution) -> None:
        with self._lock:
            try:
                with self.store.write() as session:
                    session.execute(
                        delete(JobOwner).where(
                            JobOwner.server == self.server, JobOwner.job_id == job.id
                        )
                    )
                    session.add(
                        JobOwner(
                            server=self.server,
                            job_id=job.id,
                            job_created=int(job.created),
                            cups_owner=job.owner[:256],
                            owner=found.owner,
                            source=found.source,
                        )
                    )
            except StoreError as exc:
                if not isinstance(exc.__cause__, IntegrityError):  # another station's answer
                    raise

    def forget_except(self, held_ids: set[int], older_than: dt.datetime) -> int:
        """Drop stored answers for jobs no longer held (resolved before `older_than`)."""
        with self.store.write() as session:
            rows = session.execute(
                select(JobOwner.id, JobOwner.job_id).where(
                    JobOwner.server == self.server, JobOwner.resolved_at < older_than
                )
            ).all()
            gone = [row_id for row_id, job_id in rows if job_id not in held_ids]
            if gone:
                session.execute(delete(JobOwner).where(JobOwner.id.in_(gone)))
        return len(gone)

    # -- whose jobs -----------------------------------------------------------------------
    def resolved_to(self, username: str, session: Session | None = None) -> list[tuple[int, int]]:
        """(job id, time of creation) of the jobs of this cupsd resolved to `username`.

        Looked up in the store (the job watcher resolves each new job within
        `watch_every_seconds`), so a swipe asks cupsd only about jobs that were resolved to
        this user (releasestation.release.held): on the swipe's hot path that is usually
        nothing at all.
        `session`: a read session of the caller's to use, else one of its own."""
        want = self.form.normalise(username)
        if want is None:
            return []
        if session is None:
            with self.store.read() as own:
                return self.resolved_to(username, own)
        found = session.execute(_RESOLVED_TO, {"server": self.server, "owner": want})
        return [(job_id, created) for job_id, created in found]

    def username_of(self, job: HeldJob, resolved: str | None = None) -> str:
        """The name to audit and bill `job` under: its resolved owner, else cupsd's owner
        as the station matches it (DOMAIN\\alice -> alice)."""
        if resolved:
            return resolved
        return self.matcher().base_name(job.owner) or job.owner


def cost_center_of(
    store: Store, username: str | None, user: User | None = None, session: Session | None = None
) -> str | None:
    """The user's cost center now: from the directory entry given, else the store's row
    (read in `session` when the caller has one open; a plain read, so changes the session
    has not flushed yet are not seen)."""
    if user is not None and (user.cost_center or user.source in LOCAL_SOURCES):
        return user.cost_center  # a local user's came from its store row already
    if not username:
        return None
    if session is None:
        with store.read() as own:
            return cost_center_of(store, username, user, own)
    row = store_users.stored_user(session, username)
    return row.cost_center if row is not None else None
