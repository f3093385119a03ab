# SPDX-License-Identifier: GPL-3.0-or-later
"""Directory users and cards as the directory last answered for them, so a station serves
people seen within `[directory] offline_days` while the directory cannot be reached. A
branch of its own from 0004 (it depends on no other table); `db upgrade` brings every
branch to its head.

Revision ID: 0006_offline_directory
Revises: 0004_audit_job_index
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_offline_directory"
down_revision = "0004_audit_job_index"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "offline_users",
        sa.Column("key", sa.String(256), nullable=False),
        sa.Column("username", sa.String(256), nullable=False),
        sa.Column("display_name", sa.String(256), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("dn", sa.Text, nullable=True),
        sa.Column("cost_center", sa.String(128), nullable=True),
        sa.Column("resolved_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_offline_users"),
    )
    op.create_table(
        "offline_cards",
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("username", sa.String(256), nullable=False),
        sa.Column("resolved_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("digest", name="pk_offline_cards"),
    )
    op.create_index("ix_offline_cards_username", "offline_cards", ["username"])


def downgrade() -> None:
    op.drop_index("ix_offline_cards_username", table_name="offline_cards")
    op.drop_table("offline_cards")
    op.drop_table("offline_users")
