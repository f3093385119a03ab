# SPDX-License-Identifier: GPL-3.0-or-later
"""The lockout's slots: an entry is counted as a failure before it is checked, so the
limits hold while entries are in flight; a right one is taken back, a wrong one kept, and
one left behind by a station that died counts until it leaves the window.

Real store (SQLite and PostgreSQL); the clock is handed in.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from readers import Swipe
from releasestation.credentials import records
from releasestation.credentials.lockout import LockoutPolicy, Lockouts
from releasestation.credentials.models import GuessFailure
from releasestation.errors import StoreError
from releasestation.store import users as store_users

PIN = "583920"


@pytest.fixture
def app(make_app, clock):
    application = make_app(station="name = north\n")
    with application.store.write() as s:
        alice = store_users.add_user(s, "alice", email="alice@example.org")
        records.set_pin(s, application.hasher, alice, PIN, clock(), days=30)
    return application


def lockouts(app, clock, **policy) -> Lockouts:
    return Lockouts(app.store, app.audit, LockoutPolicy(**policy), clock)


def failures(app) -> int:
    with app.store.read() as s:
        return int(s.scalar(select(func.count()).select_from(GuessFailure)) or 0)


def keyed(value: str, reader: str = "pad") -> Swipe:
    return Swipe(reader=reader, value=value, kind="pin")


def test_entries_in_flight_take_the_reader_s_places(app, clock):
    locks = lockouts(app, clock, reader_failures=2)
    first, second = locks.take("north", "pad", "pin"), locks.take("north", "pad", "pin")
    assert first.refusal is None and second.refusal is None
    third = locks.take("north", "pad", "pin")
    assert third.refusal and "at this reader, some still being checked" in third.refusal
    assert third.failure_ids == () and failures(app) == 2
    assert locks.take("north", "hall", "pin").refusal is None, "other readers have their own"
    locks.release(first)
    assert locks.take("north", "pad", "pin").refusal is None, "a right entry gives it back"


def test_entries_in_flight_take_the_site_s_places(app, clock):
    locks = lockouts(app, clock, site_failures=3)
    slots = [locks.take("north", f"pad{n}", "pin") for n in range(3)]
    assert all(slot.refusal is None for slot in slots)
    refused = locks.take("south", "pad", "pin")
    assert refused.refusal and "across the site" in refused.refusal
    assert locks.failed(slots[0], "pin") == ["site"], "the first wrong one counts all three"
    assert "locked out" in (locks.take("south", "pad", "pin").refusal or "")


def test_a_right_pin_leaves_no_failure_behind(app, clock):
    ident = app.identity_with(clock=clock, policy=LockoutPolicy(reader_failures=2))
    assert ident.identify(keyed("000001")).user is None
    for _ in range(3):
        assert ident.identify(keyed(PIN)).user is not None
    assert failures(app) == 1
    assert ident.identify(keyed("000002")).locking, "the second wrong one locks, not sooner"


def test_an_entry_that_gets_no_answer_is_not_counted(app, clock, monkeypatch):
    ident = app.identity_with(clock=clock)

    def store_down(*_args):
        raise StoreError("database test: gone")

    monkeypatch.setattr(records, "pin_owner", store_down)
    with pytest.raises(StoreError):
        ident.identify(keyed(PIN))
    assert failures(app) == 0


def test_a_slot_left_by_a_dead_station_counts_until_it_leaves_the_window(app, clock):
    locks = lockouts(app, clock, reader_failures=1, reader_window_seconds=300)
    assert locks.take("north", "pad", "pin").refusal is None  # the station dies here
    refused = locks.take("north", "pad", "pin").refusal
    assert refused and "at most 301 s left" in refused
    clock.advance(301)
    slot = locks.take("north", "pad", "pin")
    assert slot.refusal is None, "nobody stays locked out by it"
    locks.release(slot)


def test_a_dead_station_s_slot_counts_towards_a_lockout(app, clock):
    locks = lockouts(app, clock, reader_failures=3)
    locks.take("north", "pad", "pin")  # never settled
    assert locks.failed(locks.take("north", "pad", "pin"), "pin") == []
    assert locks.failed(locks.take("north", "pad", "pin"), "pin") == ["reader:north/pad"]


def test_a_slot_the_store_cannot_take_back_stays_counted(app, clock, monkeypatch, caplog):
    locks = lockouts(app, clock)
    slot = locks.take("north", "pad", "pin")

    def store_down():
        raise StoreError("database test: gone")

    monkeypatch.setattr(app.store, "write", store_down)
    locks.release(slot)  # no exception: the entry's answer stands
    monkeypatch.undo()
    assert failures(app) == 1
    assert "stays counted as a failure" in caplog.text and PIN not in caplog.text
