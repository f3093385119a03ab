# SPDX-License-Identifier: GPL-3.0-or-later
"""Backup and restore (releasestation.backup, `releasestation backup|restore`).

On SQLite and PostgreSQL: a station with users, cards, PINs and audit rows is backed up
while a writer keeps appending audit rows, and restored onto a fresh directory and a fresh
database; the old card and PIN still identify their users and `audit verify` passes. An
archive whose secret is not its store's, a tampered one, an encrypted one without (or with
the wrong) passphrase are refused; a different secret or a store with data is replaced only
with --force; rotation keeps N.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import os
import shutil
import stat
import tarfile
import threading
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench.servers.postgres import pg_schema_url
from readers import Swipe
from releasestation.audit import Event
from releasestation.backup import archive, crypto, rotation, store_copy
from releasestation.cli import main
from releasestation.credentials import records
from releasestation.lifecycle import reconcile
from releasestation.store import Store, migrate
from releasestation.store import users as store_users
from releasestation.store.models import utcnow
from tests.fixtures.station import add_user, audit_rows, station_ini
from tests.test_crash_restart import claims_left

CARD, PIN, BOB_CARD = "0012345678", "482193", "0099887766"
PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def fresh_db_url(db_url, tmp_path):
    """A second, empty database of the same kind as `db_url`: the new station's."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path}/new/var/station.db"
    else:
        yield from pg_schema_url()


def write_station(root: Path, db_url: str, cupsd, files: bool = False, **sections: str) -> Path:
    """A station's config in `root`; with `files`, it names a cupsd password file and a CA
    file there too."""
    root.mkdir(parents=True, exist_ok=True)
    backup = f"directory = {root}/backups\nkeep = 2\nstate_file = {root}/state.json\n"
    sections["backup"] = backup + sections.get("backup", "")
    if files:
        sections["cups"] = f"password_file = {root}/cups.pw\n"
        sections["directory"] = f"type = local\nca_file = {root}/ca.pem\n"
    path = root / "releasestation.ini"
    path.write_text(station_ini(db_url, root, cupsd, **sections))
    return path


@pytest.fixture
def old_station(tmp_path, db_url, cupsd, make_app):
    """The station to back up: alice (card and PIN), bob (card), some audit rows."""
    path = write_station(tmp_path / "old", db_url, cupsd, files=True)
    secret_file(tmp_path / "old" / "cups.pw", "cupsd password")
    secret_file(tmp_path / "old" / "ca.pem", "a CA certificate", 0o644)
    secret_file(tmp_path / "old" / "web-secret", "w" * 64)  # the portal's, by default
    app = make_app(path)
    app.record_secret()
    add_user(app, "alice", card=CARD)
    add_user(app, "bob", card=BOB_CARD)
    with app.store.write() as session:
        alice = store_users.find_user(session, "alice")
        assert alice is not None
        records.set_pin(session, app.hasher, alice, PIN, utcnow(), days=30)
    app.audit.record(*(Event("release", username="alice", job_id=n) for n in range(20)))
    return path, app


def run(*argv: str | Path) -> int:
    return main([str(a) for a in argv])


def who(app, value: str, kind: str) -> str | None:
    found = app.identity.identify(Swipe(reader="door", value=value, kind=kind))  # type: ignore[arg-type]
    return found.user.username if found.user else None


def audit_count(app) -> int:
    with app.store.read() as session:
        return session.execute(text("SELECT count(*) FROM audit")).scalar_one()


class AuditWriter(threading.Thread):
    """Appends audit rows until stopped, as a daemon releasing jobs would."""

    def __init__(self, app):
        super().__init__(daemon=True)
        self.app, self.stop, self.written = app, threading.Event(), 0

    def run(self) -> None:
        while not self.stop.is_set():
            self.app.audit.record(Event("release", username="bob", job_id=1000 + self.written))
            self.written += 1


def members_of(path: Path) -> tuple[dict, dict[str, bytes]]:
    with tarfile.open(path, "r:gz") as tar:
        data = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    return json.loads(data.pop(archive.MANIFEST)), data


def rewrite(path: Path, manifest: dict, members: dict[str, bytes]) -> None:
    with path.open("wb") as out:
        archive.write(out, manifest, members, None, 0)


def backed_up(old_station, tmp_path) -> Path:
    path, _app = old_station
    out = tmp_path / "station.tar.gz"
    assert run("backup", "--output", out, "-c", path) == 0
    return out


# -- the whole round trip -------------------------------------------------------------------
def test_backup_while_writing_then_restore_onto_a_new_station(
    old_station, tmp_path, fresh_db_url, cupsd, make_app, capsys
):
    old_path, old_app = old_station
    out = tmp_path / "archives" / "station.tar.gz"
    out.parent.mkdir()
    writer = AuditWriter(old_app)
    writer.start()
    try:
        while writer.written < 5:
            threading.Event().wait(0.01)
        before = audit_count(old_app)
        assert run("backup", "--output", out, "-c", old_path) == 0
        written_during = writer.written
    finally:
        writer.stop.set()
        writer.join()
    after = audit_count(old_app)
    assert after > before, "the writer kept writing while the backup ran"
    assert written_during > 5
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert not [p for p in out.parent.iterdir() if p != out], "no temporary file is left"
    assert "backup written" in capsys.readouterr().out

    new_root = tmp_path / "new"
    new_path = write_station(new_root, fresh_db_url, cupsd, files=True)
    assert run("restore", out, "-c", new_path) == 0
    said = capsys.readouterr().out
    assert "store:" in said and "[station] secret_file" in said and "config:" in said
    assert f"config: {new_path} kept" in said, "the new station's own config stays"

    secret = new_root / "secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert secret.read_bytes() == (tmp_path / "old" / "secret").read_bytes()
    for name, mode in (("cups.pw", 0o600), ("ca.pem", 0o644), ("web-secret", 0o600)):
        assert (new_root / name).read_text() == (tmp_path / "old" / name).read_text()
        assert stat.S_IMODE((new_root / name).stat().st_mode) == mode
    new_app = make_app(new_path)
    assert who(new_app, CARD, "card") == "alice"
    assert who(new_app, PIN, "pin") == "alice"
    assert who(new_app, BOB_CARD, "card") == "bob"
    assert before <= audit_count(new_app) <= after
    assert run("audit", "verify", "-c", new_path) == 0
    assert "intact" in capsys.readouterr().out
    # Sequences (PostgreSQL) and the chain go on from where the archive ended.
    new_app.audit.record(Event("release", username="alice", job_id=1))
    add_user(new_app, "carol", card="0055555555")
    assert who(new_app, "0055555555", "card") == "carol"
    assert run("audit", "verify", "-c", new_path) == 0


def test_backup_while_a_running_daemon_releases_swipes(
    daemon_for, cups_clean, db_url, fresh_db_url, tmp_path, make_app, capsys
):
    """A real `releasestation run` releases one person's jobs per swipe while `backup` runs
    twice. The restored station knows every card, its audit chain verifies, and settling the
    claims the archive caught mid-release prints nothing a second time."""
    daemon = daemon_for(cups_clean, db_url)
    app = make_app(daemon.ini)
    app.record_secret()
    people = [(f"user{n}", f"00770000{n:02d}") for n in range(12)]
    for name, card in people:
        add_user(app, name, card=card)
    jobs = cups_clean.submit_many([(name, f"report-{n}") for name, _ in people for n in range(3)])
    daemon.start()
    archives = [tmp_path / "during-1.tar.gz", tmp_path / "during-2.tar.gz"]
    swiped = threading.Event()

    def swipes() -> None:
        for n, (_name, card) in enumerate(people):
            daemon.swipe(card)
            if n == 3:
                swiped.set()
            threading.Event().wait(0.15)

    swiper = threading.Thread(target=swipes, daemon=True)
    swiper.start()
    assert swiped.wait(20)
    for out in archives:
        assert run("backup", "--output", out, "-c", daemon.ini) == 0
    swiper.join(30)
    printed = cups_clean.wait_printed(len(jobs), timeout=30)
    daemon.stop()
    assert sorted(p.job_id for p in printed) == sorted(jobs), "every job printed once"
    released_during = [r for r in audit_rows(app, "release") if r["outcome"] == "ok"]
    assert len(released_during) == len(jobs)
    capsys.readouterr()

    new_root = tmp_path / "new"
    new_path = write_station(new_root, fresh_db_url, cupsd=cups_clean)
    assert run("restore", archives[0], "-c", new_path) == 0
    new_app = make_app(new_path)
    for name, card in people:
        assert who(new_app, card, "card") == name
    assert run("audit", "verify", "-c", new_path) == 0
    assert "intact" in capsys.readouterr().out
    restored = [r for r in audit_rows(new_app, "release") if r["outcome"] == "ok"]
    assert len(restored) < len(jobs), "the archive was taken mid-way through the swipes"
    old_chain = {r["id"]: r["row_hash"] for r in audit_rows(app)}
    assert all(old_chain.get(r["id"]) == r["row_hash"] for r in audit_rows(new_app)), (
        "the restored trail is the old one's beginning, row for row"
    )
    reconcile.reconcile(new_app.claims, new_app.printq)
    assert claims_left(new_app) == []
    assert Counter(p.job_id for p in cups_clean.printed()) == Counter(jobs), "nothing twice"


@pytest.fixture
def other_kind_db_url(db_url, tmp_path):
    """An empty database of the other kind: PostgreSQL for a SQLite station, and back."""
    if db_url.startswith("sqlite"):
        yield from pg_schema_url()
    else:
        yield f"sqlite:///{tmp_path}/moved/var/station.db"


def test_a_store_moves_to_the_other_kind_of_database(
    old_station, tmp_path, other_kind_db_url, cupsd, make_app, capsys
):
    """SQLite to PostgreSQL (a site growing to several stations) and back: the same cards
    and PINs, the same audit chain, and the store goes on from there."""
    _, old_app = old_station
    out = backed_up(old_station, tmp_path)
    new_path = write_station(tmp_path / "moved", other_kind_db_url, cupsd)
    capsys.readouterr()
    assert run("restore", out, "-c", new_path) == 0
    kind = "sqlite" if old_app.store.is_sqlite else "postgresql"
    assert f"moved from {kind}" in capsys.readouterr().out
    new_app = make_app(new_path)
    assert new_app.store.is_sqlite != old_app.store.is_sqlite
    assert who(new_app, CARD, "card") == "alice"
    assert who(new_app, PIN, "pin") == "alice"
    assert who(new_app, BOB_CARD, "card") == "bob"
    old_rows, new_rows = audit_rows(old_app), audit_rows(new_app)
    assert [(r["id"], r["row_hash"]) for r in new_rows] == [
        (r["id"], r["row_hash"]) for r in old_rows
    ]
    assert run("audit", "verify", "-c", new_path) == 0
    assert "intact" in capsys.readouterr().out
    new_app.audit.record(Event("release", username="alice", job_id=1))
    add_user(new_app, "carol", card="0055555555")
    assert who(new_app, "0055555555", "card") == "carol"
    assert run("audit", "verify", "-c", new_path) == 0


def test_a_station_whose_disk_died_gets_its_config_secret_and_store_back(
    old_station, tmp_path, make_app, db_url, capsys
):
    old_path, old_app = old_station
    out = backed_up(old_station, tmp_path)
    old_app.store.close()
    shutil.rmtree(tmp_path / "old")
    if db_url.startswith("sqlite"):
        for each in tmp_path.glob("station.db*"):
            each.unlink()
    else:  # the database server lost its tables too
        with old_app.store.engine.begin() as conn:
            conn.execute(text("DROP TABLE audit, cards, credentials, credential_failures, "
                              "lockouts, job_claims, job_owners, site_settings, users, "
                              "alembic_version"))  # fmt: skip
    assert run("restore", out, "-c", old_path) == 0
    said = capsys.readouterr().out
    assert f"config: {old_path} restored" in said
    assert stat.S_IMODE(old_path.stat().st_mode) & 0o077 in (0, 0o040)
    app = make_app(old_path)
    assert who(app, CARD, "card") == "alice" and who(app, PIN, "pin") == "alice"
    assert run("audit", "verify", "-c", old_path) == 0


def test_a_store_at_an_older_revision_is_migrated_on_restore(
    tmp_path, db_url, fresh_db_url, cupsd, make_app, capsys
):
    path = write_station(tmp_path / "old", db_url, cupsd)
    store = Store(db_url)
    migrate.upgrade(store.engine, "0002_credentials")  # before 0003 and the later ones
    with store.write() as session:
        store_users.add_user(session, "alice", email="alice@example.org")
    store.close()
    out = tmp_path / "old.tar.gz"
    assert run("backup", "--output", out, "-c", path) == 0
    new_path = write_station(tmp_path / "new", fresh_db_url, cupsd)
    fresh = Store(fresh_db_url)
    migrate.upgrade(fresh.engine, "0001_initial")  # a store at another revision, empty
    fresh.close()
    capsys.readouterr()
    assert run("restore", out, "-c", new_path) == 0
    assert "made at revision 0002_credentials; now 0002_credentials, 00" in capsys.readouterr().out
    app = make_app(new_path)
    assert app.store.migration_problem() is None
    with app.store.read() as session:
        assert store_users.find_user(session, "alice") is not None


def test_skip_store_restores_the_files_of_a_station_whose_store_survived(
    old_station, tmp_path, db_url, make_app, capsys
):
    path, app = old_station
    out = backed_up(old_station, tmp_path)
    add_user(app, "zed", card="0077777777")  # after the backup, in the surviving store
    shutil.rmtree(tmp_path / "old")  # the board's disk, not the database
    capsys.readouterr()
    assert run("restore", out, "-c", path) == 1
    assert "already holds data" in capsys.readouterr().err
    assert not path.exists()
    assert run("restore", out, "-c", path, "--skip-store") == 0
    said = capsys.readouterr().out
    assert "store:" not in said and f"config: {path} restored" in said
    restored = make_app(path)
    assert who(restored, CARD, "card") == "alice"
    assert who(restored, "0077777777", "card") == "zed", "the store was left as it was"


def test_every_table_of_the_store_is_in_the_backup(store):
    with store.engine.connect() as conn:
        from sqlalchemy import inspect

        migrated = set(inspect(conn).get_table_names()) - {"alembic_version"}
    assert store_copy.our_tables() == migrated


# -- refusals -------------------------------------------------------------------------------
def test_an_archive_whose_secret_is_not_its_store_s_is_refused(
    old_station, tmp_path, fresh_db_url, cupsd, capsys
):
    out = backed_up(old_station, tmp_path)
    manifest, members = members_of(out)
    members["files/station.secret_file"] = b"f" * 64 + b"\n"
    manifest["members"] = archive.checksums(members)  # a consistent, but wrong, archive
    rewrite(out, manifest, members)
    new_path = write_station(tmp_path / "new", fresh_db_url, cupsd)
    capsys.readouterr()
    assert run("restore", out, "-c", new_path) == 1
    assert "not the one its store was set up with" in capsys.readouterr().err
    assert not (tmp_path / "new" / "secret").exists(), "nothing is written"


def test_a_backup_of_a_station_with_the_wrong_secret_is_refused(old_station, tmp_path, capsys):
    path, _app = old_station
    secret = tmp_path / "old" / "secret"
    secret.write_text("e" * 64 + "\n")
    out = tmp_path / "station.tar.gz"
    assert run("backup", "--output", out, "-c", path) == 1
    assert "not the secret this store was set up with" in capsys.readouterr().err
    assert not out.exists()
    state = json.loads((tmp_path / "old" / "state.json").read_text())
    assert "last_failure" in state and "last_success" not in state


def test_a_different_secret_and_a_store_with_data_are_replaced_only_with_force(
    old_station, tmp_path, make_app, capsys
):
    path, app = old_station
    out = backed_up(old_station, tmp_path)
    add_user(app, "zed", card="0077777777")  # after the backup
    secret = tmp_path / "old" / "secret"
    archived_secret = secret.read_bytes()
    secret.write_text("e" * 64 + "\n")  # someone made a new one
    capsys.readouterr()
    assert run("restore", out, "-c", path) == 1
    err = capsys.readouterr().err
    assert "exists and is another secret" in err and "already holds data" in err
    assert secret.read_text() == "e" * 64 + "\n", "nothing was touched"
    assert audit_count(app) == 20

    assert run("restore", out, "-c", path, "--force") == 0
    said = capsys.readouterr().out
    assert "[station] secret_file" in said and "replaced" in said
    assert f"config: {path} unchanged" in said
    assert secret.read_bytes() == archived_secret
    kept = list(secret.parent.glob("secret.replaced-*"))
    assert len(kept) == 1 and kept[0].read_text() == "e" * 64 + "\n"
    assert stat.S_IMODE(kept[0].stat().st_mode) == 0o600
    restored = make_app(path)
    assert who(restored, CARD, "card") == "alice"
    assert who(restored, "0077777777", "card") is None, "the store is the archive's"
    assert run("audit", "verify", "-c", path) == 0


def test_a_refusal_says_which_store_force_would_restore_onto(
    old_station, tmp_path, fresh_db_url, cupsd, make_app, capsys
):
    """A board set up as for a new station (its own config, secret and store) refuses the
    archive; since --force would also put the archive's config in place, the refusal says
    which store that config names (here the old station's, which holds data) and where
    the secret would go, and --force says it replaced that store's data."""
    _old_path, old_app = old_station
    out = backed_up(old_station, tmp_path)
    new_path = write_station(tmp_path / "new", fresh_db_url, cupsd)
    make_app(new_path).record_secret()  # README: a new secret, db upgrade
    capsys.readouterr()
    assert run("restore", out, "-c", new_path) == 1
    err = capsys.readouterr().err
    assert "exists and is another secret" in err
    old_url = make_url(old_app.config.database.url).render_as_string(hide_password=True)
    assert (
        f"--force replaces it with the archive's, and then restores onto the store at {old_url}"
        in err
    )
    assert f"writes the site secret to {tmp_path / 'old' / 'secret'}" in err

    assert run("restore", out, "-c", new_path, "--force") == 0
    said = capsys.readouterr().out
    assert f"store: the data that was at {old_url} is replaced (--force)" in said
    assert f"config: {new_path} replaced" in said
    assert "[station] secret_file: " + str(tmp_path / "old" / "secret") + " unchanged" in said


def test_a_tampered_archive_is_refused(old_station, tmp_path, fresh_db_url, cupsd, capsys):
    out = backed_up(old_station, tmp_path)
    manifest, members = members_of(out)
    name = next(n for n in members if n.startswith("store/"))
    data = bytearray(members[name])
    data[len(data) // 2] ^= 0x01
    members[name] = bytes(data)
    rewrite(out, manifest, members)  # the manifest's checksums are the original ones
    new_path = write_station(tmp_path / "new", fresh_db_url, cupsd)
    capsys.readouterr()
    assert run("restore", out, "-c", new_path) == 1
    assert f"member {name}: checksum mismatch" in capsys.readouterr().err

    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(b"\x1f\x8b" + os.urandom(300))
    assert run("restore", garbage, "-c", new_path) == 1
    assert "damaged" in capsys.readouterr().err


# -- encryption -----------------------------------------------------------------------------
def secret_file(path: Path, content: str, mode: int = 0o600) -> Path:
    path.write_text(content + "\n")
    path.chmod(mode)
    return path


def test_an_encrypted_archive_needs_its_passphrase(
    old_station, tmp_path, fresh_db_url, cupsd, make_app, capsys
):
    path, _app = old_station
    phrase = secret_file(tmp_path / "phrase", PASSPHRASE)
    out = tmp_path / "station.tar.gz.enc"
    assert run("backup", "--output", out, "--passphrase-file", phrase, "-c", path) == 0
    assert out.read_bytes().startswith(crypto.MAGIC)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert b"secret" not in out.read_bytes()[len(crypto.MAGIC) :]

    new_path = write_station(tmp_path / "new", fresh_db_url, cupsd)
    capsys.readouterr()
    assert run("restore", out, "-c", new_path) == 2
    assert "is encrypted" in capsys.readouterr().err
    wrong = secret_file(tmp_path / "wrong", "not the passphrase at all")
    assert run("restore", out, "-c", new_path, "--passphrase-file", wrong) == 1
    assert "wrong passphrase" in capsys.readouterr().err
    loose = secret_file(tmp_path / "loose", PASSPHRASE, 0o644)
    assert run("restore", out, "-c", new_path, "--passphrase-file", loose) == 2
    assert "must be 0600" in capsys.readouterr().err
    cut = tmp_path / "cut.enc"
    cut.write_bytes(out.read_bytes()[:-100])
    assert run("restore", cut, "-c", new_path, "--passphrase-file", phrase) == 1
    assert not (tmp_path / "new" / "secret").exists()

    assert run("restore", out, "-c", new_path, "--passphrase-file", phrase) == 0
    assert who(make_app(new_path), PIN, "pin") == "alice"


def test_a_short_passphrase_is_refused(old_station, tmp_path, capsys):
    path, _app = old_station
    phrase = secret_file(tmp_path / "phrase", "short")
    assert run("backup", "--output", tmp_path / "x", "--passphrase-file", phrase, "-c", path) == 2
    err = capsys.readouterr().err
    assert "shorter than" in err and "short\n" not in err.replace("shorter", "")


def test_encryption_detects_reordered_cut_and_altered_chunks(monkeypatch):
    monkeypatch.setattr(crypto, "CHUNK", 1024)
    plain = os.urandom(5000)
    sealed = io.BytesIO()
    writer = crypto.EncryptingWriter(sealed, b"passphrase of the test")
    writer.write(plain[:3000])
    writer.write(plain[3000:])
    writer.finish()
    data = sealed.getvalue()

    def opened(blob: bytes, passphrase: bytes = b"passphrase of the test") -> bytes:
        return io.BufferedReader(crypto.DecryptingReader(io.BytesIO(blob), passphrase)).read()

    assert opened(data) == plain
    header = len(crypto.MAGIC) + 3 + crypto.SALT_BYTES
    chunks, at = [], header
    while at < len(data):
        size = int.from_bytes(data[at : at + 4], "big")
        chunks.append(data[at : at + 4 + size])
        at += 4 + size
    assert len(chunks) == 5
    for broken in (
        data[:header] + b"".join([chunks[1], chunks[0], *chunks[2:]]),  # reordered
        data[:header] + b"".join(chunks[:-1]),  # the last chunk dropped
        data[:-1] + bytes([data[-1] ^ 1]),  # altered
    ):
        with pytest.raises(crypto.BackupError):
            opened(broken)
    with pytest.raises(crypto.BackupError, match="wrong passphrase"):
        opened(data, b"another passphrase")


# -- rotation and the state file ------------------------------------------------------------
def test_rotation_keeps_the_newest_n_of_this_station(old_station, tmp_path, monkeypatch, capsys):
    path, _app = old_station
    directory = tmp_path / "old" / "backups"
    times = iter(dt.datetime(2030, 1, day, 2, 0, tzinfo=dt.UTC) for day in range(1, 5))
    monkeypatch.setattr("releasestation.cli.backup.utcnow", lambda: next(times))
    assert run("backup", "--rotate", "-c", path) == 0
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    others = [directory / "notes.txt", directory / "releasestation-south-20200101T000000Z.tar.gz"]
    for other in others:
        other.write_text("not ours")
    for _ in range(3):
        assert run("backup", "--rotate", "-c", path) == 0
    kept = sorted(p.name for p in rotation.archives(directory, "lobby"))
    assert kept == [
        "releasestation-lobby-20300103T020000Z.tar.gz",
        "releasestation-lobby-20300104T020000Z.tar.gz",
    ]
    assert all(other.exists() for other in others)
    assert "removed releasestation-lobby-20300102T020000Z.tar.gz" in capsys.readouterr().out
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in directory.glob("*lobby*"))
    last = rotation.last_success(str(tmp_path / "old" / "state.json"))
    assert last is not None and utcnow() - last < dt.timedelta(minutes=5)


def test_an_archive_is_a_gzipped_tar_with_its_manifest_first(old_station, tmp_path):
    out = backed_up(old_station, tmp_path)
    with gzip.open(out) as gz, tarfile.open(fileobj=gz, mode="r|") as tar:
        first = tar.next()
        assert first is not None and first.name == archive.MANIFEST
        manifest = json.loads(tar.extractfile(first).read())  # type: ignore[union-attr]
    assert manifest["station"] == "lobby"
    assert manifest["secret_fingerprint"]
    named = {(f["section"], f["key"]): f["secret"] for f in manifest["files"]}
    assert named == {
        ("station", "secret_file"): True,
        ("web", "secret_key_file"): True,
        ("cups", "password_file"): True,
        ("directory", "ca_file"): False,
    }
    assert manifest["store"]["tables"]["audit"]["rows"] == 20
    assert set(manifest["members"]) == {
        "config/releasestation.ini", "files/station.secret_file", "files/web.secret_key_file",
        "files/cups.password_file", "files/directory.ca_file", *(
            n for n in manifest["members"] if n.startswith("store/")
        ),
    }  # fmt: skip
