# SPDX-License-Identifier: GPL-3.0-or-later
"""Held-job lifecycle: job claims (crash-safe release and expiry), resolved job owners, and
the cost center on audit rows (billing uses the cost center at the time of printing).

Revision ID: 0003_lifecycle
Revises: 0001_initial
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_lifecycle"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "job_claims",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("server", sa.String(300), nullable=False),
        sa.Column("job_id", sa.Integer, nullable=False),
        sa.Column("job_created", sa.BigInteger, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("station", sa.String(128), nullable=False),
        sa.Column("queue", sa.String(128), nullable=False),
        sa.Column("target", sa.String(128), nullable=False),
        sa.Column("owner", sa.String(256), nullable=False),
        sa.Column("username", sa.String(256), nullable=True),
        sa.Column("method", sa.String(16), nullable=True),
        sa.Column("reader", sa.String(128), nullable=True),
        sa.Column("title", sa.Text, nullable=True),
        sa.Column("pages", sa.Integer, nullable=True),
        sa.Column("cost_center", sa.String(128), nullable=True),
        sa.Column("claimed_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_job_claims"),
        sa.UniqueConstraint("server", "job_id", name="uq_job_claims_server_job_id"),
    )
    op.create_index("ix_job_claims_station", "job_claims", ["station"])
    op.create_table(
        "job_owners",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("server", sa.String(300), nullable=False),
        sa.Column("job_id", sa.Integer, nullable=False),
        sa.Column("job_created", sa.BigInteger, nullable=False),
        sa.Column("cups_owner", sa.String(256), nullable=False),
        sa.Column("owner", sa.String(256), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("resolved_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_job_owners"),
        sa.UniqueConstraint("server", "job_id", name="uq_job_owners_server_job_id"),
    )
    op.create_index("ix_job_owners_owner", "job_owners", ["owner"])
    op.add_column("audit", sa.Column("cost_center", sa.String(128), nullable=True))


def downgrade() -> None:
    op.drop_column("audit", "cost_center")
    op.drop_index("ix_job_owners_owner", table_name="job_owners")
    op.drop_table("job_owners")
    op.drop_index("ix_job_claims_station", table_name="job_claims")
    op.drop_table("job_claims")
