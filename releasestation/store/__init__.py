# SPDX-License-Identifier: GPL-3.0-or-later
"""The store: SQLite (embedded default) or PostgreSQL (shared by the stations of a site).

SQLite runs in WAL mode with a busy timeout, and write transactions take the write lock up
front (`BEGIN IMMEDIATE`), so the daemon and a cron job can both write without one failing
on a lock upgrade. On PostgreSQL, `lock()` serialises work that must not interleave across
stations (an advisory lock held to the end of the transaction).
"""

from __future__ import annotations

import contextlib
import logging
import os
import zlib
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from releasestation.errors import StoreError
from releasestation.store import models

log = logging.getLogger(__name__)

__all__ = ["Store", "models"]


def _sqlite_setup(engine: Engine, busy_timeout: float) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=FULL")  # audit rows must survive a power cut
        cur.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn):
        mode = "IMMEDIATE" if conn.get_execution_options().get("rs_write") else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")


class Store:
    """Opens the database and hands out read and write sessions."""

    def __init__(self, url: str, busy_timeout: float = 30.0):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict = {"future": True}
        if self.is_sqlite:
            _make_parent(url)
            kwargs["connect_args"] = {"timeout": busy_timeout, "check_same_thread": False}
        else:
            kwargs.update(pool_pre_ping=True, pool_size=4, max_overflow=4)
        try:
            self.engine = create_engine(url, **kwargs)
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise StoreError(f"[database] url: cannot use {_safe(url)}: {exc}") from None
        if self.is_sqlite:
            _sqlite_setup(self.engine, busy_timeout)

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                yield session
        except SQLAlchemyError as exc:
            raise StoreError(f"database {_safe(self.url)}: {_short(exc)}") from exc

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction, committed when the block ends, rolled back if it raises."""
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                session.connection(execution_options={"rs_write": True})
                try:
                    yield session
                    session.commit()
                except BaseException:
                    session.rollback()
                    raise
        except SQLAlchemyError as exc:
            raise StoreError(f"database {_safe(self.url)}: {_short(exc)}") from exc

    def lock(self, session: Session, name: str) -> None:
        """Serialise `name` across stations until the transaction ends (PostgreSQL only;
        SQLite's BEGIN IMMEDIATE already serialises every writer)."""
        if not self.is_sqlite:
            key = zlib.crc32(name.encode())
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})

    def upgrade(self) -> None:
        from releasestation.store.migrate import upgrade

        upgrade(self.engine)

    def migration_problem(self) -> str | None:
        """Why the database is not at the code's revisions, or None; StoreError naming
        the database when it cannot be reached."""
        from releasestation.store.migrate import problem

        try:
            return problem(self.engine)
        except SQLAlchemyError as exc:
            raise StoreError(f"database {_safe(self.url)}: {_short(exc)}") from None

    def close(self) -> None:
        self.engine.dispose()


def _make_parent(url: str) -> None:
    """The SQLite file's directory (0750), and the file itself 0600 when it is new: it holds
    the digests of cards and PINs and the audit trail (SQLite gives its -wal and -shm files
    the same mode). A process's umask would otherwise leave it readable by all."""
    path = url.split(":///", 1)[1].split("?", 1)[0] if ":///" in url else ""
    if path and path != ":memory:" and not path.startswith("file:"):
        Path(path).parent.mkdir(parents=True, exist_ok=True, mode=0o750)
        # there already, or not ours to make: SQLite then says what is wrong
        with contextlib.suppress(OSError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _short(exc: SQLAlchemyError) -> str:
    """The driver's own first line (e.g. "no such table: users"), without SQL and links."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable url>"
