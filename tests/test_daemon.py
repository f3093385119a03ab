# SPDX-License-Identifier: GPL-3.0-or-later
"""The daemon's own duties: nothing of a PIN in the log, exit 1 when its worker dies, start-up
kept out of later garbage collections, what ails a background service in its status."""

from __future__ import annotations

import gc
import logging
import weakref

from readers import Swipe
from releasestation.daemon import STOP, build_services, build_station, run, settle_memory
from releasestation.errors import PrintServerError
from releasestation.lifecycle.housekeeping import Housekeeping
from releasestation.lifecycle.watcher import JobWatcher
from releasestation.printq.index import HeldIndex
from releasestation.service import BackgroundService


def test_denied_pins_leave_no_digit_in_the_log(write_config, make_app, caplog):
    app = make_app(write_config(station_extra="pin_max_digits = 8"))
    app.record_secret()
    station = build_station(app, readers=[], services=[])
    caplog.set_level(logging.DEBUG)
    assert station.handle(Swipe("door", "4321", kind="pin")) == "denied"
    assert station.handle(Swipe("door", "987654")) == "denied"  # short digits: a PIN too
    assert "21" not in caplog.text and "54" not in caplog.text
    assert "denied pin ****" in caplog.text


def test_unknown_card_log_shows_only_its_last_digits(write_config, make_app, caplog):
    app = make_app(write_config())
    app.record_secret()
    station = build_station(app, readers=[], services=[])
    caplog.set_level(logging.INFO)
    assert station.handle(Swipe("door", "0099887766")) == "denied"
    assert "******7766" in caplog.text and "0099887766" not in caplog.text


def test_a_dead_worker_makes_run_exit_1(write_config, make_app, terminal, monkeypatch):
    reader = f"\n[reader:desk]\ntype = papercut\nhost = 127.0.0.1\nport = {terminal.port}\n"
    app = make_app(write_config(readers=reader))
    monkeypatch.setenv("WATCHDOG_USEC", "100000")  # supervise every 0.05 s
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert run(app, ready=lambda station: station.queue.put(STOP)) == 1


def test_settle_memory_freezes_start_up_and_still_collects_later_garbage():
    settle_memory()
    assert gc.get_freeze_count() > 0

    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle made after start-up
    gone = weakref.ref(a)
    del a, b
    gc.collect()
    assert gone() is None


def test_the_daemon_names_its_services_and_what_ails_them(write_config, make_app):
    app = make_app(write_config())
    services = build_services(app)
    assert [type(s) for s in services] == [HeldIndex, Housekeeping, JobWatcher]
    assert services[0] is app.held_index  # the one the swipe's HeldJobs asks

    class Away(BackgroundService):
        def step(self) -> None:
            raise PrintServerError("cupsd unreachable:\nno such file")

    away = Away("away", "away", 1.0)
    station = build_station(app, readers=[], services=[away, app.held_index])
    try:
        assert station.troubles() == ["held-job index: not built yet"]
        away.run_once()
        assert station.troubles() == [
            "away: cupsd unreachable: no such file",  # one line for systemd's STATUS
            "held-job index: not built yet",
        ]
    finally:
        app.held_index.stop()
