# SPDX-License-Identifier: GPL-3.0-or-later
"""A fresh schema of its own on the test PostgreSQL server, dropped afterwards.

Database `test` at 127.0.0.1:5432 unless RELEASESTATION_TEST_PG points elsewhere. The
credgen bench's `--db postgres` and the tests' `db_url` fixture (tests/fixtures/db.py) use it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

from sqlalchemy import create_engine, text

PG_URL = os.environ.get(
    "RELEASESTATION_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def pg_schema_url() -> Iterator[str]:
    """A URL whose search_path is a fresh schema; the schema is dropped on exit."""
    schema = f"rs_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
