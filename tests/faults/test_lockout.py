# SPDX-License-Identifier: GPL-3.0-or-later
"""A wrong-PIN flood: on one reader, then across the readers of two stations sharing one
store (SQLite and PostgreSQL), the default lockout policy (5 per reader, 30 per site).

Each case counts the guesses that got through (were checked against the store, not
refused by a lockout) before the lockout engaged, prints them (`pytest -s`) and records
them as the test's properties (`--junitxml`), and fails when more got through than the
policy allows, concurrent guessers included.
"""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from readers import Swipe
from releasestation.credentials import records
from releasestation.credentials.lockout import LockoutPolicy
from releasestation.credentials.models import GuessFailure
from releasestation.identity import Identity
from releasestation.store import users as store_users
from tests.faults.conftest import scaled
from tests.fixtures.station import add_user

PIN = "583920"
POLICY = LockoutPolicy()  # the shipped defaults


def keyed(reader: str, value: str) -> Swipe:
    return Swipe(reader=reader, value=value, kind="pin")


def wrong(n: int) -> str:
    return f"{(100000 + n * 7919) % 1000000:06d}".replace(PIN, "000001")


def guesses_until_locked(ident: Identity, reader: str, start: int = 0, limit: int = 100):
    """(guesses checked before the reader refused, the refusal)."""
    for n in range(limit):
        result = ident.identify(keyed(reader, wrong(start + n)))
        assert result.user is None
        if result.locked:
            return n, result.reason
    raise AssertionError(f"reader {reader} never locked after {limit} wrong PINs")


def test_a_wrong_pin_flood_on_one_reader(make_app, clock, record_property):
    """Proves the per-reader lockout engages after exactly `reader_failures` (5) wrong PINs
    on one reader, that the right PIN is refused there meanwhile, and that another reader
    of the station and a card at the locked reader still work."""
    app = make_app(station="name = north\n")
    with app.store.write() as session:
        alice = store_users.add_user(session, "alice", email="alice@example.org")
        records.set_pin(session, app.hasher, alice, PIN, clock(), days=30)
    add_user(app, "bob", card="0011223344")
    ident = app.identity_with(clock=clock, policy=POLICY)
    through, reason = guesses_until_locked(ident, "pad")
    print(f"\none reader: {through} wrong PINs got through before the lockout engaged")
    record_property("reader_guesses_before_lockout", through)
    assert through == POLICY.reader_failures
    assert "at this reader" in reason
    assert ident.identify(keyed("pad", PIN)).locked
    assert ident.identify(keyed("hall", PIN)).user is not None
    card = ident.identify(Swipe(reader="pad", value="0011223344"))
    assert card.user is not None and card.user.username == "bob"


def test_a_guesser_moving_across_two_stations_meets_the_site_cap(make_app, clock, record_property):
    """Proves the site's cap is shared through the store by stations that share it: a
    guesser who keeps under the per-reader limit by moving from reader to reader, over
    two stations, is stopped after `site_failures` (30) guesses in all, everywhere."""
    north = make_app(station="name = north\n")
    south = make_app(station="name = south\n")  # the same database and secret
    idents = [a.identity_with(clock=clock, policy=POLICY) for a in (north, south)]
    readers = [(i, f"pad{r}") for r in range(6) for i in range(2)]  # 12 readers, 2 stations
    rounds = POLICY.reader_failures - 1  # never enough at one reader to lock it
    attempts = [place for _ in range(rounds) for place in readers]
    through = 0
    for station, reader in attempts:
        if idents[station].identify(keyed(reader, wrong(through))).locked:
            break
        through += 1
    print(f"\nsite: {through} wrong PINs over 12 readers of 2 stations before the site cap")
    record_property("site_guesses_before_cap", through)
    assert through == POLICY.site_failures
    for station, reader in readers:
        refused = idents[station].identify(keyed(reader, PIN))
        assert refused.locked and "across the site" in refused.reason


def test_a_concurrent_flood_on_two_stations_sharing_one_store(make_app, clock, record_property):
    """Proves the limits hold exactly under concurrency: one thread per reader on two
    stations (8 at small scale, 16 at full) guessing as fast as the store lets them, and
    never more than `reader_failures` (5) wrong PINs checked at one reader nor more than
    `site_failures` (30) in all, however the threads interleave: each entry takes its place
    among the failures before it is checked (Lockouts.take). The threads, together able to
    pass the site cap, reach it exactly, and the site locks once. It fails when an entry is
    checked without a place (a count above a cap: a read-then-count lockout let 32-37
    through here), when a lockout engages early (fewer than the cap in all), when the store
    keeps a failure no guess accounts for, or when a thread errs or never stops."""
    north = make_app(station="name = north\n")
    south = make_app(station="name = south\n")
    apps = (north, south)
    threads_n = scaled(8, 16)
    through = [0] * threads_n
    errors: list[BaseException] = []
    site_locked: list[str] = []

    def guess(slot: int) -> None:
        ident = apps[slot % 2].identity_with(clock=clock, policy=POLICY)
        reader = f"pad{slot}"
        try:
            for n in range(200):
                result = ident.identify(keyed(reader, wrong(slot * 1000 + n)))
                if result.locked:
                    return
                through[slot] += 1
                if result.locking and "site" in result.reason:
                    site_locked.append(reader)
        except BaseException as exc:  # the test reports it; a thread would only print it
            errors.append(exc)

    workers = [threading.Thread(target=guess, args=(s,)) for s in range(threads_n)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    total = sum(through)
    print(
        f"\nconcurrent: {threads_n} readers, per reader {through},"
        f" {total} in all (site cap {POLICY.site_failures})"
    )
    record_property("concurrent_guesses", total)
    assert not errors, errors
    assert not any(worker.is_alive() for worker in workers), "a guesser never stopped"
    assert max(through) <= POLICY.reader_failures, through
    assert total <= POLICY.site_failures, through
    assert total == min(POLICY.site_failures, threads_n * POLICY.reader_failures), through
    if threads_n * POLICY.reader_failures >= POLICY.site_failures:
        assert len(site_locked) == 1, f"the site locked {len(site_locked)} times"
    with north.store.read() as session:
        counted = session.scalar(select(func.count()).select_from(GuessFailure))
    assert counted == total, "every guess checked is one failure in the store, no more"
