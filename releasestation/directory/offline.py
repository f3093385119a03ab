# SPDX-License-Identifier: GPL-3.0-or-later
"""The directory's last answers, kept in the store to serve known people while it is down.

`[directory] offline_days` (default 7, 0 = off). Each time the directory resolves a card
or a user name, the station keeps what a release needs (user name, display name, e-mail,
DN, cost center) and when; a card is kept as the HMAC the store already keys cards with,
never its number. When the directory cannot be reached (DirectoryError, not "no such
user"), a card or user resolved within `offline_days` is served from these rows. When the
directory answers that a card is nobody's or a user is gone or disabled, their rows are
removed at once, so a disabled person stops working as soon as the directory is back.

Rows are rewritten at most every `REFRESH_SECONDS` per card or user (remembered in memory),
so a busy station does not write on every swipe; the window therefore counts from a
resolution at most that much older than the last one.

The rows are written by a thread of their own, not on the swipe's path: a card's first
swipe in an hour would otherwise wait for a database commit (two, user and card) before
its jobs are released. A write not done yet is done first by anything that reads or
deletes these rows (`flush`), so the copy never answers from before a later removal; a
station that stops with a write pending loses only that copy, made again at the next
resolution.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from releasestation.directory.base import User
from releasestation.errors import ReleaseStationError
from releasestation.secret import Hasher
from releasestation.store import Store
from releasestation.store.models import OfflineCard, OfflineUser, utcnow

log = logging.getLogger(__name__)

REFRESH_SECONDS = 3600.0
WRITER_IDLE = 60.0  # seconds the writer thread waits for more rows before it ends
MEMO_LIMIT = 50_000  # cards and users remembered as written; cleared when passed


@dataclass(frozen=True)
class OfflineAnswer:
    """A user served from the store, and when the directory last resolved them."""

    user: User
    resolved_at: dt.datetime


def _key(username: str) -> str:
    return username.lower()


class OfflineRecords:
    """The directory's last answers in `store` (cards keyed by `hasher`), served for
    `days` after them; `clock` is the station's. With `write_behind` (the station's way)
    a thread of its own writes the rows; without, they wait for `flush`."""

    def __init__(
        self,
        store: Store,
        hasher: Hasher,
        days: float,
        clock: Callable[[], dt.datetime] = utcnow,
        write_behind: bool = True,
    ):
        self.store = store
        self.write_behind = write_behind  # False: rows wait in the queue for `flush`
        self.hasher = hasher
        self.days = days
        self.clock = clock
        self._written: dict[str, tuple[Any, dt.datetime]] = {}
        self._lock = threading.Lock()
        self._pending: list[tuple[str, type, dict[str, Any], list[str]]] = []
        self._flushing = threading.Lock()  # one batch written at a time, in order
        self._wake = threading.Event()
        self._writer: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        return self.days > 0

    # -- what the directory answered ----------------------------------------------------
    def user_resolved(self, user: User) -> None:
        """The directory found `user` (enabled): keep them, unless kept a moment ago."""
        if not self.enabled or user.source != "ldap":
            return
        fields = (user.username, user.display_name, user.email, user.dn, user.cost_center)
        now = self.clock()
        if not self._due("user:" + _key(user.username), fields, now):
            return
        values = dict(
            key=_key(user.username),
            username=user.username,
            display_name=user.display_name or "",
            email=user.email or "",
            dn=user.dn,
            cost_center=user.cost_center,
            resolved_at=now,
        )
        self._write("user:" + _key(user.username), OfflineUser, values, ["key"])

    def card_resolved(self, number: str, user: User) -> None:
        """The directory says card `number` is `user`'s: keep the card's digest and them."""
        if not self.enabled or user.source != "ldap":
            return
        self.user_resolved(user)
        digest, now = self.hasher.card(number), self.clock()
        if not self._due("card:" + digest, _key(user.username), now):
            return
        values = dict(digest=digest, username=_key(user.username), resolved_at=now)
        self._write("card:" + digest, OfflineCard, values, ["digest"])

    def card_gone(self, number: str) -> None:
        """The directory says card `number` is nobody's (or its holder is disabled)."""
        if not self.enabled:
            return
        digest = self.hasher.card(number)
        self._forget("card:" + digest)
        self._flush_quietly()  # a copy still on its way must not come back after the removal
        with self.store.read() as session:  # most unknown cards were never kept: no write
            if session.get(OfflineCard, digest) is None:
                return
        with self.store.write() as session:
            session.execute(delete(OfflineCard).where(OfflineCard.digest == digest))

    def user_gone(self, username: str) -> None:
        """The directory says `username` is gone or disabled: their rows go, cards too."""
        if not self.enabled:
            return
        key = _key(username)
        self._forget("user:" + key)
        with self._lock:  # the cards memoised as theirs must be written again
            self._written = {k: v for k, v in self._written.items() if v[0] != key}
        self._flush_quietly()
        with self.store.read() as session:
            if session.get(OfflineUser, key) is None and not session.scalar(
                select(OfflineCard.digest).where(OfflineCard.username == key).limit(1)
            ):
                return
        with self.store.write() as session:
            session.execute(delete(OfflineCard).where(OfflineCard.username == key))
            session.execute(delete(OfflineUser).where(OfflineUser.key == key))

    # -- served while the directory is down ---------------------------------------------
    def by_card(self, number: str) -> OfflineAnswer | None:
        """The user card `number` was last resolved to, within the window; else None."""
        if not self.enabled:
            return None
        self._flush_quietly()
        with self.store.read() as session:
            card = session.get(OfflineCard, self.hasher.card(number))
            if card is None or not self._recent(card.resolved_at):
                return None
            answer = self._user(session, card.username)
        if answer is None:
            return None
        return OfflineAnswer(answer.user, min(answer.resolved_at, card.resolved_at))

    def by_name(self, username: str) -> OfflineAnswer | None:
        """`username` as last resolved, within the window; else None."""
        if not self.enabled:
            return None
        self._flush_quietly()
        with self.store.read() as session:
            return self._user(session, _key(username))

    def _user(self, session: Session, key: str) -> OfflineAnswer | None:
        row = session.get(OfflineUser, key)
        if row is None or not self._recent(row.resolved_at):
            return None
        user = User(
            row.username, row.display_name, row.email, "ldap", row.dn, False, row.cost_center
        )
        return OfflineAnswer(user, row.resolved_at)

    def _recent(self, at: dt.datetime) -> bool:
        """Resolved within the window; a time in the future (the clock stepped back) is
        not trusted beyond the window either."""
        age = (self.clock() - at).total_seconds()
        return abs(age) <= self.days * 86400

    # -- writes at most every REFRESH_SECONDS ---------------------------------------------
    def _due(self, memo: str, fields: Any, now: dt.datetime) -> bool:
        """Whether `memo` must be written: never yet, changed, or not for a while."""
        with self._lock:
            seen = self._written.get(memo)
            refresh = min(REFRESH_SECONDS, self.days * 86400 / 10)
            if seen is not None and seen[0] == fields:
                age = (now - seen[1]).total_seconds()
                if 0 <= age < refresh:
                    return False
            if len(self._written) >= MEMO_LIMIT:
                self._written.clear()
            self._written[memo] = (fields, now)
        return True

    def _write(self, memo: str, table: type, values: dict[str, Any], keys: list[str]) -> None:
        """Queue one row for the writer thread (started on the first row)."""
        with self._lock:
            self._pending.append((memo, table, values, keys))
            if not self.write_behind:
                return
            if self._writer is None or not self._writer.is_alive():  # none, or it died
                self._writer = threading.Thread(
                    target=self._write_on, name="offline-copy", daemon=True
                )
                self._writer.start()
        self._wake.set()

    def _write_on(self) -> None:
        """The writer thread: writes what is queued until nothing came for WRITER_IDLE
        seconds, then ends (the next row starts another)."""
        while True:
            woken = self._wake.wait(WRITER_IDLE)
            self._wake.clear()
            self._flush_quietly()
            with self._lock:  # decided under the lock `_write` queues under: no row left
                if not woken and not self._pending:
                    self._writer = None
                    return

    def flush(self) -> None:
        """Write the rows still queued, in one transaction; StoreError when the store
        cannot (those rows are then due again at their next resolution)."""
        with self._flushing:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return
            # In one order (table, key) on every station: two stations writing the same
            # two rows in opposite orders would deadlock on PostgreSQL.
            batch.sort(key=lambda row: (row[1].__name__, [str(row[2][k]) for k in row[3]]))
            try:
                with self.store.write() as session:
                    for _memo, table, values, keys in batch:
                        _upsert(session, table, values, keys)
            except BaseException:
                for memo, *_ in batch:
                    self._forget(memo)
                raise

    def _flush_quietly(self) -> None:
        try:
            self.flush()
        except ReleaseStationError as exc:  # the answers stand; only the copy is missing
            log.warning("directory: cannot keep its answers for offline use: %s", exc)

    def _forget(self, memo: str) -> None:
        with self._lock:
            self._written.pop(memo, None)


def _upsert(session: Session, table: type, values: dict[str, Any], keys: list[str]) -> None:
    """Insert or overwrite one row; stations sharing PostgreSQL may write it at once."""
    dialect = session.get_bind().dialect.name
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = make(table).values(**values)
    changed = {k: v for k, v in values.items() if k not in keys}
    session.execute(statement.on_conflict_do_update(index_elements=keys, set_=changed))
