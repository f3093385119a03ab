# SPDX-License-Identifier: GPL-3.0-or-later
"""Table `mail_messages`: every mail mail-to-print has taken up, by its Message-ID.

A row is written before the first job of a mail is held (state "holding"), gains each job's
id as cupsd accepts it, and says "held" once all are held and the visitor's PIN is out, or
"refused" once a refusal is decided. The mail is moved out of the inbox only after that:
a service that dies in between finds the row when it sees the mail again, and moves it
without holding anything twice (docs/mailprint.md, "Nothing twice, nothing lost").

The insert is also the claim: where several stations take mail from one mailbox, the one
whose row went in first holds the jobs; `holder` names it, and another station leaves a
"holding" row alone until it has not changed for a few minutes (its holder died).

The key is a SHA-256 of the sender's address and the Message-ID (of the whole message
when it has none), so one sender cannot block another's mail by reusing its Message-ID.
The rows of the last hour are also the per-sender limit's count. No row holds a document.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from releasestation.store.models import Base, UTCDateTime, utcnow


class MailMessage(Base):
    """One mail taken up: whose, what became of it, the jobs it held."""

    __tablename__ = "mail_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    sender: Mapped[str] = mapped_column(String(320))  # the From address, lower case
    owner: Mapped[str] = mapped_column(String(320), default="")  # whose jobs they are
    holder: Mapped[str] = mapped_column(String(128), default="")  # the station taking it
    state: Mapped[str] = mapped_column(String(16))  # holding | held | refused
    jobs: Mapped[str] = mapped_column(Text, default="")  # job ids, comma-separated
    reason: Mapped[str] = mapped_column(Text, default="")  # why refused
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_mail_messages_sender_received", "sender", "received_at"),)
