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

The limits hold exactly however many readers and stations guess at once, because an entry
takes its place among the failures before it is checked (`take`): in one serialised write
that also reads the lockouts, it is refused when the reader or the site is locked, or when
its failures in the window, entries still being checked included, are at the limit; else
its failure is recorded there and then. After the check it is kept (`failed`, which locks
what it brings to the limit) or taken back when the entry was right or got no answer
(`release`): a right PIN costs two small writes instead of a read (on PostgreSQL the
answer does not wait for the second to reach the disk). A station that dies in between
leaves its failure counted, the safe side: it leaves the window like any other, so nobody
stays locked out by it. An entry in flight counts when another failure decides a lockout,
so a lockout may start while a right PIN is still being checked, never later than it should.

Other ways in keep their own scopes in the same tables and by the same rule (`take_in`,
`failed_in`): the web portal counts failed logins per user name and per address
(releasestation.web.throttle).
Only readers' failures (scopes "reader:...") count towards the site's lockout.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Select, delete, func, select, text
from sqlalchemy.orm import Session

from releasestation.audit import Audit, Event
from releasestation.credentials.models import GuessFailure, Lockout
from releasestation.errors import StoreError
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
    """`failures` within `window_seconds` in `scope` lock that scope; `what` names its
    failures in a refusal ("too many <what>")."""

    scope: str
    failures: int
    window_seconds: float
    what: str = "failures"


def reader_scope(station: str, reader: str) -> str:
    return f"{READER_SCOPES}{station}/{reader}"


@dataclass
class Slot:
    """An entry about to be checked, already counted as a failure in each scope of
    `limits` but the site's (the rows `failure_ids`); or, when `refusal` says why, an
    entry that must not be checked. `station` and `reader` name a reader's entry."""

    limits: tuple[Limit, ...]
    failure_ids: tuple[int, ...] = ()
    refusal: str | None = None
    station: str = ""
    reader: str = ""
    settled: bool = field(default=False, compare=False)


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
        with self.store.read() as session:
            limits = self._limits(station, reader)
            return self._running(limits, self._states(session, limits), self.clock())

    def take(self, station: str, reader: str, method: str) -> Slot:
        """A slot for checking one entry at `reader`, counted as a failure until `release`;
        or a refusal, when a lockout runs or the limits are taken (one serialised write)."""
        slot = self.take_in(self._limits(station, reader), method)
        slot.station, slot.reader = station, reader
        return slot

    def take_in(self, limits: Sequence[Limit], method: str) -> Slot:
        """A slot for checking one entry against `limits`, counted as a failure in each of
        their scopes but SITE until `release` or `failed_in`; or a refusal saying why, when
        one of them is locked or at its limit (one serialised write)."""
        limits = tuple(limits)
        with self.store.write() as session:
            self.store.lock(session, "lockouts")
            now = self.clock()
            states = self._states(session, limits)
            refused = self._running(limits, states, now) or self._full(session, limits, states, now)
            if refused:
                return Slot(limits, refusal=refused)
            rows = [
                GuessFailure(at=now, scope=limit.scope, method=method)
                for limit in limits
                if limit.scope != SITE
            ]
            session.add_all(rows)
            session.flush()
            return Slot(limits, failure_ids=tuple(row.id for row in rows))

    def failed(self, slot: Slot, method: str) -> list[str]:
        """The entry of `slot` was wrong: its failure stays, and locks the reader or the
        site when it reaches their limit (audited). Returns the scopes it locked."""

        def event(name: str, state: Lockout, now: dt.datetime) -> Event:
            return self._event(name, state, slot.station, slot.reader, method, now)

        return self.failed_in(slot, method, event)

    def failed_in(
        self,
        slot: Slot,
        method: str,
        event: Callable[[str, Lockout, dt.datetime], Event],
    ) -> list[str]:
        """The entry of `slot` was wrong: its failures stay (as `method`), and lock the
        scopes they bring to their limit, audited as `event(scope, state, now)` says.
        Returns the scopes it locked."""
        if not slot.failure_ids or slot.settled:
            raise ValueError("a refused or settled slot cannot fail")
        slot.settled = True
        return self._count_in(slot.limits, event, kept=(slot.failure_ids, method))

    def release(self, slot: Slot) -> None:
        """The entry of `slot` was right, or got no answer: its failures are taken back (a
        no-op for a refused slot or one that failed). When the store cannot take them back,
        they stay counted, the safe side, and the entry's answer stands."""
        if not slot.failure_ids or slot.settled:
            return
        slot.settled = True
        try:
            with self.store.write() as session:
                if not self.store.is_sqlite:  # a delete lost in a crash leaves it counted
                    session.execute(text("SET LOCAL synchronous_commit TO OFF"))
                session.execute(delete(GuessFailure).where(GuessFailure.id.in_(slot.failure_ids)))
        except StoreError as exc:
            log.warning("lockout: an entry checked stays counted as a failure: %s", exc)

    def _limits(self, station: str, reader: str) -> tuple[Limit, Limit]:
        """The reader's limit, then the site's."""
        policy = self.policy
        return (
            Limit(
                reader_scope(station, reader),
                policy.reader_failures,
                policy.reader_window_seconds,
                "wrong PINs or codes at this reader",
            ),
            Limit(
                SITE,
                policy.site_failures,
                policy.site_window_seconds,
                "wrong PINs or codes across the site",
            ),
        )

    def _count_in(
        self,
        limits: Sequence[Limit],
        event: Callable[[str, Lockout, dt.datetime], Event],
        kept: tuple[tuple[int, ...], str],
    ) -> list[str]:
        """One serialised write: the slot's failures `kept` (ids, method) stay, then the
        lockouts they start in `limits`, audited."""
        with self.store.write() as session:
            self.store.lock(session, "lockouts")
            now = self.clock()
            failure_ids, method = kept
            for failure_id in failure_ids:
                row = session.get(GuessFailure, failure_id)
                if row is not None:
                    row.method = method
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

    # -- inside the store's transactions ----------------------------------------------------
    @staticmethod
    def _states(session: Session, limits: Sequence[Limit]) -> dict[str, Lockout]:
        """The lockout states of the scopes of `limits` that have one."""
        scopes = [limit.scope for limit in limits]
        rows = session.scalars(select(Lockout).where(Lockout.scope.in_(scopes))).all()
        return {row.scope: row for row in rows}

    @staticmethod
    def _running(
        limits: Sequence[Limit], states: dict[str, Lockout], now: dt.datetime
    ) -> str | None:
        """Why a lockout among the `states` of `limits` refuses entries now (the site's
        first)."""
        for limit in sorted(limits, key=lambda lim: lim.scope != SITE):
            row = states.get(limit.scope)
            if row is not None and row.locked_until is not None and row.locked_until > now:
                seconds = int((row.locked_until - now).total_seconds()) + 1
                return f"locked out after too many {limit.what} ({seconds} s left)"
        return None

    def _full(
        self,
        session: Session,
        limits: Sequence[Limit],
        states: dict[str, Lockout],
        now: dt.datetime,
    ) -> str | None:
        """Why no more entries may be checked in a scope whose failures in the window, those
        still being checked included, are at its limit though no lockout runs (yet)."""
        for limit in sorted(limits, key=lambda lim: lim.scope != SITE):
            state = states.get(limit.scope)
            query = self._counted(limit.scope, state, now, limit.window_seconds)
            count, oldest = session.execute(
                query.with_only_columns(func.count(), func.min(GuessFailure.at))
            ).one()
            if count >= limit.failures:
                ends = oldest + dt.timedelta(seconds=limit.window_seconds)
                seconds = max(int((ends - now).total_seconds()) + 1, 1)
                return f"too many {limit.what}, some still being checked (at most {seconds} s left)"
        return None

    @staticmethod
    def _state(session: Session, scope: str) -> Lockout:
        state = session.get(Lockout, scope)
        if state is None:
            state = Lockout(scope=scope, level=0)
            session.add(state)
        return state

    @classmethod
    def _count(cls, session: Session, scope: str, state: Lockout, now: dt.datetime, window) -> int:
        """Failures in the window that no earlier lockout has counted already."""
        query = cls._counted(scope, state, now, window).with_only_columns(func.count())
        return int(session.scalar(query) or 0)

    @staticmethod
    def _counted(scope: str, state: Lockout | None, now: dt.datetime, window: float) -> Select:
        """The failures of `scope` in the window since its last lockout started."""
        since = now - dt.timedelta(seconds=window)
        if state is not None and state.counted_since is not None and state.counted_since > since:
            since = state.counted_since
        query = select(GuessFailure.id).where(GuessFailure.at > since)
        if scope != SITE:
            return query.where(GuessFailure.scope == scope)
        # readers' failures only: a flood of web logins must not lock the PIN pads
        return query.where(GuessFailure.scope.startswith(READER_SCOPES, autoescape=True))

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
