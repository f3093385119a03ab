# SPDX-License-Identifier: GPL-3.0-or-later
"""Local users' portal passwords on SQLite and PostgreSQL: LocalDirectory.authenticate, the
hashes kept, set_random_passwords (the demo's), and `releasestation user passwd`.

Each hash and each check costs about 0.3 s (scrypt, on purpose): tests hash sparingly.
"""

from __future__ import annotations

import io
import sys

import pytest
from sqlalchemy import select

from releasestation import config as config_mod
from releasestation.app import App
from releasestation.cli import main
from releasestation.credentials import passwords
from releasestation.credentials.codes import hash_password as credgen_hash
from releasestation.credentials.models import Credential
from releasestation.directory.local import LocalDirectory
from releasestation.errors import ReleaseStationError
from releasestation.secret import Hasher
from releasestation.store import users as store_users
from tests.fixtures.station import audit_rows, station_ini

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def password_hash() -> str:
    return passwords.hash_password(PASSWORD)


@pytest.fixture
def directory(store) -> LocalDirectory:
    return LocalDirectory(store, Hasher(b"k" * 64))


def add(store, name: str, source: str = "local", password_hash: str | None = None, **fields):
    with store.write() as session:
        user = store_users.add_user(session, name, source, **fields)
        if password_hash:
            passwords.store_password(session, user, password_hash)


def test_the_hash_is_scrypt_and_holds_no_password(password_hash):
    assert password_hash.startswith("$scrypt$ln=14,r=8,p=5$")
    assert PASSWORD not in password_hash
    assert passwords.verify_password(PASSWORD, password_hash)
    assert not passwords.verify_password(PASSWORD + " ", password_hash)


def test_a_local_user_logs_in_with_their_password(store, directory, password_hash):
    add(store, "Lena", password_hash=password_hash, email="lena@example.org")
    user = directory.authenticate("lena", PASSWORD)
    assert user is not None
    assert (user.username, user.source, user.email) == ("Lena", "local", "lena@example.org")
    assert directory.authenticate("Lena", PASSWORD + "!") is None
    assert directory.authenticate("Lena", "") is None
    assert directory.authenticate("", PASSWORD) is None
    assert directory.authenticate("nobody", PASSWORD) is None


def test_no_password_disabled_visitors_and_directory_rows_never_log_in(
    store, directory, password_hash
):
    add(store, "nopass")
    add(store, "gone", password_hash=password_hash)
    with store.write() as session:
        store_users.find_user(session, "gone").disabled = True  # type: ignore[union-attr]
    add(store, "guest@example.com", "visitor", password_hash=password_hash)
    add(store, "dirk", "ldap", password_hash=password_hash)
    for name in ("nopass", "gone", "guest@example.com", "dirk"):
        assert directory.authenticate(name, PASSWORD) is None, name


def test_credgen_passwords_verify_too(store, directory):
    add(store, "cred", password_hash=credgen_hash("issued-by-credgen"))
    assert getattr(directory.authenticate("cred", "issued-by-credgen"), "username", None) == "cred"


def test_set_random_passwords_for_the_demo(store, directory):
    add(store, "alice")
    add(store, "bob")
    given = passwords.set_random_passwords(store, ["alice", "bob"])
    assert set(given) == {"alice", "bob"} and given["alice"] != given["bob"]
    assert all(len(password) == passwords.RANDOM_LENGTH for password in given.values())
    assert getattr(directory.authenticate("alice", given["alice"]), "username", None) == "alice"
    assert directory.authenticate("bob", given["alice"]) is None
    with pytest.raises(ReleaseStationError, match="no user 'carol'"):
        passwords.set_random_passwords(store, ["carol"])


def test_a_password_can_be_taken_away(store, directory, password_hash):
    add(store, "tom", password_hash=password_hash)
    with store.write() as session:
        tom = store_users.find_user(session, "tom")
        assert passwords.remove_password(session, tom)
        assert not passwords.remove_password(session, tom)
    assert directory.authenticate("tom", PASSWORD) is None


@pytest.mark.parametrize(
    ("password", "why"),
    [("short", "at least 8"), ("x" * 1025, "at most 1024"), ("two\nlines", "line breaks")],
)
def test_unfit_new_passwords_are_refused_without_showing_them(password, why):
    with pytest.raises(ReleaseStationError, match=why) as raised:
        passwords.check_new_password(password)
    assert password not in str(raised.value)


# --- the command ------------------------------------------------------------------------


@pytest.fixture
def config(db_url, tmp_path):
    path = tmp_path / "releasestation.ini"
    path.write_text(station_ini(db_url, tmp_path))
    assert main(["--config", str(path), "db", "upgrade"]) == 0
    return path


def run(capsys, monkeypatch, config, *args: str, stdin: str = "") -> tuple[int, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(["--config", str(config), *args])
    out, err = capsys.readouterr()
    return code, out + err


def test_user_passwd_reads_stdin_and_is_audited(config, capsys, monkeypatch):
    assert run(capsys, monkeypatch, config, "user", "add", "pat")[0] == 0
    code, out = run(capsys, monkeypatch, config, "user", "passwd", "PAT", stdin=PASSWORD + "\n")
    assert (code, out.strip()) == (0, "password set for pat")
    code, out = run(
        capsys, monkeypatch, config, "user", "add", "quin", "--password-stdin", stdin="quin-pw-1\n"
    )
    assert code == 0 and "quin-pw-1" not in out
    app = App(config_mod.load(str(config)))
    try:
        assert app.directory.authenticate("pat", PASSWORD) is not None
        assert app.directory.authenticate("quin", "quin-pw-1") is not None
        with app.store.read() as session:
            hashes = list(session.scalars(select(Credential.password_hash)))
        assert len(hashes) == 2 and not any(PASSWORD in h or "quin-pw-1" in h for h in hashes)
        code, out = run(capsys, monkeypatch, config, "user", "passwd", "--remove", "pat")
        assert (code, out.strip()) == (0, "password removed from pat")
        assert app.directory.authenticate("pat", PASSWORD) is None
        assert [(r["outcome"], r["username"]) for r in audit_rows(app, "credential")] == [
            ("password-set", "pat"),
            ("password-set", "quin"),
            ("password-removed", "pat"),
        ]
    finally:
        app.close()


def test_user_passwd_refusals(config, capsys, monkeypatch):
    run(capsys, monkeypatch, config, "user", "add", "pat")
    code, out = run(capsys, monkeypatch, config, "user", "passwd", "pat", stdin="short\n")
    assert code == 1 and "at least 8" in out and "short" not in out
    code, out = run(capsys, monkeypatch, config, "user", "passwd", "nobody", stdin=PASSWORD)
    assert code == 1 and "no user 'nobody'" in out
    code, out = run(capsys, monkeypatch, config, "user", "passwd", "--remove", "pat")
    assert code == 1 and "pat has no password" in out
    # Never from the command line: there is no argument to put it in.
    with pytest.raises(SystemExit):
        main(["--config", str(config), "user", "passwd", "pat", PASSWORD])
    capsys.readouterr()
