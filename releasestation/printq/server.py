# SPDX-License-Identifier: GPL-3.0-or-later
"""PrintServer: everything the station asks of cupsd — the only code that talks to CUPS.

Reads (held jobs, one job, queue state) go through `ipp.IppClient`: unauthenticated IPP
requests that name their printer, their which-jobs and their requesting-user-name. The swipe
hot path asks, per owner-name variant, for that owner's held jobs (`my-jobs`); cupsd filters
(case-insensitively) and returns a handful of jobs, never the whole queue.

Releases and moves (and the document names a swipe's releases need) are PrintServer's base
class, releasestation.printq.releases, which says how each is sent and what an unanswered one
means; a swipe's releases overlap on the helper threads of `submit`. Both are built on
releasestation.printq.connections (the per-thread IPP clients, the helper threads, the
one-job read). Cancel, a
document's head and cupsd.conf go through a pycups `cups.Connection` as the station, retried
once on a fresh connection when cupsd went away. A document submitted for a user
(`submit_held`) is Print-Job on a fresh connection that never authenticates, so the job is
the user's (releasestation.printq.submission).

Each thread gets its own connections (libcups state is per thread; sharing a Connection
across threads crashes). A read that fails because cupsd went away is retried once on a
fresh connection. Every failure surfaces as PrintServerError naming the server and the
job or queue.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import cups

from readers import clean
from releasestation.errors import PrintServerError
from releasestation.owner_names import fold
from releasestation.printq import ipp, submission
from releasestation.printq.checks import LOCAL_SOCKETS, installed_cupsd_version, run_check
from releasestation.printq.failures import Forbidden, _Hidden, _NotFound
from releasestation.printq.jobs import (
    HELD,
    JOB_ATTRIBUTES,
    HeldJob,
    from_attributes,
    printer_uri,
)
from releasestation.printq.policy import Station, parse_policies, policy_problems
from releasestation.printq.releases import ALL_PRINTERS, Releases

log = logging.getLogger(__name__)

T = TypeVar("T")
LISTING_TIMEOUT = 120.0  # seconds a service's full listing may wait (held_jobs, patient)
STARTED = "time-at-processing"
LOCAL_CUPSD_CONF = Path("/etc/cups/cupsd.conf")
PRINTER_ATTRIBUTES = (
    "printer-name",
    "printer-state",
    "printer-state-reasons",
    "printer-state-message",
    "printer-is-accepting-jobs",
    "printer-op-policy",
    "job-hold-until-default",
)
_ENCRYPTION = {
    "never": cups.HTTP_ENCRYPT_NEVER,
    "if-requested": cups.HTTP_ENCRYPT_IF_REQUESTED,
    "required": cups.HTTP_ENCRYPT_REQUIRED,
}
# IPP statuses libcups reports when the connection, not the request, failed.
_CONNECTION_STATUSES = {cups.IPP_INTERNAL_ERROR, cups.IPP_SERVICE_UNAVAILABLE}


@dataclass(frozen=True)
class ProcessingJob:
    """A job cupsd is printing now: `started` is its time-at-processing (epoch seconds)."""

    id: int
    owner: str
    queue: str
    started: float


@dataclass(frozen=True)
class FinishedJob:
    """A job cupsd has finished with: `state` completed, canceled or aborted, and `pages` its
    job-impressions-completed (the pages the backend said came out)."""

    id: int
    state: str
    pages: int


FINISHED_STATES = {
    cups.IPP_JOB_COMPLETED: "completed",
    cups.IPP_JOB_CANCELED: "canceled",
    cups.IPP_JOB_ABORTED: "aborted",
}
PAGES = "job-impressions-completed"


class PrintServer(Releases):
    """The station's view of one cupsd: held jobs, release, cancel, queue health, check."""

    # -- held jobs -----------------------------------------------------------------------

    def held_jobs_for(self, queues: Sequence[str], names: Sequence[str]) -> list[HeldJob]:
        """Held jobs on `queues` owned by any of `names` (as cupsd compares them), oldest
        first: one Get-Jobs per distinct name (my-jobs, which-jobs=pending-held). Every job
        is checked again here, so a job of someone else is never returned.
        """
        wanted = {fold(n) for n in names if n}
        found: dict[int, HeldJob] = {}
        for name in _distinct(names):
            for job in self._held(ALL_PRINTERS, requesting=name, mine=True):
                if fold(job.owner) in wanted and _on(job, queues):
                    found[job.id] = job
        return sorted(found.values(), key=lambda j: j.id)

    def held_jobs(self, queues: Sequence[str], patient: bool = False) -> list[HeldJob]:
        """Every held job on `queues` (admin listing, expiry), oldest first.

        One Get-Jobs per queue. cupsd checks its policy for every job it lists (a user
        lookup each: ~0.3 ms a job here, seconds for 10,000 jobs, during which it answers
        nobody else), so the daemon lists whole queues rarely: once per housekeeping round
        and when the job watcher resynchronises. It cannot be done in pages: cupsd lists
        jobs by priority before id, so `first-job-id` cannot say where a page ended.

        `patient` (the daemon's services, never a person waiting): wait up to
        LISTING_TIMEOUT for the answer rather than `[cups] timeout_seconds`. cupsd makes
        the whole answer even for a caller that gave up, and one that gave up asks again:
        eight stations starting at once on 20,000 held jobs each gave up on listings
        queued behind the others' and kept cupsd busy for three minutes."""
        jobs: list[HeldJob] = []
        for queue in _distinct(queues):
            listed = self._held(printer_uri(queue), self.account, patient=patient)
            jobs += [j for j in listed if _on(j, [queue])]
        return sorted(jobs, key=lambda j: j.id)

    def held_since(self, first_id: int, queues: Sequence[str]) -> list[HeldJob]:
        """Held jobs on `queues` whose id is `first_id` or above (the job watcher's poll:
        cupsd skips the older jobs before checking its policy for them, so this is light).
        Asked per queue: cupsd shows owners by the policy of the printer asked about, and
        its DefaultPolicy (for all printers at once) may hide them from the station."""
        found: list[HeldJob] = []
        for queue in _distinct(queues):
            uri = printer_uri(queue)
            attributes = self._held_request(uri, self.account, first_id=first_id)
            jobs = (from_attributes(a) for a in self._held_groups(uri, attributes))
            found += [j for j in jobs if j is not None and j.state == HELD and _on(j, [queue])]
        return sorted(found, key=lambda j: j.id)

    def job(self, job_id: int) -> HeldJob | None:
        """Job `job_id` in any state (for reconciliation); None if cupsd has forgotten it."""
        try:
            return self._job_now(job_id)
        except _Hidden:
            return None

    def finished_jobs(self, job_ids: Iterable[int]) -> list[FinishedJob]:
        """Those of `job_ids` cupsd has finished with, and their pages; one Get-Job-Attributes
        each. A job still pending or printing, or forgotten by cupsd, is left out."""
        found = []
        for job_id in job_ids:
            try:
                groups = self._read(
                    f"job {job_id}",
                    cups.IPP_OP_GET_JOB_ATTRIBUTES,
                    [
                        (cups.IPP_TAG_URI, "job-uri", f"ipp://localhost/jobs/{int(job_id)}"),
                        (cups.IPP_TAG_NAME, "requesting-user-name", self.account),
                        (cups.IPP_TAG_KEYWORD, "requested-attributes", ["job-state", PAGES]),
                    ],
                )
            except _NotFound:
                continue
            for attrs in ipp.groups_of(groups, cups.IPP_TAG_JOB):
                state = FINISHED_STATES.get(attrs.get("job-state"))
                pages = attrs.get(PAGES)
                if state is not None:
                    found.append(FinishedJob(job_id, state, pages if isinstance(pages, int) else 0))
        return found

    def processing_jobs(self, queues: Sequence[str]) -> list[ProcessingJob]:
        """Jobs being printed on `queues` now (few: one Get-Jobs per queue), oldest first."""
        found: list[ProcessingJob] = []
        for queue in _distinct(queues):
            uri = printer_uri(queue)
            attributes: list[tuple[int, str, ipp.Value]] = [
                (cups.IPP_TAG_URI, "printer-uri", uri),
                (cups.IPP_TAG_NAME, "requesting-user-name", self.account),
                (cups.IPP_TAG_KEYWORD, "which-jobs", "processing"),
                (cups.IPP_TAG_KEYWORD, "requested-attributes", [*JOB_ATTRIBUTES, STARTED]),
            ]
            for attrs in self._held_groups(uri, attributes):
                job = from_attributes(attrs)
                if job is None or job.state != cups.IPP_JOB_PROCESSING or not _on(job, [queue]):
                    continue
                started = attrs.get(STARTED)
                when = float(started) if isinstance(started, int) and started > 0 else 0.0
                found.append(ProcessingJob(job.id, job.owner, job.queue, when))
        return sorted(found, key=lambda j: j.id)

    def _held(
        self, uri: str, requesting: str, mine: bool = False, patient: bool = False
    ) -> list[HeldJob]:
        attributes = self._held_request(uri, requesting, mine=mine)
        jobs = (from_attributes(a) for a in self._held_groups(uri, attributes, patient))
        return [j for j in jobs if j is not None and j.state == HELD]

    def held_job_attributes(self, queue: str, patient: bool = False) -> list[dict[str, Any]]:
        """The raw IPP attributes of every held job on `queue`, as the station sees them
        (`patient`: see held_jobs)."""
        uri = printer_uri(queue)
        return self._held_groups(uri, self._held_request(uri, self.account), patient)

    @staticmethod
    def _held_request(
        uri: str, requesting: str, mine: bool = False, first_id: int = 0
    ) -> list[tuple[int, str, ipp.Value]]:
        attributes: list[tuple[int, str, ipp.Value]] = [
            (cups.IPP_TAG_URI, "printer-uri", uri),
            (cups.IPP_TAG_NAME, "requesting-user-name", requesting),
            (cups.IPP_TAG_KEYWORD, "which-jobs", "pending-held"),
            (cups.IPP_TAG_KEYWORD, "requested-attributes", list(JOB_ATTRIBUTES)),
        ]
        if mine:
            attributes.append((cups.IPP_TAG_BOOLEAN, "my-jobs", True))
        if first_id:
            attributes.append((cups.IPP_TAG_INTEGER, "first-job-id", first_id))
        return attributes

    def _held_groups(
        self, uri: str, attributes: list[tuple[int, str, ipp.Value]], patient: bool = False
    ) -> list[dict]:
        wait = max(LISTING_TIMEOUT, self.settings.timeout_seconds) if patient else None
        try:
            groups = self._read(f"held jobs on {uri}", cups.IPP_OP_GET_JOBS, attributes, wait)
        except _NotFound:
            return []
        return ipp.groups_of(groups, cups.IPP_TAG_JOB)

    # -- queues ----------------------------------------------------------------------------

    def printer_problem(self, queue: str) -> str | None:
        """None when `queue` accepts jobs and is neither stopped nor in error; else why not."""
        attrs = self.queue_attributes(queue)
        if attrs is None:
            return "no such queue"
        reasons = _as_list(attrs.get("printer-state-reasons"))
        errors = [r for r in reasons if r.endswith("-error")]
        message = str(attrs.get("printer-state-message") or "").strip()
        if attrs.get("printer-state") == cups.IPP_PRINTER_STOPPED:
            return f"stopped ({message or ', '.join(reasons) or 'no reason given'})"
        if errors:
            return f"in error ({', '.join(errors)}{'; ' + message if message else ''})"
        if not attrs.get("printer-is-accepting-jobs", True):
            return "not accepting jobs"
        return None

    def queue_exists(self, queue: str) -> bool:
        return self.queue_attributes(queue) is not None

    def queue_holds(self, queue: str) -> bool:
        """True when `queue` holds every new job (job-hold-until-default=indefinite)."""
        attrs = self.queue_attributes(queue)
        return attrs is not None and attrs.get("job-hold-until-default") == "indefinite"

    def queue_attributes(
        self, queue: str, attributes: Sequence[str] = PRINTER_ATTRIBUTES
    ) -> dict[str, Any] | None:
        """State, policy and hold default of `queue` (or the printer `attributes` asked
        for); None if there is no such queue."""
        try:
            groups = self._read(
                f"queue {queue}",
                cups.IPP_OP_GET_PRINTER_ATTRIBUTES,
                [
                    (cups.IPP_TAG_URI, "printer-uri", printer_uri(queue)),
                    (cups.IPP_TAG_NAME, "requesting-user-name", self.account),
                    (cups.IPP_TAG_KEYWORD, "requested-attributes", list(attributes)),
                ],
            )
        except _NotFound:
            return None
        printers = ipp.groups_of(groups, cups.IPP_TAG_PRINTER)
        return printers[0] if printers else None

    # -- writes ----------------------------------------------------------------------------

    def document_head(self, job: HeldJob, limit: int) -> bytes:
        """The first `limit` bytes of `job`'s first document, fetched with
        CUPS-Get-Document on the station's authenticated connection. The temporary copy
        libcups writes is removed at once: documents are private."""
        uri = printer_uri(job.queue)
        got = self._write(
            f"fetching the document of job {job.id}", lambda c: c.getDocument(uri, job.id, 1)
        )
        path = str(got.get("file", ""))
        if not path:
            raise PrintServerError(f"cupsd at {self.server}: job {job.id} has no document")
        try:
            with open(path, "rb") as handle:
                return handle.read(limit)
        except OSError as exc:
            raise PrintServerError(f"job {job.id}: cannot read its document: {exc}") from None
        finally:
            Path(path).unlink(missing_ok=True)

    def submit_held(
        self,
        queue: str,
        owner: str,
        title: str,
        data: bytes | BinaryIO,
        mime: str,
        copies: int = 1,
        sides: str | None = None,
        color: str | None = None,
        pages: int | None = None,
    ) -> int:
        """Submit `data` (bytes, or a seekable binary file from where it stands) of type
        `mime` to `queue` as a held job owned by `owner`, titled `title`, of `pages` pages
        when known; its job id.

        Print-Job on a fresh connection that never authenticates, so that cupsd takes the
        owner from requesting-user-name (an authenticated connection would make it the
        station's job); the document streams after the request. `sides` and `color`
        (print-color-mode) are sent only when given. Names and options are made safe or
        refused by releasestation.printq.submission; PrintServerError names the queue."""
        what = f"submitting a job of {owner!r} to {queue}"
        try:
            operation, job = submission.print_job_request(
                queue, owner, title, mime, copies, sides, color, pages
            )
        except ValueError as exc:
            raise PrintServerError(f"cupsd at {self.server}: {what}: {exc}") from None
        s = self.settings
        client = ipp.IppClient(s.server, s.encryption, s.timeout_seconds, s.ca_file)
        try:
            job_id = submission.print_job(client, operation, job, data)
        except ipp.IppError as exc:
            raise PrintServerError(f"cupsd at {self.server}: {what}: {exc}") from None
        except OSError as exc:
            raise PrintServerError(f"cupsd at {self.server} unreachable ({what}): {exc}") from None
        finally:
            client.close()
        log.debug("job %d of %s held on %s (%s)", job_id, clean(owner), queue, mime)
        return job_id

    def cancel(self, job_id: int, purge: bool = True) -> None:
        self._write(f"cancelling job {job_id}", lambda c: c.cancelJob(job_id, purge_job=purge))

    # -- check -----------------------------------------------------------------------------

    def check(
        self, queues: Sequence[str], printer: str | None = None, owners: Sequence[str] = ()
    ) -> list[str]:
        """Problems for `releasestation check`; an empty list when all is well.

        cupsd must answer; each queue must exist and hold by default; the op-policy of each
        queue (and of the follow-me `printer`) must limit Release-Job, Set-Job-Attributes,
        Restart-Job and CUPS-Move-Job to the station's authenticated account and show it
        job owners and titles. The policy is read from cupsd.conf as cupsd serves it
        (/admin/conf/cupsd.conf, which needs an @SYSTEM account), else from the local
        /etc/cups/cupsd.conf when cupsd is local; held jobs whose owner still comes back
        hidden are reported as well.
        """
        return run_check(self, queues, printer, owners)

    def local_cupsd_version(self) -> str | None:
        """The Debian version of this machine's cupsd when the server is that cupsd (its
        standard socket, or a private cupsd's own socket, as the demo's, which runs the same
        binary); else None."""
        if not self.server.startswith("/"):  # a domain socket is this machine's
            return None
        return installed_cupsd_version()

    def cupsd_conf(self) -> str:
        """cupsd.conf as cupsd serves it to an administrator; PrintServerError if refused."""
        with tempfile.TemporaryFile(prefix="rs-cupsd-conf-") as out:
            self._write(
                "reading /admin/conf/cupsd.conf",
                lambda c: c.getFile("/admin/conf/cupsd.conf", fd=out.fileno()),
            )
            out.seek(0)
            return out.read().decode("utf-8", "replace")

    def local_cupsd_conf(self) -> str | None:
        """/etc/cups/cupsd.conf, when the server is this machine's own cupsd and it is
        readable (a cupsd on another socket or host has a cupsd.conf of its own)."""
        if self.server not in LOCAL_SOCKETS:
            return None
        try:
            return LOCAL_CUPSD_CONF.read_text("utf-8", "replace")
        except OSError:
            return None

    def station(self) -> Station:
        return Station.local(self.account)

    def policy_text_problems(self, conf: str, names: Iterable[str]) -> list[str]:
        policies = parse_policies(conf)
        problems = []
        for name in sorted(set(names)):
            policy = policies.get(name)
            if policy is None:
                problems.append(f"cupsd.conf at {self.server} has no <Policy {name}>")
            else:
                problems += policy_problems(policy, self.station())
        return problems

    # -- connections -------------------------------------------------------------------------

    def _write(self, what: str, call: Callable[[cups.Connection], T]) -> T:
        self._local.password_given = False
        try:
            try:
                return call(self._connection())
            except (cups.IPPError, cups.HTTPError, RuntimeError) as exc:
                if not _connection_lost(exc):
                    raise
                log.info("cupsd at %s: connection lost (%s); reconnecting", self.server, exc)
                self._local.connection = None
                self._local.password_given = False
                return call(self._connection())
        except (cups.IPPError, cups.HTTPError, RuntimeError) as exc:
            forbidden = isinstance(exc, cups.HTTPError) and exc.args[:1] == (cups.HTTP_FORBIDDEN,)
            error = Forbidden if forbidden else PrintServerError
            raise error(f"cupsd at {self.server}: {what}: {_describe(exc)}") from None

    def _connection(self) -> cups.Connection:
        local = self._local
        if getattr(local, "connection", None) is None or local.generation != self._generation:
            # setUser is per thread: this thread's requests are the station's.
            cups.setUser(self.account)
            cups.setPasswordCB2(self._password_callback)
            host, port = ipp.split_server(self.server)
            encryption = _ENCRYPTION[self.settings.encryption]
            local.connection = cups.Connection(host=host, port=port, encryption=encryption)
            local.generation = self._generation
        connection: cups.Connection = local.connection
        return connection

    def _password_callback(self, *_args: object) -> str:
        # Never prompt on a terminal: without a configured password, give up at once. The
        # password is given once per request: libcups asks again after cupsd refused it,
        # for ever (two seconds a try, cupsd's PAM delay), and "" makes it give up.
        if getattr(self._local, "password_given", False):
            return ""
        self._local.password_given = True
        return self._password or ""


def _distinct(names: Iterable[str]) -> list[str]:
    """`names` without repeats, compared as cupsd compares owner and queue names (ASCII
    case only: `karl` and `\u212aarl` are two names)."""
    seen: dict[str, str] = {}
    for name in names:
        if name:
            seen.setdefault(fold(name), name)
    return list(seen.values())


def _on(job: HeldJob, queues: Iterable[str]) -> bool:
    return job.queue.casefold() in {q.casefold() for q in queues}


def _as_list(value: object) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _connection_lost(exc: Exception) -> bool:
    if isinstance(exc, RuntimeError):
        return True
    if isinstance(exc, cups.IPPError):
        return bool(exc.args) and exc.args[0] in _CONNECTION_STATUSES
    return False


def _describe(exc: Exception) -> str:
    if isinstance(exc, cups.IPPError) and len(exc.args) == 2:
        status, message = exc.args
        return f"{message} (IPP status 0x{status:04x})"
    if isinstance(exc, cups.HTTPError) and exc.args:
        if exc.args[0] == cups.HTTP_AUTHORIZATION_CANCELED:
            return (
                "cupsd did not accept the station's account: [cups] user and password"
                " (or, on the domain socket, the account the process runs as)"
            )
        if exc.args[0] == cups.HTTP_FORBIDDEN:
            return "HTTP status 403: the station's account may not do this"
        return f"HTTP status {exc.args[0]}"
    return str(exc) or type(exc).__name__
