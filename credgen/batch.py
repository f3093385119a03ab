# SPDX-License-Identifier: GPL-3.0-or-later
"""`credgen batch`: credentials for every directory and local user who lacks them.

Users come from the directory (a paged search) and the store's local users (visitors are
served one by one, by `credgen user`). Filters and the recipient are applied first, then
`pin_length` is checked against the number of PIN holders the run leaves.

Nothing is half-done. With mail on, each user is one transaction: generate, store, send,
commit; a mail that cannot be sent rolls that user back. With mail off, nothing leaves the
process before the commit, so users are written `GROUP` at a time: a group that fails is
rolled back whole (nobody in it has been told anything) and then retried user by user.
Grouping matters on SQLite, whose durable commits (synchronous=FULL) cost a disk flush each.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from credgen.progress import Progress
from credgen.results import BatchResult
from credgen.statistics import Statistics
from releasestation.audit import Event
from releasestation.credentials import plan, records
from releasestation.credentials.batch_runs import BatchRun, ended_now, record_batch_run
from releasestation.credentials.codes import SpaceExhausted, check_pin_length
from releasestation.credentials.issuing import Issued, Issuer, Person
from releasestation.credentials.mail import Mailer, MailError, MailServerError, errors_message
from releasestation.credentials.one_user import failed, outage, outcome, warn_unusable_pins
from releasestation.credentials.results import UserResult
from releasestation.credentials.transact import in_transaction
from releasestation.directory import LocalDirectory, User
from releasestation.errors import ReleaseStationError, StoreError
from releasestation.store.models import utcnow

if TYPE_CHECKING:
    from releasestation.app import App

log = logging.getLogger(__name__)

GROUP = 500


def run_batch(
    app: App,
    dry_run: bool = False,
    *,
    clock: Callable[[], dt.datetime] = utcnow,
    progress: Progress | None = None,
) -> BatchResult:
    """Issue what the policy asks for to every matching user; see the module docstring.

    Raises ConfigError (pin_length too short), DirectoryError or StoreError when the run
    cannot start; per-user failures are in the result, as is a reason for stopping early.
    """
    settings = app.config.credgen
    started = time.monotonic()
    result = BatchResult(dry_run=dry_run)
    people = collect(app, result)
    check_space(app, people)
    warn_unusable_pins(app.config)
    with app.store.read() as session:
        used = {kind: records.digests_in_use(session, kind) for kind in ("pin", "cac")}
    issuer = Issuer(settings, app.hasher, clock, used)
    bar = progress or Progress(len(people))
    try:
        if dry_run:
            _dry_run(app, issuer, people, result, bar)
        elif settings.email_notifications:
            _mailing(app, issuer, people, result, bar)
        else:
            log.warning("email_notifications = no: new credentials are sent to nobody")
            _silent(app, issuer, people, result, bar)
    except SpaceExhausted as exc:
        result.aborted = str(exc)
    finally:
        bar.finish()
    result.seconds = time.monotonic() - started
    if not dry_run:
        report_errors(app, result)
        _record(app, result)
    return result


def _record(app: App, result: BatchResult) -> None:
    """Keep what this run did for the stations' metrics and status."""
    run = BatchRun(ended_now(), dict(result.kinds), len(result.failed), bool(result.aborted))
    try:
        record_batch_run(app.store, run)
    except ReleaseStationError as exc:
        log.warning("credgen: this run is not recorded for monitoring: %s", exc)


# -- who ------------------------------------------------------------------------------
def collect(app: App, result: BatchResult) -> list[Person]:
    """The users to work on: directory and local users, filtered, each with a recipient."""
    settings = app.config.credgen
    people: list[Person] = []
    seen: set[str] = set()
    for user in _everyone(app):
        person = Person(user, plan.recipient(settings, user))
        if person.key in seen or user.disabled or user.source == "visitor":
            continue
        seen.add(person.key)
        result.examined += 1
        if not plan.name_allowed(settings, user.username) or not plan.email_allowed(
            settings, person.email
        ):
            result.filtered += 1
        elif settings.email_notifications and not person.email:
            result.skipped["no e-mail address"] += 1
        else:
            people.append(person)
    return people


def _everyone(app: App) -> Iterator[User]:
    yield from app.directory.iter_users()
    if not isinstance(app.directory, LocalDirectory):
        yield from LocalDirectory(app.store, app.hasher).iter_users()


def check_space(app: App, people: Sequence[Person]) -> None:
    """ConfigError when pin_length is too short for the PIN holders after this run."""
    settings = app.config.credgen
    if not settings.generate_pin:
        return
    with app.store.read() as session:
        holders = records.pin_holders(session)
    check_pin_length(settings.pin_length, len(holders | {p.key for p in people}))


# -- the three ways through ---------------------------------------------------------------
def _groups(people: Sequence[Person], size: int) -> Iterator[Sequence[Person]]:
    iterator = iter(people)
    while group := list(itertools.islice(iterator, size)):
        yield group


def _dry_run(app, issuer: Issuer, people, result: BatchResult, bar: Progress) -> None:
    with app.store.read() as session:
        for group in _groups(people, GROUP):
            for decision in issuer.decide(session, group, create=False):
                result.add(outcome(decision, dry_run=True))
            bar.advance(len(group), result)


def _silent(app, issuer: Issuer, people, result: BatchResult, bar: Progress) -> None:
    statistics = Statistics(app.store)
    for group in _groups(people, GROUP):
        created = issuer.created
        try:
            outcomes = in_transaction(
                app.store, app.config.credgen, issuer, _group_writer(app, issuer, group)
            )
            statistics.grew(issuer.created - created)
        except StoreError as exc:
            if outage(exc):
                result.aborted = str(exc)
                return
            log.warning("a group of %d users failed (%s); trying one by one", len(group), exc)
            outcomes = _one_by_one(app, issuer, group, result)
        for each in outcomes:
            result.add(each)
            _audit_failure(app, each)
        bar.advance(len(group), result)
        if result.aborted or _stop(app, result):
            return


def _one_by_one(app, issuer: Issuer, group, result: BatchResult) -> list[UserResult]:
    outcomes = []
    for person in group:
        try:
            outcomes.append(app.user_issuer.issue_one(issuer, person, None))
        except StoreError as exc:
            result.aborted = str(exc)
            break
    return outcomes


def _mailing(app, issuer: Issuer, people, result: BatchResult, bar: Progress) -> None:
    with Mailer(app.config.credgen) as mailer:
        try:
            for done, person in enumerate(people, 1):
                try:
                    each = app.user_issuer.issue_one(issuer, person, mailer)
                except (MailServerError, StoreError) as exc:
                    each = failed(person, str(exc))
                    result.aborted = f"{exc}; {len(people) - done} users were not tried"
                result.add(each)
                _audit_failure(app, each)
                bar.advance(1, result)
                if result.aborted or _stop(app, result):
                    return
        finally:
            result.mails = mailer.sent


def _stop(app: App, result: BatchResult) -> bool:
    if result.failed and app.config.credgen.stop_on_error:
        result.aborted = "stop_on_error = yes and a user failed"
        return True
    return False


# -- one user, one group ------------------------------------------------------------------
def _group_writer(app: App, issuer: Issuer, group: Sequence[Person]):
    return lambda session: _write(app, issuer, session, group)


def _write(app: App, issuer: Issuer, session: Session, group: Sequence[Person]) -> list[UserResult]:
    decisions = issuer.decide(session, group, create=True)
    due = [d for d in decisions if d.needs and not d.skip]
    issued = {d.person.key: one for d, one in zip(due, issuer.issue(session, due), strict=True)}
    if issued:
        app.audit.record_in(session, [one.event() for one in issued.values()])
    return [outcome(d, kinds=_kinds(issued.get(d.person.key))) for d in decisions]


def _kinds(issued: Issued | None) -> tuple[str, ...]:
    return issued.kinds if issued is not None else ()


def _audit_failure(app: App, result: UserResult) -> None:
    if result.status != "failed":
        return
    event = Event("credential", "failed", "credgen", result.username, detail=result.reason)
    try:
        app.audit.record(event)
    except ReleaseStationError as exc:
        log.error("audit: cannot record that %s failed: %s", result.username, exc)


def report_errors(app: App, result: BatchResult) -> None:
    """One summary mail to admin_email when users failed and email_errors is on."""
    settings = app.config.credgen
    if not (settings.email_errors and (result.failed or result.aborted)):
        return
    failures = list(result.failed)
    if result.aborted:
        failures.append(("(run)", result.aborted))
    try:
        with Mailer(settings) as mailer:
            mailer.send(errors_message(settings, failures))
    except MailError as exc:
        log.error("cannot mail the error summary to %s: %s", settings.admin_email, exc)
