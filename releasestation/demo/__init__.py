# SPDX-License-Identifier: GPL-3.0-or-later
"""`releasestation demo`: the whole release path on one machine, on embedded defaults.

Starts a private cupsd (hold queue `Secure`, a capture backend standing in for the printer),
an SQLite store in a temp dir, the local directory with two sample users, a simulated
PaperCut network terminal and the web portal (`releasestation web`, on a free loopback
port; the users' passwords are printed). The terminal swipes alice's card: alice's jobs
print, bob's stay held. With `--keep` everything keeps serving: log in to the portal as
alice, send a PDF, see it held, release it, and the demo says when it printed. Nothing
outside the temp dir is touched; everything is stopped at the end.

The demo is a self-contained showcase, so it brings its own printer: `private_cups` (a real
cupsd of its own in the temp dir), `private_setup` (that cupsd's configuration and
ServerBin) and `capture_backend` (the backend that "prints" into a directory). That is the
one exception to "only `printq` talks to CUPS": the station itself still reaches CUPS only
through `releasestation.printq`, and nothing the daemon imports (`releasestation.daemon`,
`releasestation.app`, the CLI but for `releasestation demo`'s lazy import) loads this
package. The tests and the bench start the same private cupsd from here
(`releasestation.demo.private_cups.PrivateCups`); what only the tests need (a spoofed
release run as another OS user) lives in tests/fixtures/cupsd.py.
"""

from __future__ import annotations

import logging
import queue
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path

from releasestation import config as config_mod
from releasestation.app import App
from releasestation.credentials.passwords import set_random_passwords
from releasestation.daemon import build_station
from releasestation.demo.portal import DemoPortal, free_port
from releasestation.demo.private_cups import PrivateCups
from releasestation.store import users as store_users

log = logging.getLogger(__name__)

USERS = {"alice": "0012345678", "bob": "0087654321"}
JOBS = [("alice", "Quarterly report"), ("CORP\\alice", "Boarding pass"), ("bob", "Payslip")]

CONFIG = """
[station]
name = demo
hold_queues = Secure
secret_file = {root}/secret
owner_domains = CORP
debounce_seconds = 3

[cups]
server = {socket}

[directory]
type = local

[database]
url = sqlite:///{root}/releasestation.db

[monitoring]
listen = 127.0.0.1:{metrics_port}

[web]
listen = 127.0.0.1:{web_port}
web_release = yes
status_public = yes
admins = alice

[reader:demo-terminal]
type = papercut
host = 127.0.0.1
port = {port}
min_backoff_seconds = 0.1
"""


class SimulatedTerminal:
    """A PaperCut-style card terminal on loopback that the station dials."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.conn: socket.socket | None = None
        self.connected = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        try:
            self.conn, _ = self.listener.accept()
        except OSError:
            return
        self.connected.set()

    def swipe(self, card: str) -> None:
        if not self.connected.wait(10) or self.conn is None:
            raise RuntimeError("the station did not connect to the simulated terminal")
        self.conn.sendall(card.encode() + b"\n")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.listener.close()


def say(text: str) -> None:
    print(text, flush=True)


def run_demo(keep: bool = False) -> int:
    previous = signal.signal(signal.SIGTERM, _interrupted)  # stops as Ctrl-C does: cleanly
    try:
        with tempfile.TemporaryDirectory(prefix="releasestation-demo-") as tmp:
            root = Path(tmp)
            with PrivateCups(root / "cups", policy="hardened") as cups:
                cups.add_hold_queue("Secure")
                return _demo(root, cups, keep)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupted(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _demo(root: Path, cups: PrivateCups, keep: bool) -> int:
    say(f"demo: private cupsd on {cups.socket}, hold queue Secure")
    terminal = SimulatedTerminal()
    ini = root / "releasestation.ini"
    text = CONFIG.format(
        root=root,
        socket=cups.socket,
        port=terminal.port,
        web_port=free_port(),
        metrics_port=free_port(),
    )
    ini.write_text(text)
    app = App(config_mod.parse_text(text, str(ini)))
    app.store.upgrade()
    with app.store.write() as session:
        for name, card in USERS.items():
            user = store_users.add_user(session, name, display_name=name.title())
            store_users.add_card(session, app.hasher, user, card)
    passwords = set_random_passwords(app.store, USERS)
    say("demo: users alice and bob, each with a card and a password for the web portal")
    for owner, title in JOBS:
        job = cups.submit(owner, title, b"%!PS\n(demo) show showpage\n", queue="Secure")
        say(f"demo: job {job} '{title}' from {owner} is held")
    outcomes: queue.Queue = queue.Queue()
    station = build_station(app)
    station.listeners.append(lambda swipe, outcome: outcomes.put(outcome))
    portal = DemoPortal(ini, app.config.web.address[1], root / "web.log")
    ok = False
    try:
        station.start()
        try:
            portal.start()
        except RuntimeError as exc:
            say(f"demo: FAILED: {exc}")
            return 1
        if keep:
            say(f"demo: web portal at {portal.url}")
        else:  # the story ends in seconds, and the portal with it
            say(f"demo: web portal at {portal.url} while the demo runs (--keep keeps it)")
        for name, password in passwords.items():
            say(f"demo:   log in as {name} with password {password}")
        say("demo: alice swipes her card at the terminal")
        started = time.monotonic()
        terminal.swipe(USERS["alice"])
        try:
            outcome = outcomes.get(timeout=15)
        except queue.Empty:
            say("demo: FAILED: the station did not answer the swipe within 15 s")
            return 1
        say(f"demo: station answered '{outcome}' in {1000 * (time.monotonic() - started):.0f} ms")
        ok = _report(app, cups)
        if keep:
            say(f"demo: still serving; config in {ini}. Ctrl-C stops.")
            say(f"demo: open {portal.url}, log in as alice, send a PDF, release it")
            _say_printed(cups, seen={job.job_id for job in cups.printed()})
        else:
            say(
                "demo: done; the station and the portal have stopped. "
                "`bin/station --keep` (`releasestation demo --keep`) keeps them serving"
            )
    except KeyboardInterrupt:
        pass
    finally:
        portal.stop()
        station.stop()
        terminal.close()
        app.close()
    return 0 if ok else 1


def _say_printed(cups: PrivateCups, seen: set[int]) -> None:
    """Say each job the capture backend receives from now on, until interrupted."""
    while True:
        for job in cups.printed():
            if job.job_id not in seen:
                seen.add(job.job_id)
                say(f"demo: PRINTED  job {job.job_id} '{job.title}' of {job.user}")
        time.sleep(0.5)


def _report(app: App, cups: PrivateCups) -> bool:
    printed = cups.wait_printed(2, timeout=15)
    for job in printed:
        say(f"demo: PRINTED  job {job.job_id} '{job.title}' of {job.user}")
    held = app.printq.held_jobs(("Secure",))
    for waiting in held:
        say(f"demo: HELD     job {waiting.id} '{waiting.title}' of {waiting.owner}")
    ok = {j.user for j in printed} == {"alice", "CORP\\alice"} and [j.owner for j in held] == [
        "bob"
    ]
    say("demo: OK: only alice's jobs printed" if ok else "demo: FAILED: unexpected result")
    return ok
