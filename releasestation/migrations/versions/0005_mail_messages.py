# SPDX-License-Identifier: GPL-3.0-or-later
"""Mail-to-print's memory of the mails it took up (releasestation.mailprint.models).

A branch of its own from 0004: mail-to-print's table depends on no other room's, and
`db upgrade` brings every branch to its head.

Revision ID: 0005_mail_messages
Revises: 0004_audit_job_index
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_mail_messages"
down_revision = "0004_audit_job_index"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "mail_messages",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("sender", sa.String(320), nullable=False),
        sa.Column("owner", sa.String(320), nullable=False),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("jobs", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mail_messages"),
        sa.UniqueConstraint("key", name="uq_mail_messages_key"),
    )
    op.create_index("ix_mail_messages_sender_received", "mail_messages", ["sender", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_mail_messages_sender_received", table_name="mail_messages")
    op.drop_table("mail_messages")
