# SPDX-License-Identifier: GPL-3.0-or-later
"""The directory down, slow and back: `[directory] offline_days` on a real slapd.

Each case stops, freezes or replaces a slapd of its own (make_slapd) and says what it
proves. The store is SQLite and PostgreSQL (db_url); the station's clock is handed in
where the days matter.
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import delete, select

from readers import Swipe
from releasestation.credentials import records
from releasestation.directory import offline as offline_mod
from releasestation.directory.base import User
from releasestation.directory.offline import OfflineRecords
from releasestation.errors import DirectoryError
from releasestation.identity import Identity
from releasestation.store import users as store_users
from releasestation.store.models import OfflineCard, OfflineUser
from tests.fixtures.clock import Clock
from tests.fixtures.station import audit_rows, ldap_section, swipe
from tests.waiting import wait_for

ALICE_CARD = "0012345678"  # alice's employeeNumber in the seeded slapd
STRANGER = "0055555555"  # nobody's
PIN = "482915"
DAY = 86400.0


@pytest.fixture
def directory(make_slapd):
    return make_slapd()


def station(make_app, directory, tmp_path, days: float = 7, extra: str = ""):
    lines = ldap_section(directory, tmp_path) + f"\noffline_days = {days:g}\n{extra}"
    return make_app(directory=lines, credgen="email_notifications = no\n")


def card(value: str, reader: str = "door", kind: str = "card") -> Swipe:
    return Swipe(reader=reader, value=value, kind=kind)  # type: ignore[arg-type]


def now_clock(days: float = 0) -> Clock:
    return Clock(dt.datetime.now(dt.UTC) + dt.timedelta(days=days))


def who(ident: Identity, value: str, kind: str = "card") -> str | None:
    result = ident.identify(card(value, kind=kind))
    return result.user.username if result.user else None


def test_slapd_stopped_a_card_used_yesterday_releases_an_unknown_card_is_refused(
    make_app, directory, tmp_path, cups_clean, caplog
):
    """Proves the issue's "done when": a card resolved a day ago releases its owner's
    jobs with slapd stopped, audited offline; an unknown card is refused with a line that
    says why; both behave normally again once slapd is back, without a restart."""
    app = station(make_app, directory, tmp_path)
    yesterday = app.identity_with(clock=now_clock(-1))
    assert who(yesterday, ALICE_CARD) == "alice"  # resolved a day ago, kept
    directory.stop()
    job = cups_clean.submit("alice", "offline")
    assert swipe(app, ALICE_CARD) == "released"
    assert [p.job_id for p in cups_clean.wait_printed(1)] == [job]
    offline = audit_rows(app, "identify")
    assert [(r["outcome"], r["username"], r["method"]) for r in offline] == [
        ("offline", "alice", "card")
    ]
    assert "unreachable" in offline[0]["detail"]
    assert swipe(app, STRANGER) == "lookup-failed"
    refused = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("******5555" in m and "refused until the directory answers" in m for m in refused)
    assert all(STRANGER not in m for m in refused)
    print("\n" + "\n".join(refused))
    denial = audit_rows(app, "deny")[-1]
    assert denial["outcome"] == "lookup-failed"
    assert "not resolved in the last 7 day(s)" in denial["detail"]
    assert STRANGER not in denial["detail"]
    directory.start()
    assert swipe(app, STRANGER) == "denied"  # asked again: nobody's card
    assert audit_rows(app, "deny")[-1]["detail"] == "unknown card"
    assert swipe(app, ALICE_CARD) == "no-jobs"  # the directory's answer, not the copy
    assert len(audit_rows(app, "identify")) == 1


def test_the_copy_holds_the_card_s_hmac_never_its_number(make_app, directory, tmp_path):
    """Proves the kept card is the digest the store keys cards with, and nothing else."""
    app = station(make_app, directory, tmp_path)
    assert who(app.identity_with(), ALICE_CARD) == "alice"

    def kept() -> tuple[list[OfflineCard], list[OfflineUser]]:
        with app.store.read() as session:
            return session.scalars(select(OfflineCard)).all(), session.scalars(
                select(OfflineUser)
            ).all()

    assert wait_for(lambda: all(kept()), 5), "written by the copy's own thread"
    cards, users = kept()
    assert [(c.digest, c.username) for c in cards] == [(app.hasher.card(ALICE_CARD), "alice")]
    assert [(u.username, u.email, u.display_name) for u in users] == [
        ("alice", "alice@example.org", "Alice Example")
    ]
    assert all(ALICE_CARD not in str(vars(c)) for c in cards)


def test_the_copy_is_written_off_the_swipe_s_path_and_a_removal_wins(make_app, directory, tmp_path):
    """Proves the copy is written by its own thread (the identification returns while the
    writer is held up, the row not yet in the store) and that a removal the directory
    orders before a queued row is written is never undone by that row. Fails on a row
    written on the swipe's path, or on a card of a user the directory no longer knows
    coming back from the queue."""
    app = station(make_app, directory, tmp_path)
    ident = app.identity_with()
    with ident.offline._flushing:  # the writer cannot write until this block ends
        assert who(ident, ALICE_CARD) == "alice"
        with app.store.read() as session:
            assert session.scalars(select(OfflineCard)).all() == []
    assert wait_for(lambda: ident.offline.by_card(ALICE_CARD) is not None, 5)

    queued = OfflineRecords(app.store, app.hasher, 7, write_behind=False)
    queued.card_resolved("0099887766", User("bob", source="ldap"))
    assert len(queued._pending) == 2, "bob and his card, waiting to be written"
    queued.user_gone("bob")  # the directory says bob is gone
    queued.flush()
    with app.store.read() as session:
        assert [c.username for c in session.scalars(select(OfflineCard))] == ["alice"]
        assert [u.username for u in session.scalars(select(OfflineUser))] == ["alice"]
    assert queued.by_card("0099887766") is None


def test_the_copy_s_writer_ends_when_idle_and_comes_back(
    make_app, directory, tmp_path, monkeypatch
):
    """Proves the copy's writer thread ends once nothing came for a while (a station, or a
    test run, does not keep one thread for every set of parts it ever built) and that the
    next row starts another, which writes it. Fails on a thread left waiting for ever, or
    a row queued after it ended and never written."""
    monkeypatch.setattr(offline_mod, "WRITER_IDLE", 0.2)
    app = station(make_app, directory, tmp_path)
    ident = app.identity_with()
    assert who(ident, ALICE_CARD) == "alice"
    assert wait_for(lambda: ident.offline._writer is None, 5), "ended when idle"
    ident.offline._written.clear()  # due again
    with app.store.write() as session:
        session.execute(delete(OfflineCard))
    assert who(ident, ALICE_CARD) == "alice"
    assert ident.offline._writer is not None, "a new writer for the new row"

    def kept() -> bool:
        with app.store.read() as session:
            return bool(session.scalars(select(OfflineCard)).all())

    assert wait_for(kept, 5)


def test_a_pin_of_a_directory_user_is_served_offline(make_app, directory, tmp_path, clock):
    """Proves PINs from a keypad (looked up in the store, their owner in the directory) are
    served from the copy too, that the same digits from a card reader are not (they may be
    a card number only the directory knows), and that the window counts from the last
    answer: 7 days, not 8."""
    app = station(make_app, directory, tmp_path)
    with app.store.write() as session:
        alice = store_users.add_user(session, "alice", "ldap")
        records.set_pin(session, app.hasher, alice, PIN, clock(), days=60)
    ident = app.identity_with(clock=clock)
    assert who(ident, PIN, "pin") == "alice"
    directory.stop()
    clock.advance(6.9 * DAY)
    assert who(ident, PIN, "pin") == "alice"
    with pytest.raises(DirectoryError, match="this card was not resolved"):
        ident.identify(card(PIN))  # typed at a card reader: perhaps someone's card
    clock.advance(0.2 * DAY)  # 7.1 days since the directory last answered
    with pytest.raises(DirectoryError, match="user alice was not resolved in the last 7 day"):
        ident.identify(card(PIN, kind="pin"))


def test_offline_days_0_turns_it_off(make_app, directory, tmp_path):
    """Proves `offline_days = 0` keeps nothing and serves nothing: every lookup needs the
    directory, as before."""
    app = station(make_app, directory, tmp_path, days=0)
    ident = app.identity_with()
    assert who(ident, ALICE_CARD) == "alice"
    with app.store.read() as session:
        assert session.scalars(select(OfflineCard)).all() == []
    directory.stop()
    with pytest.raises(DirectoryError) as raised:
        ident.identify(card(ALICE_CARD))
    assert "offline_days" not in str(raised.value)


def test_a_user_removed_while_it_was_down_stops_as_soon_as_it_answers(
    make_app, directory, tmp_path
):
    """Proves the trade-off's limit: a user disabled (here: removed) in the directory is
    served while it is down, and refused from its first answer on; the copy is gone, so a
    second outage does not bring them back."""
    directory.add_user("dora", cards=["0044332211"], mail="dora@example.org")
    app = station(make_app, directory, tmp_path)
    ident = app.identity_with()
    assert who(ident, "0044332211") == "dora"
    directory.stop()
    assert who(ident, "0044332211") == "dora"  # the trade-off: still served meanwhile
    directory.start()
    directory.delete(f"uid=dora,{directory.settings().base_dn}")
    assert who(ident, "0044332211") is None
    directory.stop()
    with pytest.raises(DirectoryError, match="this card was not resolved"):
        ident.identify(card("0044332211"))


class StalledListener:
    """A TCP listener that accepts connections and never answers: a hung directory."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def stalled() -> Iterator[StalledListener]:
    listener = StalledListener()
    yield listener
    listener.close()


def test_a_stalled_directory_is_served_from_the_copy_within_its_timeouts(
    make_app, directory, tmp_path, stalled
):
    """Proves a directory that accepts and never answers costs the receive timeout (twice:
    the station reconnects once) and no more, then the copy serves; and the next swipe
    finds the server skipped. A station sharing the store with the one that resolved the
    card serves it too."""
    first = station(make_app, directory, tmp_path)
    assert who(first.identity_with(), ALICE_CARD) == "alice"
    hung = tmp_path / "hung"
    hung.mkdir()
    second = make_app(  # the same database and secret file
        directory=ldap_section(directory, hung, uri=(f"ldap://127.0.0.1:{stalled.port}",))
        + "\nreceive_timeout_seconds = 0.5\noffline_days = 7\n",
        credgen="email_notifications = no\n",
    )
    ident = second.identity_with()
    started = time.monotonic()
    assert who(ident, ALICE_CARD) == "alice"
    took = time.monotonic() - started
    assert stalled.accepted, "the station never reached the stalled listener"
    assert took < 4.0, f"a stalled directory held the swipe {took:.1f} s"
    with pytest.raises(DirectoryError, match="this card was not resolved"):
        ident.identify(card(STRANGER))


def test_a_frozen_slapd_then_back(make_app, directory, tmp_path):
    """Proves a slapd that stops answering mid-day (SIGSTOP: connections accepted by the
    kernel, never answered) is served from the copy, and that recovery needs nothing:
    once it answers again, the directory's answers are used."""
    app = station(make_app, directory, tmp_path, extra="receive_timeout_seconds = 0.5\n")
    ident = app.identity_with()
    assert who(ident, ALICE_CARD) == "alice"
    directory.pause()
    try:
        assert who(ident, ALICE_CARD) == "alice"
        with pytest.raises(DirectoryError):
            ident.identify(card(STRANGER))
    finally:
        directory.resume()
    deadline = time.monotonic() + 15
    while True:  # the failed server is skipped for 10 s, then asked again
        result = ident.identify(card(STRANGER)) if _answers(ident) else None
        if result is not None:
            assert result.user is None and result.reason == "unknown card"
            break
        assert time.monotonic() < deadline, "the station never went back to the directory"
        time.sleep(0.5)


def _answers(ident: Identity) -> bool:
    try:
        ident.directory.user_by_name("alice")
    except DirectoryError:
        return False
    return True
