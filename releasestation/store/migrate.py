# SPDX-License-Identifier: GPL-3.0-or-later
"""Alembic migrations, run from code (`releasestation db upgrade`) with no alembic.ini."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from releasestation.errors import StoreError

SCRIPTS = Path(__file__).resolve().parent.parent / "migrations"


def _config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, target: str = "heads") -> None:
    """Bring the database to the newest revision of every branch, or to `target` (one
    revision; a restore builds the tables of the revision its archive was made at)."""
    try:
        command.upgrade(_config(engine), target)
    except Exception as exc:
        raise StoreError(f"cannot migrate the database: {exc}") from exc


def current(engine: Engine) -> set[str]:
    """The revisions the database is at (none: no tables made by migrations)."""
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def known(revision: str, engine: Engine) -> bool:
    """Whether this code has a migration script for `revision`."""
    scripts = ScriptDirectory.from_config(_config(engine))
    return any(script.revision == revision for script in scripts.walk_revisions())


def problem(engine: Engine) -> str | None:
    """A text when the database is not at the newest revisions, else None."""
    heads = set(ScriptDirectory.from_config(_config(engine)).get_heads())
    now = current(engine)
    if now == heads:
        return None
    if not now:
        return "database is empty: run `releasestation db upgrade`"
    return (
        f"database is at {sorted(now)}, code expects {sorted(heads)}:"
        " run `releasestation db upgrade`"
    )
