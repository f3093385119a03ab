# SPDX-License-Identifier: GPL-3.0-or-later
"""Stopping people who guess PINs and card-assignment codes.

Every failed PIN or CAC entry is a row in the store. After `reader_failures` failures on
one reader within `reader_window_seconds`, that reader refuses PINs and codes for
`first_lockout_seconds`, and for twice as long with each further lockout in a row; the row
of lockouts is forgotten after `forget_after_seconds` with neither a failure nor a lockout.
The same rule, with its own threshold, applies to all readers of the site together, which
stops a guesser who spreads tries over many readers. The state is in the store, so it
survives restarts and is shared by the stations of a site on one PostgreSQL. Cards keep
working at a locked reader.

Other ways in keep their own scopes in the same tables (`failure_in`, `locked_in`): the web
portal counts failed logins per user name and per address (releasestation.web.throttle).
Only readers' failures (scopes "reader:...") count towards the site's lockout.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from releasestation.audit import Audit, Event
from releasestation.credentials.models import GuessFailure, Lockout
from releasestation.store import Store
from releasestation.store.models import utcnow

log = logging.getLogger(__name__)

SITE = "site"
KEEP_FAILURES = dt.timedelta(days=1)


@dataclass(frozen=True)
class LockoutPolicy:
    reader_failures: int = 5
    reader_window_seconds: float = 300.0
    site_failures: int = 30
    site_window_seconds: float = 300.0
    first_lockout_seconds: float = 300.0
    max_lockout_seconds: float = 86_400.0
    forget_after_seconds: float = 86_400.0

    def duration(self, level: int) -> dt.timedelta:
        """How long the `level`-th lockout in a row lasts: doubling, capped."""
        seconds = self.first_lockout_seconds * 2 ** min(max(level - 1, 0), 32)
        return dt.timedelta(seconds=min(seconds, self.max_lockout_seconds))


READER_SCOPES = "reader:"


@dataclass(frozen=True)
class Limit:
    """`failures` within `window_seconds` in `scope` lock that scope."""

    scope: str
    failures: int
    window_seconds: float


def reader_scope(station: str, reader: str) -> str:
    return f"{READER_SCOPES}{station}/{reader}"


class Lockouts:
    """Counts failures and answers whether a reader may take PINs and codes now."""

    def __init__(
        self,
        store: Store,
        audit: Audit,
        policy: LockoutPolicy | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ):
        self.store = store
        self.audit = audit
        self.policy = policy or LockoutPolicy()
        self.clock = clock

    def refusal(self, station: str, reader: str) -> str | None:
        """Why `reader` refuses PINs and codes right now, or None when it takes them."""
        scopes = (reader_scope(station, reader), SITE)
        with self.store.read() as session:
            rows = session.scalars(select(Lockout).where(Lockout.scope.in_(scopes))).all()
        now = self.clock()
        for row in sorted(rows, key=lambda r: r.scope != SITE):
            if row.locked_until is not None and row.locked_until > now:
                seconds = int((row.locked_until - now).total_seconds()) + 1
                where = "across the site" if row.scope == SITE else "at this reader"
                return f"locked out after too many wrong PINs or codes {where} ({seconds} s left)"
        return None

    def failure(self, station: str, reader: str, method: str, detail: str = "") -> list[str]:
        """Count one failed entry; returns the scopes this failure locked (audited)."""
        scope = reader_scope(station, reader)
        policy = self.policy
        limits = (
            Limit(scope, policy.reader_failures, policy.reader_window_seconds),
            Limit(SITE, policy.site_failures, policy.site_window_seconds),
        )

        def event(name: str, state: Lockout, now: dt.datetime) -> Event:
            return self._event(name, state, station, reader, method, now)

        return self.failure_in(limits, method, event)

    def locked_in(self, scopes: Iterable[str]) -> tuple[str, int] | None:
        """(scope, seconds left) of the lockout among `scopes` that lasts longest, or None."""
        with self.store.read() as session:
            rows = session.scalars(select(Lockout).where(Lockout.scope.in_(list(scopes)))).all()
        now = self.clock()
        running = [(r.locked_until, r.scope) for r in rows if r.locked_until is not None]
        until, scope = max(running, default=(now, ""))
        if until <= now:
            return None
        return scope, int((until - now).total_seconds()) + 1

    def failure_in(
        self,
        limits: Sequence[Limit],
        method: str,
        event: Callable[[str, Lockout, dt.datetime], Event],
    ) -> list[str]:
        """Count one failure in each scope of `limits` (SITE counts readers' failures);
        lock those whose limit it reaches, audited as `event(scope, state, now)` says.
        Returns the scopes it locked."""
        with self.store.write() as session:
            self.store.lock(session, "lockouts")
            now = self.clock()
            for limit in limits:
                if limit.scope != SITE:
                    session.add(GuessFailure(at=now, scope=limit.scope, method=method))
            session.flush()
            locked = []
            for limit in limits:
                state = self._state(session, limit.scope)
                self._forget_if_quiet(state, now)
                count = self._count(session, limit.scope, state, now, limit.window_seconds)
                if count >= limit.failures:
                    self._lock(state, now)
                    locked.append((limit.scope, state))
                state.last_failure_at = now
            session.execute(delete(GuessFailure).where(GuessFailure.at < now - KEEP_FAILURES))
            events = [event(name, state, now) for name, state in locked]
            if events:
                self.audit.record_in(session, events)
        for made in events:
            log.warning("%s: %s", made.outcome, made.detail)
        return [name for name, _state in locked]

    # -- inside the failure transaction ---------------------------------------------------
    @staticmethod
    def _state(session: Session, scope: str) -> Lockout:
        state = session.get(Lockout, scope)
        if state is None:
            state = Lockout(scope=scope, level=0)
            session.add(state)
        return state

    @staticmethod
    def _count(session: Session, scope: str, state: Lockout, now: dt.datetime, window) -> int:
        """Failures in the window that no earlier lockout has counted already."""
        since = now - dt.timedelta(seconds=window)
        if state.counted_since is not None and state.counted_since > since:
            since = state.counted_since
        query = select(func.count()).select_from(GuessFailure).where(GuessFailure.at > since)
        if scope != SITE:
            query = query.where(GuessFailure.scope == scope)
        else:  # readers' failures only: a flood of web logins must not lock the PIN pads
            query = query.where(GuessFailure.scope.startswith(READER_SCOPES, autoescape=True))
        return int(session.scalar(query) or 0)

    def _forget_if_quiet(self, state: Lockout, now: dt.datetime) -> None:
        """Lockouts stop doubling after a quiet spell (no failure, no lockout running)."""
        marks = [t for t in (state.last_failure_at, state.locked_until) if t is not None]
        if marks and now - max(marks) > dt.timedelta(seconds=self.policy.forget_after_seconds):
            state.level = 0

    def _lock(self, state: Lockout, now: dt.datetime) -> None:
        state.level = (state.level or 0) + 1
        state.locked_until = now + self.policy.duration(state.level)
        state.counted_since = now

    @staticmethod
    def _event(scope, state, station, reader, method, now) -> Event:
        seconds = int((state.locked_until - now).total_seconds())
        where = "the whole site" if scope == SITE else f"reader {reader}"
        return Event(
            "lockout",
            outcome="site-locked" if scope == SITE else "reader-locked",
            method=method,
            reader=reader,
            detail=f"{where} locked for {seconds} s (lockout {state.level} in a row)",
            at=now,
        )
