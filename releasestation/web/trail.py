# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit trail as the admin pages read it: rows filtered by user, way (method), event,
outcome, printer and period, newest first, a page at a time; and each reader's last
errors (its denials and failures).

Filters come from a query string and are checked here (`TrailFilter.from_args`); every
value reaches the database as a bound parameter. A page is found by the id of the last row
of the page before (`before`), so paging through a large trail costs the same on every
page. Titles are shown only as the portal's privacy settings allow (`titles`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select

from releasestation.audit import AUDIT

if TYPE_CHECKING:
    from releasestation.store import Store

PAGE = 50
ERRORS_PER_READER = 3
ERROR_WINDOW = dt.timedelta(days=7)
FILTERS = ("user", "via", "event", "outcome", "printer", "since", "until")


class BadFilter(ValueError):
    """A filter value the trail cannot be asked with (the message says which)."""


@dataclass(frozen=True)
class TrailFilter:
    """What the admin asked for; empty strings and None ask nothing. `since` and `until`
    are whole UTC days, both included."""

    user: str = ""
    via: str = ""
    event: str = ""
    outcome: str = ""
    printer: str = ""
    since: dt.date | None = None
    until: dt.date | None = None
    before: int | None = None

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> TrailFilter:
        texts = {name: (args.get(name) or "").strip()[:128] for name in FILTERS[:5]}
        before = (args.get("before") or "").strip()
        if before and not before.isdigit():
            raise BadFilter("before: a row number")
        return cls(
            **texts,
            since=_day(args.get("since"), "since"),
            until=_day(args.get("until"), "until"),
            before=int(before) if before else None,
        )

    def as_args(self) -> dict[str, Any]:
        """The filters as a query string has them (paging, the CSV link)."""
        values = {name: getattr(self, name) for name in FILTERS}
        return {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in values.items() if v}


def _day(text: str | None, name: str) -> dt.date | None:
    if not text or not text.strip():
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise BadFilter(f"{name}: a day as YYYY-MM-DD") from None


@dataclass(frozen=True)
class TrailRow:
    id: int
    at: dt.datetime
    station: str
    event: str
    outcome: str
    via: str | None
    user: str | None
    reader: str | None
    queue: str | None
    printer: str | None
    job_id: int | None
    title: str | None
    pages: int | None
    detail: str | None

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "at": self.at.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "station": self.station,
            "event": self.event,
            "outcome": self.outcome,
            "via": self.via,
            "user": self.user,
            "reader": self.reader,
            "queue": self.queue,
            "printer": self.printer,
            "job_id": self.job_id,
            "title": self.title,
            "pages": self.pages,
            "detail": self.detail,
        }


_COLUMNS = ("id", "at", "station", "event", "outcome", "method", "username", "reader",
            "queue", "printer", "job_id", "title", "pages", "detail")  # fmt: skip


def trail_page(
    store: Store, wanted: TrailFilter, titles: bool, size: int = PAGE
) -> tuple[list[TrailRow], int | None]:
    """A page of rows matching `wanted`, newest first, and the `before` of the next page
    (None on the last)."""
    c = AUDIT.c
    query = select(*(c[name] for name in _COLUMNS)).order_by(c.id.desc()).limit(size + 1)
    for condition in _conditions(wanted):
        query = query.where(condition)
    with store.read() as session:
        found = session.execute(query).all()
    rows = [_row(values, titles) for values in found[:size]]
    return rows, (rows[-1].id if len(found) > size else None)


def _conditions(wanted: TrailFilter) -> list:
    c = AUDIT.c
    conditions = []
    if wanted.user:
        conditions.append(func.lower(c.username) == wanted.user.lower())
    if wanted.via:
        conditions.append(c.method == wanted.via)
    if wanted.event:
        conditions.append(c.event == wanted.event)
    if wanted.outcome:
        conditions.append(c.outcome == wanted.outcome)
    if wanted.printer:
        conditions.append(or_(c.printer == wanted.printer, c.queue == wanted.printer))
    if wanted.since:
        conditions.append(c.at >= _midnight(wanted.since))
    if wanted.until:
        conditions.append(c.at < _midnight(wanted.until) + dt.timedelta(days=1))
    if wanted.before is not None:
        conditions.append(c.id < wanted.before)
    return conditions


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def _row(values: Sequence, titles: bool) -> TrailRow:
    row = TrailRow(*values)
    if titles or row.title is None:
        return row
    return dataclasses.replace(row, title=None)


@dataclass(frozen=True)
class ReaderError:
    reader: str
    at: dt.datetime
    event: str
    outcome: str
    detail: str | None

    def as_json(self) -> dict[str, object]:
        at = self.at.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        return {"at": at, "event": self.event, "outcome": self.outcome, "detail": self.detail}


def reader_errors(
    store: Store, station: str, readers: Sequence[str], per_reader: int = ERRORS_PER_READER
) -> dict[str, list[ReaderError]]:
    """The last denials and failures each of `readers` saw in the last week, newest first."""
    if not readers:
        return {}
    c = AUDIT.c
    since = dt.datetime.now(dt.UTC) - ERROR_WINDOW
    query = (
        select(c.reader, c.at, c.event, c.outcome, c.detail)
        .where(c.station == station, c.reader.in_(list(readers)), c.at >= since)
        .where(or_(c.event == "deny", c.outcome.not_in(("ok", "no-jobs"))))
        .order_by(c.id.desc())
        .limit(per_reader * len(readers) * 4)
    )
    with store.read() as session:
        found = session.execute(query).all()
    errors: dict[str, list[ReaderError]] = {name: [] for name in readers}
    for reader, at, event, outcome, detail in found:
        if len(errors[reader]) < per_reader:
            errors[reader].append(ReaderError(reader, at, event, outcome, detail))
    return errors
