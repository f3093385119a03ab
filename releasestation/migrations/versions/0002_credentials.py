# SPDX-License-Identifier: GPL-3.0-or-later
"""PINs, card-assignment codes and passwords (as digests and hashes), and lockout state.

Revision ID: 0002_credentials
Revises: 0001_initial
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_credentials"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "credentials",
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("pin_digest", sa.String(64), nullable=True),
        sa.Column("pin_issued_at", TS, nullable=True),
        sa.Column("pin_expires_at", TS, nullable=True),
        sa.Column("cac_digest", sa.String(64), nullable=True),
        sa.Column("cac_issued_at", TS, nullable=True),
        sa.Column("cac_expires_at", TS, nullable=True),
        sa.Column("cac_used_at", TS, nullable=True),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("password_set_at", TS, nullable=True),
        sa.Column("issued_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("user_id", name="pk_credentials"),
        sa.UniqueConstraint("pin_digest", name="uq_credentials_pin_digest"),
        sa.UniqueConstraint("cac_digest", name="uq_credentials_cac_digest"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_credentials_user_id_users", ondelete="CASCADE"
        ),
    )
    op.create_table(
        "credential_failures",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("scope", sa.String(300), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_credential_failures"),
    )
    op.create_index("ix_credential_failures_scope_at", "credential_failures", ["scope", "at"])
    op.create_index("ix_credential_failures_at", "credential_failures", ["at"])
    op.create_table(
        "lockouts",
        sa.Column("scope", sa.String(300), nullable=False),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("locked_until", TS, nullable=True),
        sa.Column("counted_since", TS, nullable=True),
        sa.Column("last_failure_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("scope", name="pk_lockouts"),
    )


def downgrade() -> None:
    op.drop_table("lockouts")
    op.drop_table("credential_failures")
    op.drop_table("credentials")
