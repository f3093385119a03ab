# SPDX-License-Identifier: GPL-3.0-or-later
"""Identity: PINs, card self-association with a card-assignment code, and the lockout.

Real store (SQLite and PostgreSQL), local directory; the clock is handed in so that
lockouts and expiry can be walked through without waiting.
"""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from sqlalchemy import select, text

from readers import Swipe
from releasestation.audit import verify
from releasestation.credentials import records
from releasestation.credentials.lockout import LockoutPolicy
from releasestation.credentials.models import Credential, Lockout
from releasestation.identity import Identity
from releasestation.store import users as store_users
from releasestation.store.models import Card
from tests.fixtures.clock import T0

PIN, CAC, CARD = "583920", "40917362", "0099887766"


@pytest.fixture
def app(make_app):
    application = make_app(credgen="email_notifications = no\n")
    with application.store.write() as s:
        alice = store_users.add_user(s, "alice", email="alice@example.org")
        records.set_pin(s, application.hasher, alice, PIN, T0, days=30)
        cred = s.get(Credential, alice.id)
        cred.cac_digest = application.hasher.digest("cac", CAC)
        cred.cac_expires_at = T0 + dt.timedelta(days=7)
        store_users.add_card(s, application.hasher, store_users.add_user(s, "bob"), "0011223344")
    return application


def identity(app, clock, **policy) -> Identity:
    return app.identity_with(clock=clock, policy=LockoutPolicy(**policy))


def swipe(value: str, reader: str = "door", kind: str = "card", at: float = 1000.0) -> Swipe:
    return Swipe(reader=reader, value=value, kind=kind, at=at)  # type: ignore[arg-type]


def who(result) -> str | None:
    return result.user.username if result.user else None


# -- PINs -------------------------------------------------------------------------------
def test_a_pin_identifies_its_owner(app, clock):
    ident = identity(app, clock)
    result = ident.identify(swipe(PIN))
    assert (result.method, who(result)) == ("pin", "alice")
    keypad = ident.identify(swipe(PIN, kind="pin"))
    assert (keypad.method, who(keypad)) == ("pin", "alice")


def test_a_long_digit_value_is_a_card_not_a_pin(app, clock):
    result = identity(app, clock).identify(swipe("0011223344"))
    assert (result.method, who(result)) == ("card", "bob")


def test_unknown_and_expired_pins_are_refused(app, clock):
    ident = identity(app, clock)
    unknown = ident.identify(swipe("583921"))
    assert (unknown.method, unknown.user, unknown.reason) == ("pin", None, "unknown PIN or card")
    keypad = ident.identify(swipe("583922", reader="pad", kind="pin"))
    assert (keypad.method, keypad.user, keypad.reason) == ("pin", None, "unknown PIN")
    clock.advance(31 * 86400)
    expired = ident.identify(swipe(PIN))
    assert expired.user is None and "expired" in expired.reason


def test_a_disabled_user_s_pin_releases_nothing(app, clock):
    with app.store.write() as s:
        store_users.find_user(s, "alice").disabled = True
    assert identity(app, clock).identify(swipe(PIN)).user is None


def test_a_short_card_number_is_still_a_card(app, clock):
    """An all-digit value short enough to be a PIN that is nobody's PIN but a card's."""
    with app.store.write() as s:
        store_users.add_card(s, app.hasher, store_users.add_user(s, "hid"), "4567")
    ident = identity(app, clock)
    result = ident.identify(swipe("4567"))
    assert (result.method, who(result)) == ("card", "hid")
    keypad = ident.identify(swipe("4567", kind="pin"))
    assert (keypad.method, keypad.user) == ("pin", None), "a PIN pad enters PINs only"
    with app.store.read() as s:
        assert s.scalar(text("SELECT count(*) FROM credential_failures")) == 1


def test_a_value_that_is_two_people_s_pin_and_card_releases_nothing(app, clock, caplog):
    with app.store.write() as s:
        store_users.add_card(s, app.hasher, store_users.add_user(s, "carl"), PIN)
    result = identity(app, clock).identify(swipe(PIN))
    assert result.user is None and "both a PIN and a card number" in result.reason
    assert "PIN of alice and a card number of carl" in caplog.text and PIN not in caplog.text
    keypad = identity(app, clock).identify(swipe(PIN, kind="pin"))
    assert who(keypad) == "alice", "on a PIN pad it is only a PIN"


def test_pin_max_digits_follows_the_pin_length_unless_set(tmp_path):
    from releasestation import config

    def digits(station: str = "", credgen: str = "") -> int:
        text_ = f"[station]\nhold_queues = Q\n{station}[credgen]\n{credgen}"
        return config.parse_text(text_).station.pin_max_digits

    assert digits() == 6
    assert digits(credgen="pin_length = 8\n") == 8
    assert digits("pin_max_digits =\n", "pin_length = 7\n") == 7
    assert digits(credgen="generate_pin = no\ngenerate_puk = yes\n") == 0
    assert digits("pin_max_digits = 4\n", "pin_length = 8\n") == 4, "an explicit value stands"
    assert digits("pin_max_digits = 0\n") == 0


# -- card self-association ----------------------------------------------------------------
def test_an_unknown_card_then_a_cac_binds_the_card(app, clock, caplog):
    caplog.set_level(logging.DEBUG)
    ident = identity(app, clock)
    first = ident.identify(swipe(CARD, at=1000.0))
    assert (first.method, first.user, first.reason) == ("card", None, "unknown card")
    bound = ident.identify(swipe(CAC, at=1030.0))
    assert (bound.method, who(bound)) == ("cac", "alice")
    with app.store.read() as s:
        card = s.scalars(select(Card).where(Card.digest == app.hasher.card(CARD))).one()
        assert (card.user.username, card.origin, card.last4) == ("alice", "self", "7766")
        cred = s.get(Credential, card.user_id)
        assert cred.cac_used_at == T0
        row = s.execute(text("SELECT event, outcome, method, username, detail FROM audit")).one()
    assert tuple(row[:4]) == ("card", "bound", "cac", "alice") and "ending 7766" in row[4]
    later = ident.identify(swipe(CARD, at=2000.0))
    assert (later.method, who(later)) == ("card", "alice")
    assert CARD not in caplog.text and CAC not in caplog.text
    assert CARD not in str(row) and CAC not in str(row)
    assert verify(app.store)[1] is None


def test_a_cac_works_once(app, clock):
    ident = identity(app, clock)
    ident.identify(swipe(CARD, at=1000.0))
    assert who(ident.identify(swipe(CAC, at=1010.0))) == "alice"
    ident.identify(swipe("0055555555", at=1100.0))
    again = ident.identify(swipe(CAC, at=1110.0))
    assert again.user is None and "already used" in again.reason


def test_the_cac_must_come_within_60_seconds_on_the_same_reader(app, clock):
    ident = identity(app, clock)
    ident.identify(swipe(CARD, reader="door", at=1000.0))
    elsewhere = ident.identify(swipe(CAC, reader="hall", at=1005.0))
    assert elsewhere.user is None and elsewhere.method == "card"
    ident.identify(swipe(CARD, reader="door", at=1010.0))
    late = ident.identify(swipe(CAC, reader="door", at=1071.0))
    assert late.user is None and late.method == "card"
    with app.store.read() as s:
        assert s.scalars(select(Card).where(Card.origin == "self")).all() == []


def test_an_expired_cac_binds_nothing_and_counts_as_a_failure(app, clock):
    clock.advance(8 * 86400)
    ident = identity(app, clock)
    ident.identify(swipe(CARD, at=1000.0))
    result = ident.identify(swipe(CAC, at=1001.0))
    assert (result.method, result.user) == ("cac", None) and "expired" in result.reason
    with app.store.read() as s:
        assert s.scalar(text("SELECT count(*) FROM credential_failures")) == 1


def test_an_unknown_short_card_then_a_cac_binds_the_card(app, clock):
    ident = identity(app, clock)
    first = ident.identify(swipe("45678", at=1000.0))
    assert (first.user, first.reason) == (None, "unknown PIN or card")
    assert who(ident.identify(swipe(CAC, at=1010.0))) == "alice"
    later = ident.identify(swipe("45678", at=2000.0))
    assert (later.method, who(later)) == ("card", "alice")


def test_a_pin_after_an_unknown_card_still_releases(app, clock):
    ident = identity(app, clock)
    ident.identify(swipe(CARD, at=1000.0))
    result = ident.identify(swipe(PIN, at=1001.0))
    assert (result.method, who(result)) == ("pin", "alice")


# -- lockout ----------------------------------------------------------------------------
def wrong_pins(ident: Identity, count: int, reader: str = "door") -> list:
    return [ident.identify(swipe(f"{700001 + i}", reader=reader)) for i in range(count)]


def test_five_wrong_pins_lock_the_reader_and_the_time_doubles(app, clock):
    ident = identity(app, clock, first_lockout_seconds=300)
    results = wrong_pins(ident, 5)
    assert "now locked" in results[-1].reason and "now locked" not in results[-2].reason
    locked = ident.identify(swipe(PIN))
    assert locked.user is None and locked.locked and "locked out" in locked.reason
    assert who(ident.identify(swipe(PIN, reader="hall"))) == "alice", "other readers work"
    assert who(ident.identify(swipe("0011223344"))) == "bob", "cards work at a locked reader"
    with app.store.write() as s:
        store_users.add_card(s, app.hasher, store_users.find_user(s, "bob"), "4567")
    assert who(ident.identify(swipe("4567"))) == "bob", "short ones too"

    clock.advance(301)
    assert who(ident.identify(swipe(PIN))) == "alice", "the first lockout lasts 300 s"
    wrong_pins(ident, 5)
    clock.advance(301)
    assert ident.identify(swipe(PIN)).locked, "the second lockout lasts longer"
    clock.advance(300)
    assert who(ident.identify(swipe(PIN))) == "alice", "and ends after 600 s"
    with app.store.read() as s:
        state = s.get(Lockout, "reader:lobby/door")
        assert state.level == 2
        events = s.execute(text("SELECT outcome, reader, detail FROM audit")).all()
    assert [e[0] for e in events] == ["reader-locked", "reader-locked"]
    assert "locked for 300 s" in events[0][2] and "locked for 600 s" in events[1][2]


def test_entries_while_locked_are_not_checked(app, clock):
    """A guesser learns nothing while locked: even the right PIN is refused."""
    ident = identity(app, clock)
    wrong_pins(ident, 5)
    for _ in range(3):
        assert ident.identify(swipe(PIN)).locked
    with app.store.read() as s:
        assert s.scalar(text("SELECT count(*) FROM credential_failures")) == 5


def test_failures_spread_over_readers_hit_the_site_cap(app, clock):
    ident = identity(app, clock, site_failures=8)
    for reader in ("a", "b", "c", "d"):
        wrong_pins(ident, 2, reader=reader)
    refused = ident.identify(swipe(PIN, reader="e"))
    assert refused.locked and "across the site" in refused.reason
    with app.store.read() as s:
        outcomes = s.scalars(text("SELECT outcome FROM audit")).all()
    assert outcomes == ["site-locked"]


def test_failures_outside_the_window_do_not_add_up(app, clock):
    ident = identity(app, clock)
    for _ in range(4):
        wrong_pins(ident, 1)
        clock.advance(100)
    assert who(ident.identify(swipe(PIN))) == "alice"


def test_a_lockout_survives_a_restart(app, make_app, clock):
    wrong_pins(identity(app, clock), 5)
    app.close()
    restarted = make_app(credgen="email_notifications = no\n")
    assert identity(restarted, clock).identify(swipe(PIN)).locked
    clock.advance(301)
    assert who(identity(restarted, clock).identify(swipe(PIN))) == "alice"


def test_lockouts_are_forgotten_after_a_quiet_day(app, clock):
    ident = identity(app, clock)
    wrong_pins(ident, 5)
    clock.advance(2 * 86400)
    wrong_pins(ident, 5)
    with app.store.read() as s:
        assert s.get(Lockout, "reader:lobby/door").level == 1


def test_no_typed_value_reaches_the_logs_or_the_store(app, clock, caplog):
    caplog.set_level(logging.DEBUG)
    ident = identity(app, clock)
    typed = [f"{700001 + i}" for i in range(6)]
    for value in typed:
        ident.identify(swipe(value))
    with app.store.read() as s:
        dump = str(s.execute(text("SELECT * FROM audit")).all())
        dump += str(s.execute(text("SELECT * FROM credential_failures")).all())
    for value in typed:
        assert value not in caplog.text and value not in dump
