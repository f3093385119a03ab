# SPDX-License-Identifier: GPL-3.0-or-later
"""MailPrint: each new mail in the mailbox, from fetch to held jobs, a PIN and a move.

For each message in `folder`, oldest first:

1. Read it (BODY.PEEK[]), find its sender and its key (releasestation.mailprint.message).
2. Already in the ledger (releasestation.mailprint.ledger)? "held" or "refused": it is
   only moved, to `processed_folder` or `failed_folder` (the service stopped after
   deciding and before moving). "holding": the service stopped while holding its jobs;
   it goes on from step 4 with the jobs already held.
3. Refused, with nothing held, when: it is larger than any mail it accepts (only its
   header is read); it has no single From address; a machine sent it;
   `require_authentication_results` and the station's mail server does not vouch for the
   sender; the sender sent `max_messages_per_hour` already; the sender may not print
   (releasestation.mailprint.senders); it has no attachment (and no body to print), more
   than `max_attachments`, or any attachment the document checks refuse
   (releasestation.submit.check_document: the same as the web portal's). The refusal is
   remembered, answered (releasestation.mailprint.reply) when the sender is a person who
   can be told, audited (event "submit", outcome "refused", method "mail") and the mail
   moved to `failed_folder`.
4. A visitor is served by the visitors' flow (releasestation.lifecycle.visitors), once per
   mail, before any job of theirs exists: the PIN goes out now, and its credentials are
   committed before the daemon's job watcher can see a job to serve them for, so the
   watcher finds them current and sends no second PIN (were it first, both would mail).
5. Remembered as "holding", with the owner of its jobs.
6. Each document not yet held is submitted as a held job of the sender's user, titled with
   its file name (releasestation.submit.Submitter, audited "submit" by "mail"), and its job
   id remembered at once.
7. Remembered as "held"; then, and only then, moved to `processed_folder`.

A job whose id was not yet remembered when the service stopped (cupsd took it, the
database had not) is found again among the owner's held jobs on the hold queue by its title
and its age, and adopted instead of being held twice.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import TYPE_CHECKING

from releasestation.audit import Event
from releasestation.errors import DocumentRefused, ReleaseStationError
from releasestation.mailprint import message as mail
from releasestation.mailprint.heartbeat import EVERY, ONCE, SERVICE, Heartbeat, Pulse
from releasestation.mailprint.ledger import HELD, REFUSED, Ledger, Taken
from releasestation.mailprint.mailbox import Mailbox, MailboxError
from releasestation.mailprint.reply import send_refusal
from releasestation.mailprint.senders import Sender, Senders
from releasestation.owner_names import fold
from releasestation.printq.submission import job_name
from releasestation.submit import CheckedDocument, DocumentLimits, check_document

if TYPE_CHECKING:
    from releasestation.audit import Audit
    from releasestation.credentials.settings import CredgenSettings
    from releasestation.directory import User
    from releasestation.lifecycle.visitors import Visitors
    from releasestation.mailprint.settings import MailprintSettings
    from releasestation.printq import PrintServer
    from releasestation.submit import Submitter

log = logging.getLogger(__name__)

TEXT = "text/plain"
ADOPT_SLACK = 5.0  # seconds: a job this much older than its mail's row may still be its own
MAX_BACKOFF = 60.0
FORGET_EVERY = 3600.0  # seconds between clearing out the ledger's old rows


@dataclass
class Outcome:
    """What became of one mail: "held", "refused", "moved" (decided before), "retry" (left
    for later), "busy" (another station is taking it) or "failed" (it tripped a bug: moved
    to the failed folder)."""

    uid: int
    state: str
    jobs: list[int] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Decision:
    """A new mail decided: its sender and documents, or the reasons it is refused and
    whether the sender is told."""

    sender: Sender | None = None
    documents: tuple[CheckedDocument, ...] = ()
    reasons: tuple[str, ...] = ()
    answer: bool = False


class MailPrint:
    """Takes mail from the mailbox `open_mailbox` opens and holds it as jobs."""

    def __init__(
        self,
        settings: MailprintSettings,
        open_mailbox: Callable[[], Mailbox],
        ledger: Ledger,
        senders: Senders,
        submitter: Submitter,
        printq: PrintServer,
        visitors: Visitors,
        audit: Audit,
        credgen: CredgenSettings,
        heartbeat: Callable[[Heartbeat], None] | None = None,
    ):
        """`heartbeat` records what the service says of its mailbox for the station's
        monitoring (releasestation.mailprint.heartbeat); None records nothing."""
        self.settings = settings
        self.heartbeat = heartbeat
        self.open_mailbox = open_mailbox
        self.ledger = ledger
        self.senders = senders
        self.submitter = submitter
        self.printq = printq
        self.visitors = visitors
        self.audit = audit
        self.credgen = credgen
        self.limits = DocumentLimits(
            max_bytes=settings.max_bytes, convert_office=settings.convert_office
        )
        self.stop_event = threading.Event()
        self.rounds = 0
        self.pulse = Pulse(None, SERVICE, 0.0)
        self._forgotten_at = -FORGET_EVERY  # old mails are forgotten at the first round

    # -- the service ----------------------------------------------------------------------------
    def run(self, once: bool = False) -> int:
        """Take mail until stopped (or one round, `once`); the exit code: 0, or 1 when a
        mail had to be left for later, or 3 when the mailbox could not be used (`once`)."""
        s = self.settings
        # the longest between two records: an IDLE, a poll or a back-off, then EVERY
        wait = max(s.idle_seconds, s.poll_seconds, MAX_BACKOFF) + EVERY
        self.pulse = Pulse(self.heartbeat, ONCE if once else SERVICE, wait)
        try:
            code = self._run(once)
        except (KeyboardInterrupt, SystemExit):
            self.pulse.stopped()
            raise
        except BaseException as exc:
            self.pulse.crashed(exc)
            raise
        self.pulse.stopped()
        return code

    def _run(self, once: bool) -> int:
        backoff, failing = 1.0, False
        while not self.stop_event.is_set():
            try:
                with self.open_mailbox() as box:
                    while not self.stop_event.is_set():
                        outcomes = self.round(box)
                        self.pulse.answered(round_done=True)
                        if failing:  # only a whole round says it works again
                            log.info("mailprint: the mailbox answers again")
                            failing, backoff = False, 1.0
                        if once:
                            return 1 if any(o.state == "retry" for o in outcomes) else 0
                        if any(o.state == "retry" for o in outcomes):
                            self.stop_event.wait(self.settings.poll_seconds)  # cupsd, the store
                        elif not self._arrived_meanwhile(box, outcomes):
                            box.wait(self.stop_event)
                            self.pulse.answered()
            except (MailboxError, ReleaseStationError) as exc:
                if isinstance(exc, MailboxError):
                    self.pulse.failed(exc)
                if once:
                    log.error("mailprint: %s", exc)
                    return 3 if isinstance(exc, MailboxError) else 1
                if not failing:
                    log.error("mailprint: %s (trying again)", exc)
                failing = True
                self.stop_event.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
        return 0

    def _arrived_meanwhile(self, box: Mailbox, outcomes: list[Outcome]) -> bool:
        """Whether mail came while the round took its mails: the server told of it in the
        answers to the round's commands (which imaplib keeps to itself), so an IDLE begun
        now would not hear of it again."""
        taken = {outcome.uid for outcome in outcomes}
        return bool(set(box.uids()) - taken)

    def stop(self) -> None:
        self.stop_event.set()

    def round(self, box: Mailbox) -> list[Outcome]:
        """Every message in the folder now, taken one by one."""
        self.rounds += 1
        outcomes = []
        for uid in box.uids():
            if self.stop_event.is_set():
                break
            try:
                outcome = self.take(box, uid)
            except ReleaseStationError:
                raise
            except Exception:  # a mail that trips a bug must not stop every mail after it
                log.exception("mailprint: message %d failed: moved to %s, not answered", uid,
                              self.settings.failed_folder)  # fmt: skip
                box.move(uid, self.settings.failed_folder)
                outcome = Outcome(uid, "failed")
            if outcome is not None:
                outcomes.append(outcome)
            self.pulse.answered()
        if time.monotonic() - self._forgotten_at > FORGET_EVERY:
            with contextlib.suppress(ReleaseStationError):
                self.ledger.forget_old()
                self._forgotten_at = time.monotonic()
        return outcomes

    # -- one mail -------------------------------------------------------------------------------
    def take(self, box: Mailbox, uid: int) -> Outcome | None:
        size = box.size(uid)
        too_big = size is not None and size > self.settings.max_message_bytes
        raw = box.fetch(uid, header_only=too_big)
        if raw is None:
            return None
        message = mail.parse(raw)
        sender = mail.sender_of(message)
        key = mail.key_of(message, sender or "", raw)
        taken = self.ledger.find(key)
        if taken is not None and self.ledger.being_moved(taken):
            log.info("mailprint: message %d was %s by %s a moment ago: left to it to move",
                     uid, taken.state, taken.holder)  # fmt: skip
            return Outcome(uid, "busy")
        if taken is not None and taken.state in (HELD, REFUSED):
            folder = self._folder(taken.state)
            log.info("mailprint: message %d was %s before: moved to %s", uid, taken.state, folder)
            box.move(uid, folder)
            return Outcome(uid, "moved", list(taken.jobs))
        if taken is not None and self.ledger.someone_elses(taken):
            log.info("mailprint: message %d is being taken by %s", uid, taken.holder)
            return Outcome(uid, "busy")
        decision = self.decide(message, sender, resumed=taken is not None, too_big=too_big)
        user = decision.sender.user if decision.sender is not None else None
        if user is None or decision.sender is None:
            return self._refuse(box, uid, key, message, sender, decision)
        if decision.sender.visitor:
            self._serve_visitor(user)
        try:
            jobs = self._hold(key, taken, sender or "", user, decision.documents)
        except ReleaseStationError as exc:
            log.error("mailprint: message %d from %s left for later: %s", uid, sender, exc)
            return Outcome(uid, "retry", reasons=[str(exc)])
        if jobs is None:
            log.info("mailprint: message %d is being taken by another station", uid)
            return Outcome(uid, "busy")
        self.ledger.held(key)
        box.move(uid, self.settings.processed_folder)
        log.info("mailprint: message %d from %s: %d job(s) held for %s", uid, sender,
                 len(jobs), user.username)  # fmt: skip
        return Outcome(uid, "held", jobs)

    def decide(
        self,
        message: EmailMessage,
        sender: str | None,
        resumed: bool = False,
        too_big: bool = False,
    ) -> Decision:
        """Who sent `message` and what of it to print, or why nothing (`too_big`: only
        its header was read)."""
        if sender is None:
            return Decision(reasons=("the mail has no single From address",))
        machine = mail.machine_sent(message, sender)
        if machine:
            return Decision(reasons=(f"sent by a machine ({machine})",))
        s = self.settings
        if s.require_authentication_results and not mail.authenticated(
            message, s.authserv_id, sender
        ):
            why = f"{s.authserv_id} does not vouch that it comes from {sender}"
            return Decision(reasons=(why,))
        if not resumed and s.max_messages_per_hour:
            sent = self.ledger.sent_this_hour(sender)
            if sent >= s.max_messages_per_hour:
                limit = s.max_messages_per_hour
                why = f"more than {limit} mails from {sender} within an hour"
                return Decision(reasons=(why,), answer=sent == limit)
        who = self.senders.who(sender)
        if who.user is None:
            return Decision(reasons=(who.refused,), answer=True)
        if too_big:
            most = self.settings.max_message_bytes / (1024 * 1024)
            return Decision(reasons=(f"the mail is larger than {most:.0f} MB",), answer=True)
        documents, refused = self._documents(message)
        if refused:
            return Decision(reasons=tuple(refused), answer=True)
        return Decision(who, tuple(documents))

    def _documents(self, message: EmailMessage) -> tuple[list[CheckedDocument], list[str]]:
        attachments = mail.attachments_of(message)
        documents: list[CheckedDocument] = []
        refused: list[str] = []
        if len(attachments) > self.settings.max_attachments:
            most = self.settings.max_attachments
            return [], [f"{len(attachments)} attachments: at most {most} are printed per mail"]
        for attachment in attachments:
            name = mail.subject_of(message) if not attachment.filename else attachment.filename
            try:
                documents.append(check_document(attachment.data, name, self.limits))
            except DocumentRefused as exc:
                refused.append(f"{job_name(name)}: {exc}")
        body = mail.body_text(message) if self.settings.print_body else ""
        if body and not refused:
            data = body.encode("utf-8")
            if len(data) > self.limits.max_bytes:
                refused.append("the mail's text: too long to print")
            else:
                title = mail.subject_of(message) or "mail"
                documents.append(CheckedDocument(TEXT, None, len(data), title, data))
        if not documents and not refused:
            refused.append("the mail has no attachment to print (PDF, PNG, JPEG or PostScript)")
        return documents, refused

    # -- held ------------------------------------------------------------------------------------
    def _hold(
        self,
        key: str,
        taken: Taken | None,
        sender: str,
        user: User,
        documents: Sequence[CheckedDocument],
    ) -> list[int] | None:
        """Hold every document of the mail not held yet; the job ids, in order (None when
        another station claimed the mail first)."""
        resumed = taken is not None
        if taken is None:
            taken = self.ledger.begin(key, sender, self.submitter.owner_of(user))
            if taken is None:
                return None
        jobs = list(taken.jobs)
        pending = list(documents[len(jobs) :])
        if resumed and pending:  # a fresh mail has no job cupsd took unremembered
            for job_id in self._adopt(taken, user.username, pending, jobs):
                self.ledger.add_job(key, job_id)
                jobs.append(job_id)
                pending.pop(0)
        for document in pending:
            job_id = self.submitter.submit(user, document, via="mail")
            self.ledger.add_job(key, job_id)
            jobs.append(job_id)
        return jobs

    def _adopt(
        self, taken: Taken, owner: str, pending: Sequence[CheckedDocument], known: list[int]
    ) -> list[int]:
        """Jobs of this mail cupsd took before their ids were remembered: held jobs of
        `owner` on the hold queue, made after the mail's row, titled as the next documents."""
        since = taken.received_at.timestamp() - ADOPT_SLACK
        held = [
            job
            for job in self.printq.held_jobs([self.submitter.queue])
            if fold(job.owner) == fold(owner) and job.created >= since and job.id not in known
        ]
        held.sort(key=lambda job: job.id)
        adopted: list[int] = []
        for document, job in zip(pending, held, strict=False):
            if job.title != job_name(document.title):
                break
            log.info("mailprint: job %d was held before the service stopped: adopted", job.id)
            adopted.append(job.id)
        return adopted

    def _serve_visitor(self, user: User) -> None:
        try:
            self.visitors.arrived(user.username)
        except ReleaseStationError as exc:
            log.error("mailprint: visitor %s not served: %s", user.username, exc)

    # -- refused ---------------------------------------------------------------------------------
    def _refuse(
        self,
        box: Mailbox,
        uid: int,
        key: str,
        message: EmailMessage,
        sender: str | None,
        decision: Decision,
    ) -> Outcome:
        reasons = list(decision.reasons)
        self.ledger.refused(key, sender or "", "; ".join(reasons))
        log.warning("mailprint: message %d from %s refused: %s", uid, sender or "(no sender)",
                    "; ".join(reasons))  # fmt: skip
        with contextlib.suppress(ReleaseStationError):
            self.audit.record(
                Event(
                    "submit",
                    outcome="refused",
                    method="mail",
                    username=sender,
                    detail="; ".join(reasons)[:500],
                )
            )
        if decision.answer and sender and self.settings.reply:
            send_refusal(self.credgen, sender, message, reasons)
        box.move(uid, self.settings.failed_folder)
        return Outcome(uid, "refused", reasons=reasons)

    def _folder(self, state: str) -> str:
        return self.settings.processed_folder if state == HELD else self.settings.failed_folder
