# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit trail is hash-chained: an altered or deleted row is found."""

from sqlalchemy import text

from releasestation.audit import Audit, Event, verify


def fill(store, count=5):
    audit = Audit(store, "lobby")
    for i in range(count):
        audit.record(Event("release", method="card", username="alice", job_id=i, title=f"doc {i}"))
    return audit


def test_intact_chain_verifies(store):
    fill(store)
    assert verify(store) == (5, None, "chain intact")


def test_altered_row_is_found(store):
    fill(store)
    with store.write() as s:
        s.execute(text("UPDATE audit SET username = 'mallory' WHERE job_id = 2"))
    checked, bad, why = verify(store)
    assert (checked, why) == (2, "row was altered")
    with store.read() as s:
        assert s.scalar(text("SELECT job_id FROM audit WHERE id = :i"), {"i": bad}) == 2


def test_deleted_row_is_found(store):
    fill(store)
    with store.write() as s:
        s.execute(text("DELETE FROM audit WHERE job_id = 3"))
    checked, _, why = verify(store)
    assert checked == 3 and "removed" in why


def test_titles_can_be_left_out(store):
    Audit(store, "lobby", keep_titles=False).record(Event("release", title="salary.xlsx"))
    with store.read() as s:
        assert s.scalar(text("SELECT title FROM audit")) is None
    assert verify(store)[1] is None
