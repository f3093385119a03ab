# SPDX-License-Identifier: GPL-3.0-or-later
"""Tables of the swipe path: jobs being released or expired, and resolved owners.

A job is named by the cupsd that holds it (`server`, see releasestation.release.resolution)
and its id there. Neither table holds a value a person typed.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from releasestation.store.models import Base, UTCDateTime, utcnow


class JobClaim(Base):
    """A job one station is releasing or expiring right now: written (committed) before
    cupsd is asked, removed in the transaction that audits the outcome. The unique key
    makes a job one station's at a time; a claim left by a crash is reconciled at start."""

    __tablename__ = "job_claims"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    server: Mapped[str] = mapped_column(String(300))
    job_id: Mapped[int] = mapped_column(Integer)
    job_created: Mapped[int] = mapped_column(BigInteger, default=0)  # epoch seconds
    action: Mapped[str] = mapped_column(String(16))  # release | expire
    station: Mapped[str] = mapped_column(String(128))
    queue: Mapped[str] = mapped_column(String(128))
    target: Mapped[str] = mapped_column(String(128))  # the printer it is released to
    owner: Mapped[str] = mapped_column(String(256))  # as cupsd knows it
    username: Mapped[str | None] = mapped_column(String(256), nullable=True)
    method: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reader: Mapped[str | None] = mapped_column(String(128), nullable=True)
    title: Mapped[str | None] = mapped_column(Text, nullable=True)
    pages: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cost_center: Mapped[str | None] = mapped_column(String(128), nullable=True)
    claimed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("server", "job_id", name="uq_job_claims_server_job_id"),
        Index("ix_job_claims_station", "station"),
    )


class JobOwner(Base):
    """Who really owns a job cupsd knows under a generic name; `owner` None: nobody
    could be found (the job stays unowned). `job_created` tells a reused job id apart."""

    __tablename__ = "job_owners"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    server: Mapped[str] = mapped_column(String(300))
    job_id: Mapped[int] = mapped_column(Integer)
    job_created: Mapped[int] = mapped_column(BigInteger, default=0)
    cups_owner: Mapped[str] = mapped_column(String(256))
    owner: Mapped[str | None] = mapped_column(String(256), nullable=True)
    source: Mapped[str] = mapped_column(String(16))  # pjl | title | fallback | none
    resolved_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("server", "job_id", name="uq_job_owners_server_job_id"),
        Index("ix_job_owners_owner", "owner"),
    )
