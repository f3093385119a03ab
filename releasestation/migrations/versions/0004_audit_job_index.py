# SPDX-License-Identifier: GPL-3.0-or-later
"""An index on audit.job_id: a swipe asks whether its jobs were released or expired
elsewhere a moment ago, and that must not scan a busy minute of the trail.

Revision ID: 0004_audit_job_index
Revises: 0003_lifecycle
"""

from alembic import op

revision = "0004_audit_job_index"
down_revision = "0003_lifecycle"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_job_id", "audit", ["job_id"])


def downgrade() -> None:
    op.drop_index("ix_audit_job_id", table_name="audit")
