# SPDX-License-Identifier: GPL-3.0-or-later
"""Writing many rows at once, in the way each database takes them fastest.

SQLite takes an executemany (its driver loops in C). PostgreSQL gets one statement per
group with one array parameter per column (`INSERT … SELECT FROM unnest(…)`, `UPDATE …
FROM unnest(…)`, `= ANY(…)`): a statement with thousands of separate parameters is parsed
anew, in Python, by the driver every time, and that costs more than the server's work.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    String,
    Table,
    any_,
    bindparam,
    cast,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def matching(session: Session, column, keys: Sequence[str]) -> ColumnElement[bool]:
    """`column` is one of `keys`: one array parameter on PostgreSQL, IN (…) elsewhere."""
    if is_postgres(session):
        return column == any_(cast(bindparam("keys", list(keys), type_=ARRAY(String)),
                                   ARRAY(String)))  # fmt: skip
    return column.in_(keys)


def insert_rows(
    session: Session, table: Table, rows: Sequence[Mapping[str, Any]], returning=()
) -> list[Row[Any]]:
    """Insert `rows` (dicts with the same keys); the `returning` columns of each, if any."""
    if not rows:
        return []
    if is_postgres(session):
        names = list(rows[0])
        source: Any = select(literal_column("*")).select_from(_unnest(table, rows, names))
        statement = insert(table).from_select(names, source)
        params: Any = None
    else:
        statement, params = insert(table), list(rows)
    if returning:
        return list(session.execute(statement.returning(*returning), params))
    session.execute(statement, params)
    return []


def update_rows(
    session: Session, table: Table, key: str, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Set the values of `rows` on the rows of `table` whose `key` column matches theirs."""
    if not rows:
        return
    names = [n for n in rows[0] if n != key]
    if is_postgres(session):
        values = _unnest(table, rows, [key, *names])
        statement = (
            update(table)
            .where(table.c[key] == values.c[key])
            .values({n: values.c[n] for n in names})
        )
        session.execute(statement)
        return
    statement = update(table).where(table.c[key] == bindparam(f"b_{key}"))
    statement = statement.values({n: bindparam(f"b_{n}") for n in names})
    session.execute(statement, [{f"b_{k}": v for k, v in row.items()} for row in rows])


def _unnest(table: Table, rows: Sequence[Mapping[str, Any]], names: Sequence[str]):
    """unnest(array of column 1, array of column 2, …) AS (name 1, name 2, …)."""
    arrays = []
    for name in names:
        kind = ARRAY(table.c[name].type)
        values = [row[name] for row in rows]
        arrays.append(cast(bindparam(f"a_{name}", values, type_=kind), kind))
    return func.unnest(*arrays).table_valued(*names).render_derived(name="v")
