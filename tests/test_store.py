# SPDX-License-Identifier: GPL-3.0-or-later
"""The store on SQLite and PostgreSQL: users, cards as digests, migrations, concurrent writers."""

from __future__ import annotations

import os
import stat
import threading

import pytest
from sqlalchemy import inspect, select, text

from releasestation import secret
from releasestation.errors import ConfigError, ConflictError, StoreError
from releasestation.secret import Hasher
from releasestation.store import Store
from releasestation.store import users as su
from releasestation.store.models import Card

H = Hasher(b"k" * 64)


def test_migrated_store_reports_no_problem(store):
    assert store.migration_problem() is None


def test_empty_database_needs_upgrade(db_url):
    st = Store(db_url)
    assert "releasestation db upgrade" in (st.migration_problem() or "")
    st.close()


def test_cards_are_stored_only_as_digests(store):
    with store.write() as s:
        alice = su.add_user(s, "Alice", email="alice@example.org")
        su.add_card(s, H, alice, "0012345678")
        su.add_card(s, H, alice, "AB:CD")
    with store.read() as s:
        assert su.user_by_card(s, H, "0012345678").username == "Alice"
        assert su.user_by_card(s, H, " ab:cd ").username == "Alice"
        assert su.user_by_card(s, H, "0012345679") is None
        stored = [c.digest + c.last4 for c in s.scalars(select(Card))]
        assert not any("0012345678" in v for v in stored)
        assert su.list_cards(s, "alice") == [("Alice", "5678", "admin"), ("Alice", "B:CD", "admin")]


def test_a_card_cannot_belong_to_two_users(store):
    with store.write() as s:
        su.add_card(s, H, su.add_user(s, "alice"), "0012345678")
    expected = "card ending 5678 is already assigned"
    with pytest.raises(ConflictError, match=expected) as err, store.write() as s:
        su.add_card(s, H, su.add_user(s, "bob"), "0012345678")
    assert "0012345678" not in str(err.value)
    with store.read() as s:
        assert su.find_user(s, "bob") is None, "the failed transaction left nothing behind"


def test_usernames_are_unique_case_insensitively(store):
    with store.write() as s:
        su.add_user(s, "alice")
    with pytest.raises(ConflictError, match="already exists"), store.write() as s:
        su.add_user(s, "ALICE")


def test_removing_a_user_removes_their_cards(store):
    with store.write() as s:
        su.add_card(s, H, su.add_user(s, "alice"), "111222")
    with store.write() as s:
        assert su.remove_user(s, "alice")
    with store.read() as s:
        assert su.user_by_card(s, H, "111222") is None
        assert s.scalar(text("SELECT count(*) FROM cards")) == 0


def test_two_writers_at_once_both_succeed(store):
    errors: list[Exception] = []

    def writer(prefix: str) -> None:
        try:
            for i in range(25):
                with store.write() as s:
                    su.add_user(s, f"{prefix}{i}")
        except Exception as exc:  # pragma: no cover - the assertion shows it
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(p,)) for p in ("a", "b", "c")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with store.read() as s:
        assert len(su.list_users(s)) == 75


def test_sqlite_runs_in_wal_mode(tmp_path):
    st = Store(f"sqlite:///{tmp_path}/w.db")
    with st.read() as s:
        assert s.scalar(text("PRAGMA journal_mode")) == "wal"
    st.close()


def test_a_new_sqlite_file_and_its_wal_are_0600_whatever_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        st = Store(f"sqlite:///{tmp_path}/new/w.db")
        st.upgrade()
        with st.write() as s:
            s.execute(text("CREATE TABLE t (x)"))
    finally:
        os.umask(old)
    for name in ("w.db", "w.db-wal", "w.db-shm"):
        assert stat.S_IMODE(os.stat(tmp_path / "new" / name).st_mode) == 0o600, name
    st.close()
    kept = tmp_path / "kept.db"  # an existing file keeps the mode the admin gave it
    kept.touch(mode=0o640)
    Store(f"sqlite:///{kept}").close()
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640


def test_unusable_url_is_named():
    with pytest.raises(StoreError, match=r"\[database\] url"):
        Store("nosuchdb://x")


def test_secret_file_is_created_0600(tmp_path):
    path = tmp_path / "secret"
    key = secret.load_or_create(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert secret.load_or_create(path) == key and len(key) == 64


def test_secret_file_readable_by_others_is_refused(tmp_path):
    path = tmp_path / "secret"
    secret.load_or_create(path)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="mode 0644; it must be 0600"):
        secret.load_or_create(path)


def test_digests_separate_kinds_and_sites():
    assert H.digest("card", "1234") != H.digest("pin", "1234")
    assert Hasher(b"other" * 10).card("1234") != H.card("1234")


def test_a_station_with_another_secret_is_refused(store, tmp_path):
    from releasestation.store.site import check_secret, record_secret

    first = secret.load_or_create(tmp_path / "first")
    other = secret.load_or_create(tmp_path / "other")
    check_secret(store, other, "other")  # nothing recorded yet: nothing to compare
    record_secret(store, first, "first")
    record_secret(store, first, "first")  # the same secret again is fine
    check_secret(store, first, "first")
    with pytest.raises(ConfigError, match="not the secret this database was set up with"):
        check_secret(store, other, str(tmp_path / "other"))
    with pytest.raises(ConfigError, match="not the secret this database was set up with"):
        record_secret(store, other, str(tmp_path / "other"))


def test_the_audit_is_indexed_by_job_id(store):
    # A swipe asks whether its jobs were released elsewhere a moment ago (0004).
    indexes = {i["name"]: i["column_names"] for i in inspect(store.engine).get_indexes("audit")}
    assert indexes.get("ix_audit_job_id") == ["job_id"]
