# SPDX-License-Identifier: GPL-3.0-or-later
"""Releases: PrintServer's write path (releasestation.printq.server), as its base class.

Releases (Set-Job-Attributes job-hold-until=no-hold) and moves (CUPS-Move-Job) go through
an IppClient as reads do, a writer connection per thread authenticated as the station's account
(PeerCred on the domain socket; Basic with `[cups] password` over the network), so that
`[cups] timeout_seconds` bounds each (libcups would wait for as long as the connection
lasts). Each is sent once: a release whose answer never comes (the connection ended, the
time ran out, the answer was not IPP) is not a failure, since cupsd may have carried it
out. What cupsd then shows of the job decides: still held where it was, the request is sent
once more (safe: the job is held); no longer held there, it was done; cupsd cannot be asked
either, ReleaseInDoubt, and the job's claim stays until cupsd answers.

A swipe's releases overlap: all but the first go out at once from a few helper threads
(`submit`), each on its own connection. cupsd still serves them one at a time, but it no
longer waits for the station between them (docs/cups.md has the figures).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TypeVar

import cups

from readers import clean
from releasestation.errors import PrintServerError
from releasestation.printq import docname, ipp
from releasestation.printq.connections import Connections
from releasestation.printq.failures import _NotFound
from releasestation.printq.jobs import HELD, HeldJob, printer_uri

log = logging.getLogger(__name__)

T = TypeVar("T")
ALL_PRINTERS = "ipp://localhost/printers/"
DOCUMENT_NAME_REQUEST = ["job-id", docname.DOCUMENT_NAME]
_ASK = object()  # release(): the document name is not known yet
# job-state names, for logs and audit details
CANCELLED, ABORTED = 7, 8
STATE_NAMES = {3: "pending", 5: "processing", 6: "stopped", 7: "cancelled", 8: "aborted",
                9: "completed"}  # fmt: skip


class Releases(Connections):
    """Release and move held jobs: the write path of PrintServer, which inherits it; built
    on the station's connections to cupsd (releasestation.printq.connections)."""

    def release(
        self, job: HeldJob, printer: str | None = None, document_name: object = _ASK
    ) -> None:
        """Print `job`: first move it to `printer` (it stays held there), then un-hold it.
        `document_name` is the job's document-name-supplied when the caller has it
        (`document_names`); else it is asked for (see `_unhold`).

        Each request is sent once (`_change`): when its answer does not come, what cupsd
        shows of the job decides. ReleaseInDoubt when cupsd cannot be asked either (the job
        may be printing); NoAnswer when it took the request twice without answering and the
        job is still held; PrintServerError for cupsd's refusal, or when it cannot be
        reached (nothing was sent)."""
        where = printer or job.queue
        moved = where.casefold() != job.queue.casefold()
        if moved:
            what = f"moving job {job.id} from {job.queue} to {where}"
            seen = self._change(what, job, job.queue, lambda: self._move(what, job, where))
            if seen is not None and not _held_on(seen.job, where):
                self._done_without_answer(what, job, seen.job)  # released (or raises)
                return
        try:
            self._unhold(job, where, document_name)
        except ReleaseInDoubt:
            raise  # where the job is, nobody knows: it is not moved back
        except PrintServerError:
            if moved:  # back to its hold queue, where the next swipe (or expiry) finds it
                with contextlib.suppress(PrintServerError, _Unanswered):
                    what = f"moving job {job.id} back to {job.queue}"
                    self._move(what, job, job.queue)
            raise
        log.debug("released job %d of %s to %s", job.id, clean(job.owner), where)

    def _unhold(self, job: HeldJob, where: str, name: object) -> None:
        """Un-hold `job`, held on `where`, with a Set-Job-Attributes job-hold-until=no-hold;
        a document name that would crash cupsd is renamed in the same request
        (releasestation.printq.docname)."""
        what = f"releasing job {job.id} on {where}"
        if name is _ASK:
            name = self._document_name(job.id, what)
        renamed = docname.safe_document_name(str(name)) if docname.crashes_cupsd(name) else None
        if renamed is not None:
            log.debug("job %d: document name renamed before release (white space)", job.id)
        operation, attributes = docname.release_request(job.id, self.account, renamed)
        seen = self._change(
            what,
            job,
            where,
            lambda: self._send(what, cups.IPP_OP_SET_JOB_ATTRIBUTES, operation, attributes),
        )
        if seen is not None:
            self._done_without_answer(what, job, seen.job)

    def _move(self, what: str, job: HeldJob, queue: str) -> None:
        """CUPS-Move-Job of `job` to `queue` (a held job stays held there)."""
        self._send(
            what,
            cups.IPP_OP_CUPS_MOVE_JOB,
            [
                (cups.IPP_TAG_URI, "job-uri", f"ipp://localhost/jobs/{int(job.id)}"),
                (cups.IPP_TAG_NAME, "requesting-user-name", self.account),
            ],
            [(cups.IPP_TAG_URI, "job-printer-uri", printer_uri(queue))],
        )

    def _change(
        self, what: str, job: HeldJob, held_on: str, send: Callable[[], None]
    ) -> _Seen | None:
        """`send()` a write that changes `job`, held on `held_on`; None once cupsd answered.

        When the answer does not come (_Unanswered), cupsd is asked what became of the job
        (`_look`): still held on `held_on` means the write was not carried out, so it is
        sent once more (that is safe: the job is held); otherwise the job as cupsd shows it
        now is returned. NoAnswer when both went unanswered and the job is still held."""
        for attempt in (1, 2):
            try:
                send()
                return None
            except _Unanswered as exc:
                problem = f"cupsd at {self.server}: {what}: {exc}"
            now = self._look(job, problem)
            if not _held_on(now, held_on):
                return _Seen(now)
            if attempt == 1:
                log.warning("%s; job %d is still held on %s: sent again", problem, job.id, held_on)
        raise NoAnswer(f"{problem}, twice; job {job.id} is still held on {held_on}")

    def _look(self, job: HeldJob, problem: str) -> HeldJob | None:
        """`job` as cupsd shows it now (None: cupsd has forgotten it, or reused its id),
        after a write whose answer never came; ReleaseInDoubt when cupsd cannot say."""
        try:
            now = self._job_now(job.id)
        except PrintServerError as exc:
            raise ReleaseInDoubt(
                f"{problem}; cupsd cannot say what became of job {job.id} either ({exc}): it "
                "may be printing, and is settled once cupsd answers"
            ) from None
        if now is not None and int(now.created) != int(job.created):
            return None  # the id is another job's now: ours is gone
        return now

    def _done_without_answer(self, what: str, job: HeldJob, now: HeldJob | None) -> None:
        """After a write whose answer never came: return when `now` (the job as cupsd shows
        it) says that it was released; PrintServerError when it is held elsewhere."""
        if now is not None and now.state == HELD:
            raise PrintServerError(
                f"cupsd at {self.server}: {what}: no answer, and the job is now held on "
                f"{now.queue}: not released"
            )
        state = "gone from cupsd" if now is None else STATE_NAMES.get(now.state, str(now.state))
        if now is not None and now.state in (CANCELLED, ABORTED):  # as settling audits it
            raise PrintServerError(
                f"cupsd at {self.server}: {what}: no answer, and the job is now {state}"
            )
        log.warning("cupsd at %s: %s: no answer; job %d is %s", self.server, what, job.id, state)

    def _send(
        self,
        what: str,
        operation: int,
        attributes: list[tuple[int, str, ipp.Value]],
        job: list[tuple[int, str, ipp.Value]] | None = None,
    ) -> None:
        """One write on this thread's writer connection, authenticated as the station
        (docname.authorization: PeerCred on a domain socket, Basic with `[cups] password`
        over the network, else none, as libcups first sends it), bounded by `[cups]
        timeout_seconds` and never sent twice. PrintServerError for cupsd's answer that it
        did not do it, and when cupsd could not be reached (nothing was sent);
        _Unanswered when the request went out and no answer came."""
        client = self._reader(writer=True)
        auth = docname.authorization(self.server, self.account, self._password)
        try:
            client.ready()
        except OSError as exc:
            raise PrintServerError(f"cupsd at {self.server} unreachable ({what}): {exc}") from None
        try:
            client.request(operation, attributes, job=job or (), authorization=auth, resend=False)
        except ipp.IppDecodeError as exc:  # something came, but not cupsd's answer
            raise _Unanswered(str(exc)) from None
        except ipp.IppError as exc:
            refusal = self._refusal(exc)
            raise PrintServerError(f"cupsd at {self.server}: {what}: {refusal}") from None
        except OSError as exc:
            raise _Unanswered(self._silence(exc)) from None

    def _refusal(self, exc: ipp.IppError) -> str:
        """cupsd's refusal of a write, with what to do about it when it is about who asks."""
        if exc.status == 401 and self.server.startswith("/"):
            return (
                f"{exc}: cupsd did not take the station's account {self.account!r} (PeerCred):"
                " [cups] user must be the account the station runs as"
            )
        if exc.status == 401 and not self._password:
            return (
                f"{exc}: cupsd wants the station to authenticate: set [cups] user and password"
                " (or password_file), with encryption = required"
            )
        if exc.status == 401:
            return f"{exc}: cupsd refused [cups] user {self.account!r} with its password"
        return f"{exc} (IPP status 0x{exc.status:04x})" if exc.status > 0xFF else str(exc)

    def _silence(self, exc: OSError) -> str:
        if isinstance(exc, TimeoutError):
            seconds = self.settings.timeout_seconds
            return f"no answer within {seconds:g} s ([cups] timeout_seconds)"
        return f"no answer ({exc or type(exc).__name__})"

    def document_names(self, job_ids: Sequence[int]) -> dict[int, object]:
        """document-name-supplied of each of `job_ids` cupsd still has, in one Get-Jobs
        (`job-ids`) per hundred: a swipe asks once for all of its jobs, not once a job."""
        names: dict[int, object] = {}
        ids = sorted({int(i) for i in job_ids})
        for start in range(0, len(ids), 100):
            groups = self._read(
                f"document names of jobs {ids[start]}..",
                cups.IPP_OP_GET_JOBS,
                [
                    (cups.IPP_TAG_URI, "printer-uri", ALL_PRINTERS),
                    (cups.IPP_TAG_NAME, "requesting-user-name", self.account),
                    (cups.IPP_TAG_INTEGER, "job-ids", ids[start : start + 100]),
                    (cups.IPP_TAG_KEYWORD, "requested-attributes", DOCUMENT_NAME_REQUEST),
                ],
            )
            for attrs in ipp.groups_of(groups, cups.IPP_TAG_JOB):
                if isinstance(attrs.get("job-id"), int):
                    names[attrs["job-id"]] = attrs.get(docname.DOCUMENT_NAME)
        return names

    def _document_name(self, job_id: int, what: str) -> object:
        try:
            groups = self._read(
                what,
                cups.IPP_OP_GET_JOB_ATTRIBUTES,
                [
                    (cups.IPP_TAG_URI, "job-uri", f"ipp://localhost/jobs/{int(job_id)}"),
                    (cups.IPP_TAG_NAME, "requesting-user-name", self.account),
                    (cups.IPP_TAG_KEYWORD, "requested-attributes", [docname.DOCUMENT_NAME]),
                ],
            )
        except _NotFound:
            raise PrintServerError(f"cupsd at {self.server}: {what}: no such job") from None
        found = ipp.groups_of(groups, cups.IPP_TAG_JOB)
        return found[0].get(docname.DOCUMENT_NAME) if found else None

    def release_all(
        self, jobs: Sequence[HeldJob], printer: str | None = None
    ) -> list[PrintServerError | None]:
        """Release each of `jobs` (see release); for each, None or the error it met.

        They are released one at a time until one succeeds: that one starts on the printer
        first. The others then go out at once. When cupsd does not answer a release
        (ReleaseInDoubt, NoAnswer), the jobs not yet sent are not sent: each gets a
        PrintServerError saying so, and stays held. A printer takes its waiting jobs in
        cupsd's order (priority, then job id), so as long as the first is still printing
        when the others are released (as it is on a real printer), a person's jobs print
        in the order they were sent."""

        try:
            names = self.document_names([j.id for j in jobs]) if jobs else {}
        except _NotFound:
            names = {}  # one of them is gone (cupsd then answers for none): each asks
        except PrintServerError as exc:  # cupsd away or stalled: asking per job costs more
            return [self._not_sent(job, f"not sent: {exc}") for job in jobs]

        def one(job: HeldJob) -> PrintServerError | None:
            try:
                self.release(job, printer, names.get(job.id, _ASK))
            except PrintServerError as exc:
                return exc
            return None

        errors: list[PrintServerError | None] = []
        for job in jobs:
            errors.append(one(job))
            if errors[-1] is None or _silent(errors[-1]):
                break
        left = jobs[len(errors) :]
        if errors and _silent(errors[-1]):  # cupsd does not answer: the rest stay held
            why = f"not sent: cupsd did not answer for job {jobs[len(errors) - 1].id}"
            return [*errors, *(self._not_sent(job, why) for job in left)]
        if len(left) == 1:  # nothing to overlap with: no hand-over to a helper
            return [*errors, one(left[0])]
        rest = [self.submit(one, job) for job in left]
        return errors + [pending.result() for pending in _all_done(rest)]

    def _not_sent(self, job: HeldJob, why: str) -> PrintServerError:
        return PrintServerError(f"cupsd at {self.server}: releasing job {job.id}: {why}")


class ReleaseInDoubt(PrintServerError):
    """A release (or its move) went to cupsd, its answer never came, and cupsd could not be
    asked what became of the job: it may be printing. Neither released nor failed: the
    job's claim stays until cupsd says (releasestation.lifecycle.reconcile)."""


class NoAnswer(ReleaseInDoubt):
    """cupsd took a release (or its move) twice without answering, and the job is still
    held where it was: not released yet. In doubt all the same: cupsd may still read a
    request the station gave up on, after the look that found the job held, so the job's
    claim stays (and a move is not undone) until it is settled from what cupsd says."""


class _Unanswered(Exception):
    """A write went out and its answer did not come (the connection failed or ended, the
    time ran out, or what came was not IPP): cupsd may or may not have done it."""


@dataclass(frozen=True)
class _Seen:
    """A job as cupsd showed it after a write whose answer never came; None: gone."""

    job: HeldJob | None


def _all_done(futures: list[Future[T]]) -> list[Future[T]]:
    """`futures`, once every one of them has finished (so that none still runs when the
    caller raises the first one's error)."""
    for pending in futures:
        with contextlib.suppress(BaseException):
            pending.exception()
    return futures


def _held_on(job: HeldJob | None, queue: str) -> bool:
    return job is not None and job.state == HELD and job.queue.casefold() == queue.casefold()


def _silent(error: PrintServerError | None) -> bool:
    """True for a release cupsd did not answer (so that the rest are not sent)."""
    return isinstance(error, ReleaseInDoubt | NoAnswer)
