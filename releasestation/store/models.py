# SPDX-License-Identifier: GPL-3.0-or-later
"""Tables of the store. Secrets are HMAC digests (see releasestation.secret), never values."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use UTC")
        return value.astimezone(dt.UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    """A local or visitor user, or a directory user the station keeps state for."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(256))
    username_key: Mapped[str] = mapped_column(String(256), unique=True)  # lower-cased
    display_name: Mapped[str] = mapped_column(String(256), default="")
    email: Mapped[str] = mapped_column(String(320), default="")
    source: Mapped[str] = mapped_column(String(16), default="local")  # local|visitor|ldap
    cost_center: Mapped[str | None] = mapped_column(String(128), nullable=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    cards: Mapped[list[Card]] = relationship(back_populates="user", cascade="all, delete-orphan")


class Card(Base):
    """A card bound to a user. `digest` is HMAC(card number); `last4` is for display."""

    __tablename__ = "cards"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    last4: Mapped[str] = mapped_column(String(8))
    origin: Mapped[str] = mapped_column(String(16), default="admin")  # admin | self (CAC)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(back_populates="cards")


class SiteSetting(Base):
    """Facts about the site that every station must agree on (e.g. the secret's fingerprint)."""

    __tablename__ = "site_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


class OfflineUser(Base):
    """A directory user as the directory last answered for them, to serve their cards and
    PINs while it cannot be reached (`[directory] offline_days`); `key` is the lower-cased
    name. Removed when the directory says the user is disabled or gone."""

    __tablename__ = "offline_users"

    key: Mapped[str] = mapped_column(String(256), primary_key=True)
    username: Mapped[str] = mapped_column(String(256))
    display_name: Mapped[str] = mapped_column(String(256), default="")
    email: Mapped[str] = mapped_column(String(320), default="")
    dn: Mapped[str | None] = mapped_column(Text, nullable=True)
    cost_center: Mapped[str | None] = mapped_column(String(128), nullable=True)
    resolved_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class OfflineCard(Base):
    """A card the directory last said was `username`'s: `digest` is HMAC(card number), as
    in `cards`; the number itself is never kept."""

    __tablename__ = "offline_cards"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(256), index=True)  # OfflineUser.key
    resolved_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditRow(Base):
    """One released job, denial, expiry or credential event; rows are hash-chained."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    station: Mapped[str] = mapped_column(String(128))
    event: Mapped[str] = mapped_column(String(32))  # release|deny|expire|credential|card|...
    outcome: Mapped[str] = mapped_column(String(32), default="ok")
    method: Mapped[str | None] = mapped_column(String(16), nullable=True)  # card|pin|cac|admin
    username: Mapped[str | None] = mapped_column(String(256), nullable=True)
    reader: Mapped[str | None] = mapped_column(String(128), nullable=True)
    queue: Mapped[str | None] = mapped_column(String(128), nullable=True)
    printer: Mapped[str | None] = mapped_column(String(128), nullable=True)
    job_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    title: Mapped[str | None] = mapped_column(Text, nullable=True)
    pages: Mapped[int | None] = mapped_column(Integer, nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    cost_center: Mapped[str | None] = mapped_column(String(128), nullable=True)  # 0003
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_at", "at"),
        Index("ix_audit_event_at", "event", "at"),
        Index("ix_audit_username", "username"),
        Index("ix_audit_job_id", "job_id"),
    )
