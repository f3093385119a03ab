# SPDX-License-Identifier: GPL-3.0-or-later
"""Readers under abuse, against a real TCP terminal peer (bench/servers/terminal.py):
1-byte segments, drops in a row, a garbage flood, terminal escape sequences, and the
station's debounce with the same card swiped again and again.

Counts are small in CI; RELEASESTATION_FAULTS=full runs the issue's (200 drops, 10,000
garbage lines).
"""

from __future__ import annotations

import logging
import os
import queue
import random
import socket
import threading
import time

import pytest

from readers import CleanFormatter, build_reader, clean, mask, reader_settings
from releasestation.cli.logs import setup_logging
from releasestation.daemon import build_station
from tests.faults.conftest import scaled
from tests.fixtures.station import add_user

CARD = "0012345678"
RAW_CONTROLS = ("\x00", "\x1b", "\x9b", "\x07", "\x7f", "\r", "\u2028")


def make_reader(terminal, out: queue.Queue, **extra: str):
    values = {"type": "papercut", "host": "127.0.0.1", "port": str(terminal.port),
              "min_backoff_seconds": "0.01", "max_backoff_seconds": "0.05", **extra}  # fmt: skip
    reader = build_reader("t", reader_settings("reader:t", values), out.put)
    reader.start()
    terminal.wait_connections(1)
    return reader


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def settled(measure, seconds: float = 2.0):
    """`measure()` once it has stopped changing (closed sockets go a moment later)."""
    last, deadline = measure(), time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = measure()
        if now == last:
            return now
        last = now
    return last


def test_a_card_sent_one_byte_per_segment_is_one_swipe(terminal):
    """Proves framing is independent of TCP segmentation: one byte per segment (Nagle off,
    a pause between bytes) makes exactly one swipe with the whole number."""
    out: queue.Queue = queue.Queue()
    reader = make_reader(terminal, out)
    try:
        assert terminal.conn is not None
        terminal.conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for byte in (CARD + "\r\n").encode():
            terminal.conn.send(bytes([byte]))
            time.sleep(0.002)
        assert out.get(timeout=2).value == CARD
        time.sleep(0.1)
        assert out.empty() and reader.health.dropped == 0
    finally:
        reader.stop()


def test_drops_in_a_row_leave_fds_and_threads_steady(terminal):
    """Proves a terminal that hangs up again and again (200 times at full scale) is
    reconnected each time, and that no socket or thread is left behind: the process's
    open fds and threads are the same after as after the first reconnect."""
    drops = scaled(40, 200)
    out: queue.Queue = queue.Queue()
    reader = make_reader(terminal, out)
    try:
        terminal.drop()
        terminal.wait_connections(2)
        terminal.swipe(CARD)
        assert out.get(timeout=2).value == CARD
        fds, threads = open_fds(), threading.active_count()
        for n in range(3, drops + 3):
            terminal.drop()
            terminal.wait_connections(n)
        terminal.swipe(CARD)
        assert out.get(timeout=2).value == CARD
        assert settled(lambda: (open_fds(), threading.active_count())) == (fds, threads)
        assert reader.health.failures >= drops
    finally:
        reader.stop()


def test_a_garbage_flood_releases_nothing_and_grows_nothing(terminal, caplog):
    """Proves a flood of garbage lines (10,000 at full scale: binary, over-long, card-ish
    with letters) emits no swipe, is counted line by line, does not stop the reader, and
    that the card after it still arrives."""
    caplog.set_level(logging.ERROR, logger="readers")  # one warning per line otherwise
    lines = scaled(1000, 10_000)
    rng = random.Random(20)
    junk = bytearray()
    for n in range(lines):
        if n % 100 == 0:
            junk += b"9" * 5000 + b"\n"  # longer than a line may be
        else:
            junk += bytes(rng.choice(b"\x00\x1b\xff*()=abc[];") for _ in range(12)) + b"\n"
    out: queue.Queue = queue.Queue()
    reader = make_reader(terminal, out)
    try:
        terminal.swipe(CARD)
        assert out.get(timeout=2).value == CARD
        fds = open_fds()
        terminal.swipe(bytes(junk) + CARD.encode() + b"\n")
        assert out.get(timeout=10).value == CARD
        assert out.empty()
        assert reader.health.dropped >= lines * 0.99  # a few random lines may merge
        assert reader.health.state == "ok" and settled(open_fds) == fds
    finally:
        reader.stop()


CONTROL_LINES = [
    (b"12345678\x00\x1b[2J\n", "\\x1b[2J"),
    (b"00123456\x1b]0;X\x07\n", ";X\\x07"),
    (b"12345678\x1b[31m\x7f\r\n", "1m\\x7f"),
    (b"card\xc2\x9b2J\n", None),
    (b"\x1bc\n", None),
]


@pytest.mark.parametrize(("line", "shown"), CONTROL_LINES)
def test_control_characters_from_a_terminal_never_reach_the_log_raw(terminal, caplog, line, shown):
    """Proves the issue's log-injection case: a dropped line's last characters (NUL, ESC,
    CSI, BEL, DEL; four suffice for a sequence) are logged escaped, never raw (a C1 CSI
    in UTF-8 is not ASCII and shows as U+FFFD)."""
    caplog.set_level(logging.DEBUG, logger="readers")
    out: queue.Queue = queue.Queue()
    reader = make_reader(terminal, out)
    try:
        terminal.swipe(line + CARD.encode() + b"\n")
        assert out.get(timeout=2).value == CARD
        dropped = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
        assert len(dropped) == 1, caplog.text
        for raw in RAW_CONTROLS:
            assert raw not in caplog.text, (raw, caplog.text)
        if shown:
            assert shown in dropped[0]
    finally:
        reader.stop()


def test_the_station_s_log_lines_are_escaped_whatever_logs_them(capfd):
    """Proves the backstop: the command-line tools' and the daemon's log handler escapes a
    control character even where a logging site forgot to (a user name with ESC from the
    directory, a job title)."""
    setup_logging(0)
    logging.getLogger("releasestation.test").warning(
        "job of %s: %s", "mallory\x1b[2J", "title\x00\u2028next"
    )
    err = capfd.readouterr().err
    assert "mallory\\x1b[2J" in err and "title\\x00\\u2028next" in err
    assert not any(raw in err for raw in RAW_CONTROLS)
    assert clean("plain CORP\\alice") == "plain CORP\\alice"
    assert mask("12345678\x1b[2J") == "*" * 8 + "\\x1b[2J"
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "a\x1bb", None, None)
    assert CleanFormatter("%(message)s").format(record) == "a\\x1bb"


def test_the_same_card_ten_times_in_two_seconds_releases_once(make_app, cups_clean, terminal):
    """Proves the debounce with a real reader and cupsd: ten reads of one card within two
    seconds are one release (each job printed once); a different card right after is not
    debounced, and neither is the first card from another reader."""
    app = make_app(station="debounce_seconds = 3\n")
    add_user(app, "ann", card="0011110001")
    add_user(app, "ben", card="0022220002")
    jobs = [cups_clean.submit("ann", f"ann {n}") for n in range(2)]
    ben_job = cups_clean.submit("ben", "ben")
    values = {"type": "papercut", "host": "127.0.0.1", "port": str(terminal.port)}
    station = build_station(app, readers=[], services=[])
    outcomes: queue.Queue = queue.Queue()
    station.listeners.append(lambda swipe, outcome: outcomes.put(outcome))
    station.readers.append(
        build_reader("desk", reader_settings("reader:desk", values), station.queue.put)
    )
    station.start()
    try:
        terminal.wait_connections(1)
        started = time.monotonic()
        for _ in range(10):
            terminal.swipe("0011110001")
            time.sleep(0.15)
        assert time.monotonic() - started < 2.0
        got = [outcomes.get(timeout=10) for _ in range(10)]
        assert got == ["released"] + ["debounced"] * 9
        terminal.swipe("0022220002")
        assert outcomes.get(timeout=10) == "released"
        printed = sorted(p.job_id for p in cups_clean.wait_printed(3))
        assert printed == sorted([*jobs, ben_job])
        time.sleep(0.5)
        assert len(cups_clean.printed()) == 3, "a job printed twice"
    finally:
        station.stop()
