# SPDX-License-Identifier: GPL-3.0-or-later
"""Users, cards, site settings and the audit trail.

Revision ID: 0001_initial
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(256), nullable=False),
        sa.Column("username_key", sa.String(256), nullable=False),
        sa.Column("display_name", sa.String(256), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("cost_center", sa.String(128), nullable=True),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("username_key", name="uq_users_username_key"),
    )
    op.create_table(
        "cards",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("last4", sa.String(8), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_cards"),
        sa.UniqueConstraint("digest", name="uq_cards_digest"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_cards_user_id_users", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_cards_user_id", "cards", ["user_id"])
    op.create_table(
        "site_settings",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(256), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_site_settings"),
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("station", sa.String(128), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("method", sa.String(16), nullable=True),
        sa.Column("username", sa.String(256), nullable=True),
        sa.Column("reader", sa.String(128), nullable=True),
        sa.Column("queue", sa.String(128), nullable=True),
        sa.Column("printer", sa.String(128), nullable=True),
        sa.Column("job_id", sa.Integer, nullable=True),
        sa.Column("title", sa.Text, nullable=True),
        sa.Column("pages", sa.Integer, nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("row_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit"),
    )
    op.create_index("ix_audit_at", "audit", ["at"])
    op.create_index("ix_audit_event_at", "audit", ["event", "at"])
    op.create_index("ix_audit_username", "audit", ["username"])


def downgrade() -> None:
    op.drop_table("audit")
    op.drop_table("site_settings")
    op.drop_table("cards")
    op.drop_table("users")
