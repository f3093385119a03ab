# SPDX-License-Identifier: GPL-3.0-or-later
"""Tables for PINs, card-assignment codes, passwords and the guessing lockout.

A PIN or card-assignment code (CAC) is kept only as its HMAC (releasestation.secret, kinds
"pin" and "cac"), which is also its unique lookup key; a password only as a passlib hash.
Nothing here holds a value a person typed.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from releasestation.store.models import Base, User, UTCDateTime, utcnow


class Credential(Base):
    """One user's PIN, CAC and password; one row per user, any part may be absent."""

    __tablename__ = "credentials"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    pin_digest: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    pin_issued_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    pin_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cac_digest: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    cac_issued_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cac_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cac_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    password_set_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # When anything was last issued to this user (credgen's min_seconds_between_runs).
    issued_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)

    user: Mapped[User] = relationship()


class GuessFailure(Base):
    """One failed PIN or CAC entry at a reader (`scope` is "station/reader")."""

    __tablename__ = "credential_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    scope: Mapped[str] = mapped_column(String(300))
    method: Mapped[str] = mapped_column(String(16))  # pin | cac

    __table_args__ = (
        Index("ix_credential_failures_scope_at", "scope", "at"),
        Index("ix_credential_failures_at", "at"),
    )


class Lockout(Base):
    """Lockout state of one reader ("reader:station/name") or of the whole site ("site")."""

    __tablename__ = "lockouts"

    scope: Mapped[str] = mapped_column(String(300), primary_key=True)
    level: Mapped[int] = mapped_column(Integer, default=0)  # lockouts in a row; doubles time
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    counted_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_failure_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
