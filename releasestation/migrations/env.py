# SPDX-License-Identifier: GPL-3.0-or-later
"""Alembic environment: runs on the engine handed over by releasestation.store.migrate."""

from alembic import context

from releasestation.store.models import Base

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
