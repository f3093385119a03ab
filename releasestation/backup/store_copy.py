# SPDX-License-Identifier: GPL-3.0-or-later
"""The store in an archive: a consistent copy taken while the daemon runs, and put back.

SQLite: SQLite's online backup API (`sqlite3.Connection.backup`) copies the whole file in
one step, under one read transaction: in WAL mode writers go on meanwhile, and the copy is
the database as of that transaction's start. It is put back the same way, onto the
station's database file, so a WAL file beside it can never be applied to the wrong pages.

PostgreSQL: every table of the station's own (the SQLAlchemy metadata; other tables of a
shared database are left alone) is read in one REPEATABLE READ, READ ONLY transaction, one
snapshot for all of them, and written as JSON lines (a row is a JSON array in the column
order the manifest gives), with the Alembic revisions of that snapshot. pg_dump is not
used: its major version must be at least the server's, a station seldom has it installed,
and it would dump whatever else shares the schema. A restore builds the tables of the
archive's revisions with the project's migrations, loads the rows in dependency order in
one transaction, sets each serial sequence past the largest id, and then migrates to the
current schema like any other upgrade.

An archive's store is put back onto either kind: a SQLite archive restored onto PostgreSQL
(a site growing from one station to several) is read as rows and loaded like a PostgreSQL
archive; a PostgreSQL archive restored onto SQLite is loaded row by row the same way.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError

from releasestation.errors import BackupError, StoreError
from releasestation.store import Store, migrate
from releasestation.store.models import Base
from releasestation.store.site import FINGERPRINT

log = logging.getLogger(__name__)

SQLITE_MEMBER = "store/releasestation.db"
DUMP_PREFIX = "store/"
VERSION_TABLE = "alembic_version"
# Tables whose rows do not make a store "in use": a new station's `db upgrade` records the
# fingerprint of the secret it just made, and that is replaced by the archive's.
NOT_DATA = {"site_settings", VERSION_TABLE}
BATCH = 5000
KINDS = ("sqlite", "postgresql")
BUSY_SECONDS = 30.0  # how long a copy waits for the daemon's write lock (SQLite)
# Every module that declares tables on the one metadata (tests check the list is whole).
MODEL_MODULES = (
    "releasestation.store.models",
    "releasestation.credentials.models",
    "releasestation.release.models",
    "releasestation.mailprint.models",
)


@dataclass
class Snapshot:
    """A store copied into a staging directory: what goes in the archive and the manifest."""

    kind: str  # sqlite | postgresql
    members: dict[str, Path] = field(default_factory=dict)
    revisions: list[str] = field(default_factory=list)
    fingerprint: str | None = None
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> rows, columns

    def manifest(self) -> dict[str, Any]:
        return {"kind": self.kind, "revisions": self.revisions, "tables": self.tables}


@contextlib.contextmanager
def database_errors(store: Store) -> Iterator[None]:
    """SQLAlchemy's, the drivers' and SQLite's errors as StoreError, with the database's
    first line: never the statement or the rows it carried."""
    try:
        yield
    except (SQLAlchemyError, sqlite3.Error, psycopg.Error) as exc:
        text = str(getattr(exc, "orig", None) or exc).strip()
        first = text.splitlines()[0] if text else type(exc).__name__
        url = make_url(store.url).render_as_string(hide_password=True)
        raise StoreError(f"database {url}: {first}") from None


def our_tables() -> set[str]:
    import importlib

    for module in MODEL_MODULES:
        importlib.import_module(module)
    return set(Base.metadata.tables)


def kind_of(store: Store) -> str:
    return "sqlite" if store.is_sqlite else store.engine.dialect.name


def snapshot(store: Store, staging: Path) -> Snapshot:
    if store.is_sqlite:
        return _sqlite_snapshot(store, staging)
    if store.engine.dialect.name != "postgresql":
        raise BackupError(f"cannot back up a {store.engine.dialect.name} database")
    return _postgres_snapshot(store, staging)


# -- SQLite -------------------------------------------------------------------------------
def sqlite_path(store: Store) -> Path:
    database = store.engine.url.database
    if not database or database == ":memory:":
        raise BackupError("[database] url: an in-memory SQLite database cannot be backed up")
    return Path(database)


def _sqlite_snapshot(store: Store, staging: Path) -> Snapshot:
    source_path = sqlite_path(store)
    if not source_path.exists():
        raise BackupError(f"[database] url: {source_path} does not exist")
    copy = staging / "store.db"
    target = sqlite3.connect(copy)
    try:
        # mode=rw: never create an empty database where the station's should be.
        source = sqlite3.connect(f"file:{source_path}?mode=rw", uri=True, timeout=BUSY_SECONDS)
        try:
            source.backup(target)  # pages=-1: one step, one read transaction
        finally:
            source.close()
    except sqlite3.Error as exc:
        target.close()
        raise BackupError(f"cannot copy {source_path}: {exc}") from None
    try:
        snap = Snapshot("sqlite", {SQLITE_MEMBER: copy})
        problem = target.execute("PRAGMA quick_check").fetchone()[0]
        if problem != "ok":
            raise BackupError(f"the copy of {source_path} fails SQLite's check: {problem}")
        names = _sqlite_tables(target)
        if VERSION_TABLE in names:
            snap.revisions = sorted(r for (r,) in target.execute("SELECT * FROM alembic_version"))
        snap.fingerprint = _sqlite_fingerprint(target, names)
        for name in sorted(names - {VERSION_TABLE}):
            (rows,) = target.execute(f'SELECT count(*) FROM "{name}"').fetchone()  # noqa: S608
            snap.tables[name] = {"rows": rows}
    finally:
        target.close()
    return snap


def _sqlite_tables(conn: sqlite3.Connection) -> set[str]:
    query = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    return {name for (name,) in conn.execute(query)}


def _sqlite_fingerprint(conn: sqlite3.Connection, names: set[str]) -> str | None:
    if "site_settings" not in names:
        return None
    row = conn.execute("SELECT value FROM site_settings WHERE key = ?", (FINGERPRINT,)).fetchone()
    return row[0] if row else None


# -- PostgreSQL ---------------------------------------------------------------------------
def _postgres_snapshot(store: Store, staging: Path) -> Snapshot:
    snap = Snapshot("postgresql")
    ours = our_tables()
    with store.engine.connect() as conn:
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        existing = set(sa.inspect(conn).get_table_names())
        for other in sorted(existing - ours - {VERSION_TABLE}):
            log.warning("table %s is not one of the station's: not in the backup", other)
        snap.revisions = sorted(MigrationContext.configure(conn).get_current_heads())
        meta = sa.MetaData()
        meta.reflect(conn, only=sorted(existing & ours))
        for table in meta.sorted_tables:
            member = f"{DUMP_PREFIX}{table.name}.jsonl"
            snap.members[member] = staging / f"{table.name}.jsonl"
            rows = _dump(conn, table, snap.members[member])
            snap.tables[table.name] = {"rows": rows, "columns": [c.name for c in table.columns]}
        if "site_settings" in meta.tables:
            settings = meta.tables["site_settings"]
            query = sa.select(settings.c.value).where(settings.c.key == FINGERPRINT)
            snap.fingerprint = conn.execute(query).scalar()
        conn.rollback()
    return snap


def _dump(conn: Connection, table: sa.Table, where: Path) -> int:
    order = list(table.primary_key.columns) or list(table.columns)
    query = sa.select(table).order_by(*order).execution_options(yield_per=BATCH)
    encode = json.JSONEncoder(default=_json_value, separators=(",", ":")).encode
    count = 0
    with where.open("w", encoding="utf-8") as out:
        for row in conn.execute(query):
            out.write(encode(list(row)) + "\n")
            count += 1
    return count


def _json_value(value: Any) -> str:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    raise BackupError(f"cannot write a value of type {type(value).__name__} in a backup")


# -- what the archive's store says ---------------------------------------------------------
def recorded_fingerprint(manifest_store: dict[str, Any], staged: dict[str, Path]) -> str | None:
    """The secret fingerprint the archived store itself records (not what the manifest
    says it does)."""
    if manifest_store["kind"] == "sqlite":
        conn = sqlite3.connect(f"file:{staged[SQLITE_MEMBER]}?mode=ro", uri=True)
        try:
            return _sqlite_fingerprint(conn, _sqlite_tables(conn))
        finally:
            conn.close()
    member = f"{DUMP_PREFIX}site_settings.jsonl"
    if member not in staged:
        return None
    columns = manifest_store["tables"]["site_settings"]["columns"]
    for values in _rows(staged[member]):
        row = dict(zip(columns, values, strict=True))
        if row.get("key") == FINGERPRINT:
            return row.get("value")
    return None


def _rows(path: Path) -> Iterator[list[Any]]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            yield json.loads(line)


# -- putting it back -----------------------------------------------------------------------
def has_data(store: Store) -> bool:
    """Whether the station's tables hold any row that a restore would overwrite."""
    with store.engine.connect() as conn:
        existing = set(sa.inspect(conn).get_table_names())
        prepare = conn.dialect.identifier_preparer
        for name in sorted((existing & our_tables()) - NOT_DATA):
            query = f"SELECT 1 FROM {prepare.quote(name)} LIMIT 1"  # noqa: S608 - our tables
            if conn.exec_driver_sql(query).first():
                return True
    return False


def check_kind(manifest_store: dict[str, Any], store: Store) -> None:
    """BackupError unless the archive's store can be put back onto `store`."""
    kind = manifest_store["kind"]
    if kind not in KINDS or kind_of(store) not in KINDS:
        raise BackupError(
            f"the archive holds a {kind} store and [database] url is {kind_of(store)}: "
            f"a store is restored onto {' or '.join(KINDS)} only"
        )
    for revision in manifest_store["revisions"]:
        if not migrate.known(revision, store.engine):
            raise BackupError(
                f"the archive's store is at revision {revision}, which this release does "
                "not know: restore with the release that made it, or a newer one"
            )


def put_back(manifest_store: dict[str, Any], staged: dict[str, Path], store: Store) -> None:
    """Replace the store's contents with the archive's (checked with check_kind and, unless
    forced, has_data), then migrate it to the current schema."""
    if manifest_store["kind"] == kind_of(store) == "sqlite":
        _sqlite_put_back(staged[SQLITE_MEMBER], store)
    else:
        if manifest_store["kind"] == "sqlite":  # onto PostgreSQL: the SQLite copy as rows
            manifest_store, staged = _sqlite_rows(manifest_store, staged[SQLITE_MEMBER])
        _rows_put_back(manifest_store, staged, store)
    store.upgrade()


def _sqlite_put_back(copy: Path, store: Store) -> None:
    store.engine.dispose()  # no pooled connection of ours may hold the old pages
    target_path = sqlite_path(store)
    target_path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    source = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
    target = sqlite3.connect(target_path, timeout=BUSY_SECONDS)
    try:
        source.backup(target)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot write {target_path}: {exc}") from None
    finally:
        source.close()
        target.close()


def _sqlite_rows(
    manifest_store: dict[str, Any], copy: Path
) -> tuple[dict[str, Any], dict[str, Path]]:
    """The archive's SQLite copy written as the rows a PostgreSQL archive holds (JSON lines
    beside it, read through SQLAlchemy so that times and flags come out typed), for a
    station moving from SQLite to PostgreSQL."""
    engine = sa.create_engine(f"sqlite:///file:{copy}?mode=ro&uri=true")
    moved: dict[str, Any] = {**manifest_store, "tables": {}}
    staged: dict[str, Path] = {}
    try:
        with engine.connect() as conn:
            existing = set(sa.inspect(conn).get_table_names())
            meta = sa.MetaData()
            meta.reflect(conn, only=sorted(existing & our_tables()))
            for table in meta.sorted_tables:
                member = f"{DUMP_PREFIX}{table.name}.jsonl"
                staged[member] = copy.with_name(f"{table.name}.jsonl")
                rows = _dump(conn, table, staged[member])
                columns = [c.name for c in table.columns]
                moved["tables"][table.name] = {"rows": rows, "columns": columns}
    except (SQLAlchemyError, sqlite3.Error) as exc:
        raise BackupError(f"the archive's SQLite store cannot be read: {exc}") from None
    finally:
        engine.dispose()
    return moved, staged


def _rows_put_back(manifest_store: dict[str, Any], staged: dict[str, Path], store: Store) -> None:
    """Build the archive's revisions on `store` (PostgreSQL, or SQLite when a PostgreSQL
    archive moves to one) and load its rows in one transaction."""
    if store.is_sqlite:
        sqlite_path(store).parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    revisions = manifest_store["revisions"]
    if migrate.current(store.engine) != set(revisions):
        _drop_ours(store)  # empty (checked) or forced: build the archive's revision afresh
        for revision in revisions:
            migrate.upgrade(store.engine, revision)
    tables: dict[str, dict[str, Any]] = manifest_store["tables"]
    with store.engine.begin() as conn:
        meta = sa.MetaData()
        meta.reflect(conn, only=sorted(tables))
        prepare = conn.dialect.identifier_preparer
        if store.is_sqlite:
            for table in reversed(meta.sorted_tables):
                conn.execute(table.delete())
        else:
            names = ", ".join(prepare.quote(t.name) for t in meta.sorted_tables)
            conn.exec_driver_sql(f"TRUNCATE {names}")
        for table in meta.sorted_tables:
            member = staged[f"{DUMP_PREFIX}{table.name}.jsonl"]
            _load(conn, table, tables[table.name]["columns"], member)
            if not store.is_sqlite:
                _reset_sequence(conn, table)


def _drop_ours(store: Store) -> None:
    with store.engine.begin() as conn:
        existing = set(sa.inspect(conn).get_table_names())
        meta = sa.MetaData()
        meta.reflect(conn, only=sorted(existing & (our_tables() | {VERSION_TABLE})))
        meta.drop_all(conn)


def _load(conn: Connection, table: sa.Table, columns: list[str], member: Path) -> None:
    if set(columns) != set(table.columns.keys()):
        raise BackupError(
            f"table {table.name}: the archive's columns ({', '.join(columns)}) are not those "
            f"of its revision here ({', '.join(table.columns.keys())})"
        )
    convert = [_converter(table.columns[name].type) for name in columns]
    rows = ([f(v) for f, v in zip(convert, values, strict=True)] for values in _rows(member))
    if conn.dialect.driver == "psycopg":  # psycopg 3: COPY, several times faster
        _copy_in(conn.connection.driver_connection, conn, table, columns, rows)
        return
    batch: list[dict[str, Any]] = []
    for values in rows:
        batch.append(dict(zip(columns, values, strict=True)))
        if len(batch) >= BATCH:
            conn.execute(table.insert(), batch)
            batch = []
    if batch:
        conn.execute(table.insert(), batch)


def _copy_in(driver: Any, conn: Connection, table: sa.Table, columns, rows) -> None:
    prepare = conn.dialect.identifier_preparer
    names = ", ".join(prepare.quote(name) for name in columns)
    statement = f"COPY {prepare.quote(table.name)} ({names}) FROM STDIN"
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for values in rows:
            copy.write_row(values)


def _converter(kind: sa.types.TypeEngine) -> Callable[[Any], Any]:
    parse: Callable[[str], Any] | None = None
    if isinstance(kind, sa.DateTime):
        return _in_utc(bool(kind.timezone))
    if isinstance(kind, sa.Date):
        parse = dt.date.fromisoformat
    elif isinstance(kind, sa.Time):
        parse = dt.time.fromisoformat
    if parse is None:
        return lambda value: value
    return lambda value: parse(value) if isinstance(value, str) else value


def _in_utc(aware: bool) -> Callable[[Any], Any]:
    """A time as the store keeps it, UTC: aware for a PostgreSQL column, naive for SQLite's
    (a naive time read from a SQLite archive is UTC already)."""

    def convert(value: Any) -> Any:
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=dt.UTC)
            value = value.astimezone(dt.UTC)
            return value if aware else value.replace(tzinfo=None)
        return value

    return convert


def _reset_sequence(conn: Connection, table: sa.Table) -> None:
    """The next id a serial column hands out: one past the largest restored id."""
    key = list(table.primary_key.columns)
    if len(key) != 1 or not isinstance(key[0].type, sa.Integer):
        return
    prepare = conn.dialect.identifier_preparer
    quoted, column = prepare.quote(table.name), prepare.quote(key[0].name)
    conn.execute(
        sa.text(
            f"SELECT setval(pg_get_serial_sequence(:t, :c), "  # noqa: S608 - quoted names
            f"COALESCE((SELECT max({column}) FROM {quoted}), 0) + 1, false)"
        ),
        {"t": quoted, "c": key[0].name},
    )
