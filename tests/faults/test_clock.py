# SPDX-License-Identifier: GPL-3.0-or-later
"""The wall clock stepped back and forward (an SBC without a battery-backed clock boots at
its last shutdown time and NTP steps it forward; a clock that ran ahead is stepped back).

PIN expiry, lockouts and the offline window use the station's clock (handed in here,
tests/fixtures/clock.py); the debounce uses the monotonic time of each read (Swipe.seen). Each case
says which way is safe and proves it holds, with a real store and a real cupsd.
"""

from __future__ import annotations

import time

from readers import Swipe
from releasestation.credentials import records
from releasestation.credentials.lockout import LockoutPolicy
from releasestation.daemon import build_station
from releasestation.directory import User
from releasestation.directory.offline import OfflineRecords
from releasestation.store import users as store_users
from tests.fixtures.station import add_user

PIN = "583920"
HOUR, DAY = 3600.0, 86400.0
POLICY = LockoutPolicy()


def keyed(value: str, reader: str = "pad") -> Swipe:
    return Swipe(reader=reader, value=value, kind="pin")


def with_pin(app, clock, days: int = 30) -> None:
    with app.store.write() as session:
        alice = store_users.add_user(session, "alice", email="alice@example.org")
        records.set_pin(session, app.hasher, alice, PIN, clock(), days=days)


def test_pin_expiry_follows_the_clock_both_ways(make_app, clock):
    """Proves expiry is read against the clock at each entry, not decided once: a step
    forward past the expiry refuses the PIN at once, and a step back (the step forward
    was the error) makes it work again; nothing is deleted by a wrong clock."""
    app = make_app()
    with_pin(app, clock, days=30)
    ident = app.identity_with(clock=clock, policy=POLICY)
    assert ident.identify(keyed(PIN)).user is not None
    clock.advance(31 * DAY)
    expired = ident.identify(keyed(PIN))
    assert expired.user is None and "expired" in expired.reason
    clock.advance(-31 * DAY)
    assert ident.identify(keyed(PIN)).user is not None


def test_a_lockout_is_never_lifted_by_a_step_back(make_app, clock):
    """Proves the safe direction for lockouts: a step back does not end a running
    lockout early (it lasts at most the step longer); a step forward past its end lifts
    it, and failures from before a step forward beyond the window no longer count."""
    app = make_app()
    with_pin(app, clock)
    ident = app.identity_with(clock=clock, policy=POLICY)
    for n in range(POLICY.reader_failures):
        assert not ident.identify(keyed(f"00000{n}")).locked
    assert ident.identify(keyed(PIN)).locked
    clock.advance(-HOUR)
    back = ident.identify(keyed(PIN))
    assert back.locked, "a step back lifted a lockout"
    clock.advance(HOUR + POLICY.first_lockout_seconds + 1)
    assert ident.identify(keyed(PIN)).user is not None
    for n in range(POLICY.reader_failures - 1):  # under the limit
        assert not ident.identify(keyed(f"11111{n}")).locked
    clock.advance(POLICY.reader_window_seconds + 1)  # a step forward past the window
    assert not ident.identify(keyed("222220")).locked
    assert ident.identify(keyed(PIN)).user is not None


def test_the_offline_window_does_not_trust_a_time_from_the_future(make_app, clock):
    """Proves an offline row written while the clock ran ahead does not serve beyond the
    window once the clock is stepped back (the window is counted both ways)."""
    app = make_app()
    offline = OfflineRecords(app.store, app.hasher, days=7, clock=clock)
    clock.advance(30 * DAY)  # ahead by a month
    offline.card_resolved("0012345678", User("alice", source="ldap"))
    assert offline.by_card("0012345678") is not None
    clock.advance(-30 * DAY)  # corrected
    assert offline.by_card("0012345678") is None
    clock.advance(24 * DAY)  # within 7 days of the time written
    answer = offline.by_card("0012345678")
    assert answer is not None and answer.user.username == "alice"


def test_the_debounce_across_a_step_never_prints_twice(make_app, cups_clean):
    """Proves the debounce judges the time between reads on the monotonic clock: a repeat
    within the window is ignored whether the wall clock stepped forward or back between the
    reads, and a read after the window is served even when the wall clock says it came an
    hour earlier. Nothing prints twice."""
    app = make_app(station="debounce_seconds = 3\n")
    add_user(app, "ann", card="0011110001")
    jobs = [cups_clean.submit("ann", f"ann {n}") for n in range(2)]
    station = build_station(app, readers=[], services=[])
    now, seen = time.time(), time.monotonic()

    def swipe(at: float, after: float) -> str:
        read = Swipe(reader="desk", value="0011110001", at=at, seen=seen + after)
        return station.handle(read)

    assert swipe(now, 0) == "released"
    assert swipe(now + 1, 1) == "debounced"
    assert swipe(now - HOUR, 1.5) == "debounced"  # stepped back: still the same moment
    assert swipe(now + 2 * HOUR, 2) == "debounced"  # stepped forward: still within 3 s
    assert swipe(now - HOUR, 5.5) == "no-jobs"  # past the window: served, nothing left
    printed = cups_clean.wait_printed(2)
    time.sleep(0.5)
    assert sorted(p.job_id for p in cups_clean.printed()) == sorted(jobs)
    assert len(printed) == 2
