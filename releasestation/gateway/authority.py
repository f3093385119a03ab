# SPDX-License-Identifier: GPL-3.0-or-later
"""The station's own answer to the print gateway: who may print, how much, and where.

`GatewayAuthority.authorize(request)` takes the backend's authorize payload and decides,
in this order: the job's owner must be a known user of the station's directory (LDAP or
local, not disabled), a member of one of `[gateway] allowed_groups` when any are named;
on the follow-me printer (`[station] printer`) the job must have been released by a
station (an audit row `release`/ok for that job id on that printer within
`released_within_hours`), which closes the way around the swipe; the user's and the cost
center's pages printed this period (`quota_period`, UTC) must be under their quotas.
`complete(request)` records the pages that came out. Every decision is an audit row:
`gateway`/allowed, `deny` (method `gateway`, outcome the reason) and `gateway`/printed or
failed with its pages, which is also the quota's ledger, so stations sharing a database
share the count. Denials show in `releasestation report` with the others.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, select

from releasestation.audit import AUDIT, Event
from releasestation.store.models import utcnow

if TYPE_CHECKING:
    from releasestation.audit import Audit
    from releasestation.directory import Directory, User
    from releasestation.gateway.settings import GatewaySettings
    from releasestation.store import Store

log = logging.getLogger(__name__)

METHOD = "gateway"
EVENT = "gateway"
LIMIT = "account-limit-reached"
NOT_ALLOWED = "account-authorization-failed"


@dataclass(frozen=True)
class Decision:
    status: int  # 200 print, 402 over quota, 403 not allowed
    reason: str = ""  # a job-state-reasons keyword when refused
    detail: str = ""  # why, for the audit and the answer (never shown on the printer)

    def answer(self) -> dict[str, Any]:
        if self.status == 200:
            return {"decision": "print"}
        return {"decision": "refuse", "reason": self.reason, "detail": self.detail}


class BadRequest(ValueError):
    """The request is not an authorize or complete payload."""


class GatewayAuthority:
    def __init__(
        self,
        store: Store,
        directory: Directory,
        audit: Audit,
        settings: GatewaySettings,
        follow_me: str | None,
        base_name: Callable[[str], str | None] = lambda owner: owner,
        clock: Callable[[], dt.datetime] = utcnow,
    ):
        self.store = store
        self.directory = directory
        self.audit = audit
        self.settings = settings
        self.follow_me = follow_me
        self.base_name = base_name
        self.clock = clock

    def authorize(self, request: Mapping[str, Any]) -> Decision:
        job, queue = _job(request), _queue(request)
        owner = str(job.get("user") or "")
        user = self._user(owner)
        decision = self._decide(user, job, queue)
        cost_center = user.cost_center if user else None
        event = Event(
            EVENT if decision.status == 200 else "deny",
            outcome="allowed" if decision.status == 200 else decision.reason,
            method=METHOD,
            username=user.username if user else owner or None,
            queue=queue,
            printer=queue,
            job_id=_int(job.get("id")),
            title=str(job.get("title") or "") or None,
            pages=_int(job.get("pages")),
            detail=_detail(job, decision.detail),
            cost_center=cost_center,
        )
        self.audit.record(event)
        level = logging.INFO if decision.status == 200 else logging.WARNING
        log.log(level, "gateway: job %s on %s: %s %s", event.job_id, queue, event.outcome,
                decision.detail)  # fmt: skip
        return decision

    def complete(self, request: Mapping[str, Any]) -> tuple[bool, int | None]:
        """Record how the job ended; (printed, the pages recorded). A completion the
        backend sends again (same `completion` id: its answer was lost) is recorded once."""
        job, queue = _job(request), _queue(request)
        completion = _completion_id(request.get("completion"))
        if completion is not None:
            recorded = self._recorded(_int(job.get("id")), completion)
            if recorded is not None:
                return recorded
        owner = str(job.get("user") or "")
        user = self._user(owner)
        printed = bool(request.get("printed"))
        pages, why = _int(request.get("pages")), f"exit code {_int(request.get('exit_code'))}"
        if printed and pages is None:  # the real backend told no pages (most network ones)
            pages = self._released_pages(_int(job.get("id")), queue)
            why += "; pages as counted when released" if pages is not None else "; pages unknown"
        self.audit.record(
            Event(
                EVENT,
                outcome="printed" if printed else "failed",
                method=METHOD,
                username=user.username if user else owner or None,
                queue=queue,
                printer=queue,
                job_id=_int(job.get("id")),
                pages=pages if printed else 0,
                detail=_detail(job, why) + (f"; completion {completion}" if completion else ""),
                cost_center=user.cost_center if user else None,
            )
        )
        return printed, pages if printed else 0

    def _recorded(self, job_id: int | None, completion: str) -> tuple[bool, int | None] | None:
        """(printed, pages) of the row a completion with this id already made, if any."""
        c = AUDIT.c
        query = (
            select(c.outcome, c.pages)
            .where(
                c.event == EVENT,
                c.job_id == job_id,
                c.detail.endswith(f"; completion {completion}", autoescape=True),
            )
            .limit(1)
        )
        with self.store.read() as session:
            row = session.execute(query).first()
        return None if row is None else (row.outcome == "printed", row.pages)

    def _released_pages(self, job_id: int | None, queue: str | None) -> int | None:
        """The pages of the job's latest release to `queue` (counted when it was sent)."""
        if job_id is None or not queue:
            return None
        c = AUDIT.c
        since = self.clock() - dt.timedelta(hours=self.settings.released_within_hours)
        query = (
            select(c.pages)
            .where(
                c.event == "release",
                c.outcome == "ok",
                c.job_id == job_id,
                c.at >= since,
                func.lower(c.printer) == queue.casefold(),
            )
            .order_by(c.id.desc())
            .limit(1)
        )
        with self.store.read() as session:
            return session.execute(query).scalar_one_or_none()

    def _user(self, owner: str) -> User | None:
        name = self.base_name(owner) if owner else None
        if not name:
            return None
        user = self.directory.user_by_name(name)
        return None if user is None or user.disabled else user

    def _decide(self, user: User | None, job: Mapping[str, Any], queue: str | None) -> Decision:
        if user is None:
            return Decision(403, NOT_ALLOWED, "not a known user")
        groups = self.settings.groups
        if groups and not any(self.directory.in_group(user, group) for group in groups):
            return Decision(403, NOT_ALLOWED, "not in an allowed group")
        if self._follow_me_bypass(job, queue):
            return Decision(403, NOT_ALLOWED, "not released at a station")
        pages = (_int(job.get("pages")) or 0) * max(1, _int(job.get("copies")) or 1)
        return self._quota(user, pages)

    def _follow_me_bypass(self, job: Mapping[str, Any], queue: str | None) -> bool:
        if not (self.settings.follow_me_only_released and self.follow_me and queue):
            return False
        if queue.casefold() != self.follow_me.casefold():
            return False
        since = self.clock() - dt.timedelta(hours=self.settings.released_within_hours)
        c = AUDIT.c
        query = select(c.id).where(
            c.event == "release", c.outcome == "ok", c.job_id == _int(job.get("id")),
            func.lower(c.printer) == queue.casefold(), c.at >= since,
        ).limit(1)  # fmt: skip
        with self.store.read() as session:
            return session.execute(query).first() is None

    def _quota(self, user: User, pages: int) -> Decision:
        """Refused once the period's printed pages reach a quota, or when the job's own
        pages (where known) would pass it."""
        since = period_start(self.clock(), self.settings.quota_period)
        checks = (
            (self.settings.quota_pages, AUDIT.c.username == user.username, "user"),
            (
                self.settings.cost_center_limit(user.cost_center),
                AUDIT.c.cost_center == user.cost_center,
                "cost center",
            ),
        )
        for limit, who, whose in checks:
            if not limit:
                continue
            used = self._printed(since, who)
            if used >= limit or (pages and used + pages > limit):
                return Decision(402, LIMIT, f"{whose} quota of {limit} pages reached")
        return Decision(200)

    def _printed(self, since: dt.datetime, who: Any) -> int:
        c = AUDIT.c
        query = select(func.coalesce(func.sum(c.pages), 0)).where(
            and_(c.event == EVENT, c.outcome == "printed", c.at >= since, who)
        )
        with self.store.read() as session:
            return int(session.execute(query).scalar_one())

    def used_pages(self, username: str) -> int:
        """Pages `username` printed through the gateway this period."""
        since = period_start(self.clock(), self.settings.quota_period)
        return self._printed(since, AUDIT.c.username == username)


def period_start(now: dt.datetime, period: str) -> dt.datetime:
    """The start of the quota period holding `now` (UTC): the day, the ISO week, the month."""
    day = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "week":
        return day - dt.timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def _job(request: Mapping[str, Any]) -> Mapping[str, Any]:
    job = request.get("job")
    if not isinstance(job, Mapping) or _int(job.get("id")) is None:
        raise BadRequest("job: an object with an id")
    return job


def _queue(request: Mapping[str, Any]) -> str | None:
    queue = request.get("queue")
    name = queue.get("name") if isinstance(queue, Mapping) else None
    return str(name) if name else None


def _completion_id(value: Any) -> str | None:
    """The backend's id for one completion (hex, at most 32 digits), else None."""
    if (
        isinstance(value, str)
        and 8 <= len(value) <= 32
        and all(ch in "0123456789abcdef" for ch in value)
    ):
        return value
    return None


def _detail(job: Mapping[str, Any], why: str) -> str:
    uuid = str(job.get("uuid") or "")[:64]
    return f"{why}; uuid {uuid}" if why else f"uuid {uuid}"


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None
