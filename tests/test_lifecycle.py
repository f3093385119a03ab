# SPDX-License-Identifier: GPL-3.0-or-later
"""The held-job lifecycle as the daemon runs it, and the helpers the lifecycle tests share.

Every test here talks to the real private cupsd (`cups_clean`) and a real store (SQLite and
PostgreSQL through `db_url`).
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from readers import Swipe
from releasestation import config
from releasestation.app import App
from releasestation.daemon import Station, build_services
from releasestation.demo.private_cups import PrivateCups
from releasestation.lifecycle.housekeeping import Housekeeping
from releasestation.lifecycle.watcher import JobWatcher
from releasestation.printq.index import HeldIndex
from releasestation.store import users as store_users

PJL = (
    b'\x1b%%-12345X@PJL JOB NAME="%s"\r\n@PJL SET USERNAME="%s"\r\n'
    b"@PJL ENTER LANGUAGE=POSTSCRIPT\r\n"
)
PAGE = b"%!PS-Adobe-3.0\nshowpage\n\x1b%-12345X"


def pjl_document(user: str, title: str = "report") -> bytes:
    return PJL % (title.encode(), user.encode()) + PAGE


def station_ini(cupsd: PrivateCups, db_url: str, tmp_path: Path, name="lobby", **more) -> str:
    """A station config on the private cupsd; `more` maps a section to lines that add to
    (or override keys of) it."""
    sections = {
        "station": f"name = {name}\nhold_queues = Secure, Secure2\n"
        f"secret_file = {tmp_path}/secret\nwatch_every_seconds = 0.2\n",
        "cups": f"server = {cupsd.socket}\ntimeout_seconds = 5\n",
        "database": f"url = {db_url}\n",
        "directory": "type = local\n",
        "owners": f"spool_dir = {cupsd.root}/spool\n",
    }
    for section, lines in more.items():
        sections[section] = sections.get(section, "") + lines
    return "".join(f"[{s}]\n{_last_wins(body)}\n" for s, body in sections.items())


def _last_wins(body: str) -> str:
    keys: dict[str, str] = {}
    for line in body.splitlines():
        key = line.split("=", 1)[0].strip()
        if key:
            keys[key] = line
    return "\n".join(keys.values()) + "\n"


def app_factory(cupsd: PrivateCups, db_url: str, tmp_path: Path) -> Iterator[Callable[..., App]]:
    """For a `make_app` fixture: make(name="lobby", **sections) -> a migrated App on
    `cupsd`; every App made is closed afterwards."""
    apps: list[App] = []

    def make(name: str = "lobby", **more: str) -> App:
        cfg = config.parse_text(station_ini(cupsd, db_url, tmp_path, name, **more))
        app = App(cfg)
        app.store.upgrade()
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.close()


@pytest.fixture
def make_app(cups_clean, db_url, tmp_path) -> Iterator[Callable[..., App]]:
    yield from app_factory(cups_clean, db_url, tmp_path)


@pytest.fixture
def restore_logging():
    """The CLI's main() sets up root logging on the (captured) stderr; undo it afterwards.
    Modules that call main() import this as an autouse fixture."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def add_user(app: App, username: str, card: str | None = None, cost_center: str | None = None):
    hasher = app.hasher  # first use checks the secret in a transaction of its own
    with app.store.write() as session:
        row = store_users.add_user(session, username, "local", email=f"{username}@example.org")
        row.cost_center = cost_center
        if card:
            store_users.add_card(session, hasher, row, card)


def audit_rows(app: App, event: str | None = None) -> list[dict]:
    query = "SELECT * FROM audit" + (" WHERE event = :e" if event else "") + " ORDER BY id"
    with app.store.read() as session:
        return [dict(r._mapping) for r in session.execute(text(query), {"e": event})]


def swipe(app: App, value: str, kind: str = "card") -> str:
    station = Station(app, readers=[], services=[])
    return station.handle(Swipe(reader="door", value=value, kind=kind))  # type: ignore[arg-type]


def lp(cups: PrivateCups, user: str, title: str, data: bytes, tmp_path: Path, queue="Secure"):
    """Submit with the real `lp` client, as `user`, raw; returns the job id."""
    document = tmp_path / f"{title}.prn"
    document.write_bytes(data)
    done = subprocess.run(
        ["lp", "-h", cups.socket, "-U", user, "-d", queue, "-t", title, "-o", "raw",
         str(document)],
        capture_output=True, text=True, env=cups.client_env(), timeout=30, check=True,
    )  # fmt: skip
    return int(done.stdout.split(f"{queue}-", 1)[1].split()[0])


def wait_for(check: Callable[[], object], timeout: float = 10.0, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


# -- the daemon's hook ------------------------------------------------------------------------


def test_the_daemon_runs_the_index_housekeeping_and_the_watcher(make_app):
    built = build_services(make_app())
    assert [type(s) for s in built] == [HeldIndex, Housekeeping, JobWatcher]


def test_a_lp_job_arrives_resolved_and_released_by_card(make_app, cups_clean, tmp_path):
    app = make_app()
    add_user(app, "alice", card="10203040", cost_center="CC-7")
    watcher = JobWatcher(app, interval=0.1)
    seen: list[tuple[int, str | None]] = []
    watcher.listeners.append(lambda job, owner: seen.append((job.id, owner)))
    watcher.start()
    try:
        job = lp(cups_clean, "anonymous", "scan", pjl_document("CORP\\Alice"), tmp_path)
        # CORP is not a known domain: the name is kept whole, and is not alice's
        assert wait_for(lambda: seen, 5) == [(job, "corp\\alice")]
        job2 = lp(cups_clean, "guest", "memo", pjl_document("alice"), tmp_path)
        assert wait_for(lambda: len(seen) == 2, 5)
    finally:
        watcher.stop()
    assert seen[1] == (job2, "alice")
    assert swipe(app, "10203040") == "released"
    printed = cups_clean.wait_printed(1)
    assert [p.job_id for p in printed] == [job2]
    [row] = audit_rows(app, "release")
    assert (row["username"], row["job_id"], row["cost_center"]) == ("alice", job2, "CC-7")
    assert [j.id for j in app.printq.held_jobs(["Secure"])] == [job]


def test_settings_reach_the_services(make_app):
    app = make_app(station="hold_hours = 2\nexpire_every_seconds = 60\n")
    _, housekeeping, watcher = build_services(app)
    assert housekeeping.interval == 60 and housekeeping.expirer.hours == 2  # type: ignore[attr-defined]
    assert watcher.interval == 0.2  # type: ignore[attr-defined]
