# SPDX-License-Identifier: GPL-3.0-or-later
"""Audit privacy: anonymised and purged trails still verify, and tampering is still found."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from releasestation import reports
from releasestation.audit import GENESIS, Audit, Event, row_hash, verify
from releasestation.config import AuditSettings
from releasestation.errors import StoreError
from releasestation.lifecycle import retention

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def days_ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def fill(store, ages=(100, 90, 80, 70, 10, 5, 1)) -> Audit:
    """One released job per age (days), owned by alice in cost center CC-1."""
    audit = Audit(store, "lobby")
    for i, age in enumerate(ages):
        audit.record(
            Event(
                "release",
                method="card",
                username="alice",
                printer="P1",
                job_id=i + 1,
                title=f"salary {i}.xlsx",
                pages=2,
                detail="alice at the door",
                at=days_ago(age),
                cost_center="CC-1",
            )
        )
    return audit


def rows(store) -> list[tuple]:
    with store.read() as s:
        query = "SELECT job_id, username, title, detail, event FROM audit ORDER BY id"
        return [tuple(r) for r in s.execute(text(query))]


def apply(store, audit, days=30, mode="anonymise", **kw):
    settings = AuditSettings(retain_days=days, retention=mode)
    return retention.apply(store, audit, settings, NOW, **kw)


def test_cost_center_is_hashed_only_when_set():
    values = {"at": NOW, "event": "release", "username": "alice"}
    assert row_hash(GENESIS, values) == row_hash(GENESIS, {**values, "cost_center": None})
    assert row_hash(GENESIS, values) != row_hash(GENESIS, {**values, "cost_center": "CC-1"})


def test_changed_cost_center_is_found(store):
    fill(store)
    with store.write() as s:
        s.execute(text("UPDATE audit SET cost_center = 'CC-9' WHERE job_id = 6"))
    checked, _bad, why = verify(store)
    assert (checked, why) == (5, "row was altered")


def test_anonymise_keeps_counts_and_the_chain(store):
    audit = fill(store)
    assert apply(store, audit, dry_run=True).rows == 4
    result = apply(store, audit)
    assert (result.mode, result.rows) == ("anonymise", 4)
    got = rows(store)
    assert [r[1:4] for r in got[:4]] == [(None, None, None)] * 4
    assert got[4][1:3] == ("alice", "salary 4.xlsx")
    assert got[-1][4] == "checkpoint"
    assert verify(store) == (8, None, "chain intact")
    report = reports.report(store, "cost-center", "month")
    assert sum(r.jobs for r in report) == 7 and sum(r.pages for r in report) == 14
    assert apply(store, audit).rows == 0, "nothing left to do, no new checkpoint"
    assert len(rows(store)) == 8


def test_altered_anonymised_row_is_found(store):
    audit = fill(store)
    apply(store, audit)
    with store.write() as s:
        s.execute(text("UPDATE audit SET pages = 20 WHERE job_id = 2"))
    checked, _bad, why = verify(store)
    assert (checked, why) == (1, "row was altered")


def test_deleted_anonymised_row_is_found(store):
    audit = fill(store)
    apply(store, audit)
    with store.write() as s:
        s.execute(text("DELETE FROM audit WHERE job_id = 4"))
    checked, _bad, why = verify(store)
    assert checked == 3 and "anonymised row before it was removed" in why


def test_anonymising_in_chunks_and_again_later(store, monkeypatch):
    monkeypatch.setattr(retention, "CHUNK", 2)
    audit = fill(store, ages=(100, 95, 90, 85, 80, 60, 50, 1))
    assert apply(store, audit, days=70).rows == 5  # three chunks, three checkpoints
    assert verify(store)[1:] == (None, "chain intact")
    assert apply(store, audit, days=40).rows == 2  # 60 and 50; the 1-day row stops it
    assert verify(store)[1:] == (None, "chain intact")
    assert [r[1] for r in rows(store)] == [None] * 7 + ["alice"] + [None] * 4


def test_purge_then_verify_from_the_first_kept_row(store):
    audit = fill(store)
    result = apply(store, audit, mode="purge")
    assert result.rows == 4
    assert [r[0] for r in rows(store)] == [5, 6, 7, None]
    assert verify(store) == (4, None, "chain intact")


def test_rows_removed_at_the_start_after_a_purge_are_found(store):
    audit = fill(store)
    apply(store, audit, mode="purge")
    with store.write() as s:
        s.execute(text("DELETE FROM audit WHERE job_id = 5"))
    checked, _bad, why = verify(store)
    assert checked == 0 and "start of the trail were removed" in why


def test_forged_checkpoint_is_found(store):
    audit = fill(store)
    apply(store, audit, mode="purge")
    with store.write() as s:
        s.execute(text("DELETE FROM audit WHERE job_id = 5"))
        first = s.execute(text("SELECT prev_hash FROM audit ORDER BY id LIMIT 1")).scalar()
        detail = s.execute(text("SELECT detail FROM audit WHERE event = 'checkpoint'")).scalar()
        forged = detail.replace(detail.split('"start_prev": "')[1][:64], first)
        s.execute(text("UPDATE audit SET detail = :d WHERE event = 'checkpoint'"), {"d": forged})
    checked, bad, why = verify(store)
    assert (checked, why) == (2, "row was altered")
    with store.read() as s:
        assert s.scalar(text("SELECT event FROM audit WHERE id = :i"), {"i": bad}) == "checkpoint"


def test_purge_into_an_anonymised_part(store):
    audit = fill(store, ages=(100, 90, 80, 70, 60, 10))
    apply(store, audit, days=50)  # anonymise 5
    assert apply(store, audit, days=75, mode="purge").rows == 3
    assert verify(store)[1:] == (None, "chain intact")
    assert apply(store, audit, days=5, mode="purge").rows == 3  # checkpoints are young
    assert verify(store)[1:] == (None, "chain intact")


def test_a_broken_trail_is_left_alone(store):
    audit = fill(store)
    with store.write() as s:
        s.execute(text("UPDATE audit SET username = 'mallory' WHERE job_id = 1"))
    with pytest.raises(StoreError, match="broken at row"):
        apply(store, audit)
    assert rows(store)[1][1] == "alice"


def test_retention_off():
    result = retention.apply(None, None, AuditSettings(), NOW)  # type: ignore[arg-type]
    assert result.mode == "off" and "off" in result.summary()
